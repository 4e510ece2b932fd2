"""What both backends' schemas share: our mark, the schema version, and the statements that create tables.

A new database gets the newest schema from ``models.py``, compiled for its
backend (:func:`schema_statements`); an older one reaches it through its
backend's numbered migrations (``sqlite_migrations.py``,
``postgres_migrations.py``), which share the statements of the tables they
both add (the labels of schema 4). Neither backend module imports the other:
what they have in common lives here.
"""

from __future__ import annotations

import importlib

from kaizen_tui.store.dialect import Dialect

#: "KZNT": written into every database we create, to recognise ours (SQLite's ``PRAGMA application_id``,
#: PostgreSQL's ``kaizen_meta``).
APPLICATION_ID = 0x4B5A4E54
#: The newest schema, on both backends: what this kaizen-tui creates and upgrades to. Each backend's last
#: migration reaches it (a test checks).
SCHEMA_VERSION = 4

#: The tables of labels (schema 4), as ``models.py`` declares them.
LABEL_TABLES = (
    "CREATE TABLE agent_label (agent_id VARCHAR NOT NULL, label VARCHAR NOT NULL, version_id VARCHAR NOT NULL, "
    "updated_by VARCHAR NOT NULL, updated_at VARCHAR NOT NULL, PRIMARY KEY (agent_id, label), "
    "FOREIGN KEY(agent_id) REFERENCES agent (id), FOREIGN KEY(version_id) REFERENCES agent_version (id))",
    "CREATE INDEX ix_agent_label_version_id ON agent_label (version_id)",
    "CREATE TABLE protected_label (label VARCHAR NOT NULL, protected_by VARCHAR NOT NULL, "
    "protected_at VARCHAR NOT NULL, PRIMARY KEY (label))",
)
#: The ledger's columns but its id, which is SQLite's INTEGER PRIMARY KEY and PostgreSQL's SERIAL.
LABEL_EVENT_COLUMN_DEFINITIONS = (
    "at VARCHAR NOT NULL, actor VARCHAR NOT NULL, agent_id VARCHAR NOT NULL, label VARCHAR NOT NULL, "
    "from_version_id VARCHAR, from_version_number INTEGER, to_version_id VARCHAR, to_version_number INTEGER, "
    "reason VARCHAR NOT NULL, PRIMARY KEY (id)"
)
LABEL_EVENT_INDEX = "CREATE INDEX ix_label_event_agent_label ON label_event (agent_id, label, id)"


def schema_statements(dialect: Dialect) -> list[str]:
    """The ``CREATE TABLE`` and ``CREATE INDEX`` statements of the SQLModel tables, in the dialect's SQL.

    SQLModel (and so SQLAlchemy) is imported here only, when a new database
    is made: the tables stay declared in one place without every start
    paying for the import.
    """
    from sqlalchemy.schema import CreateIndex, CreateTable
    from sqlmodel import SQLModel

    from kaizen_tui.store import models  # noqa: F401  (registers the tables)

    compiler = importlib.import_module(f"sqlalchemy.dialects.{dialect.name}").dialect()
    statements = []
    for table in SQLModel.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=compiler)))
        statements += [str(CreateIndex(index).compile(dialect=compiler)) for index in table.indexes]
    return statements
