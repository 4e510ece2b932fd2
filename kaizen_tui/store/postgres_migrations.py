"""The schema of a PostgreSQL database: created whole, then changed by numbered migrations.

``kaizen_meta`` marks a database (or a schema, through ``search_path``) as
ours: its ``application_id`` row is "KZNT", as in our SQLite files, and its
``schema_version`` row uses the same numbers as SQLite's ``user_version``
(``ddl.SCHEMA_VERSION``). A new database gets the newest schema
from ``models.py`` (compiled for PostgreSQL) plus the triggers below.

Creating the schema and every migration run in one transaction each, under
an advisory lock, with the version read again under the lock: PostgreSQL's
DDL is transactional, so a crash leaves the old schema whole and a second
process that waited finds the work done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from kaizen_tui.store.ddl import (
    APPLICATION_ID,
    LABEL_EVENT_COLUMN_DEFINITIONS,
    LABEL_EVENT_INDEX,
    LABEL_TABLES,
    SCHEMA_VERSION,
    schema_statements,
)
from kaizen_tui.store.dialect import POSTGRESQL

#: The advisory lock held while the schema is created or migrated.
SCHEMA_LOCK_KEY = APPLICATION_ID * 16 + 2
#: The channel every commit that changes our tables notifies.
CHANGE_CHANNEL = "kaizen_tui"

#: The tables a change of which is announced (the audit log always comes with one of them).
_WATCHED_TABLES = ("agent", "agent_version", "api_token", "agent_label", "protected_label")

_META = (
    "CREATE TABLE kaizen_meta (key VARCHAR PRIMARY KEY, value BIGINT NOT NULL)",
    f"INSERT INTO kaizen_meta (key, value) VALUES ('application_id', {APPLICATION_ID}), "
    f"('schema_version', {SCHEMA_VERSION}), ('changes', 0)",
)

#: Functions and triggers of the newest schema (as on SQLite, plus the change counter).
TRIGGERS = (
    # The audit log is append-only, in the database itself: no UPDATE, DELETE or TRUNCATE.
    """CREATE FUNCTION kaizen_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION kaizen_audit_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
       FOR EACH STATEMENT EXECUTE FUNCTION kaizen_audit_append_only()""",
    # So is the ledger of labels.
    """CREATE FUNCTION kaizen_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the label ledger is append-only'; END $$""",
    """CREATE TRIGGER label_event_append_only BEFORE UPDATE OR DELETE ON label_event
       FOR EACH ROW EXECUTE FUNCTION kaizen_ledger_append_only()""",
    """CREATE TRIGGER label_event_no_truncate BEFORE TRUNCATE ON label_event
       FOR EACH STATEMENT EXECUTE FUNCTION kaizen_ledger_append_only()""",
    # Snapshot text changed by another tool without its hash: the hash no
    # longer says what the text holds, so it is dropped and the text is read.
    """CREATE FUNCTION kaizen_snapshot_rehash() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF NEW.content_hash IS NOT DISTINCT FROM OLD.content_hash
            AND NEW.config_snapshot IS DISTINCT FROM OLD.config_snapshot THEN
           NEW.content_hash := NULL;
         END IF;
         RETURN NEW;
       END $$""",
    """CREATE TRIGGER agent_version_snapshot_rehash BEFORE UPDATE OF config_snapshot ON agent_version
       FOR EACH ROW EXECUTE FUNCTION kaizen_snapshot_rehash()""",
    # Every change, by us or another tool, counts and is announced (once per
    # transaction: PostgreSQL folds equal notifications of one transaction).
    f"""CREATE FUNCTION kaizen_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         UPDATE kaizen_meta SET value = value + 1 WHERE key = 'changes';
         PERFORM pg_notify('{CHANGE_CHANNEL}', '');
         RETURN NULL;
       END $$""",
    *(
        f"""CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION kaizen_note_change()"""
        for table in _WATCHED_TABLES
    ),
)


def _to_4(connection: psycopg.Connection[Any]) -> None:
    """Labels: the tables (as on SQLite), the ledger's append-only triggers, changes announced."""
    label_triggers = [
        trigger
        for trigger in TRIGGERS
        if "ledger" in trigger
        or "label_event" in trigger
        or "agent_label_changed" in trigger
        or "protected_label_changed" in trigger
    ]
    for statement in (
        *LABEL_TABLES,
        f"CREATE TABLE label_event (id SERIAL NOT NULL, {LABEL_EVENT_COLUMN_DEFINITIONS})",
        LABEL_EVENT_INDEX,
        *label_triggers,
    ):
        connection.execute(statement)


#: Migration N takes a database from schema N-1 to N. PostgreSQL databases
#: start at the schema of the release that brought PostgreSQL (3), so the
#: first migration is 4 (labels).
MIGRATIONS: dict[int, Callable[[psycopg.Connection[Any]], None]] = {4: _to_4}


@dataclass(frozen=True)
class SchemaState:
    """What a database holds: its tables, and our marks if it has them."""

    tables: list[str]
    application_id: int | None
    schema_version: int


def schema_state(connection: psycopg.Connection[Any]) -> SchemaState:
    """Read the tables of the current schema and, if it is ours, its marks."""
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name"
        ).fetchall()
    ]
    if "kaizen_meta" not in tables:
        return SchemaState(tables, None, 0)
    marks = dict(connection.execute("SELECT key, value FROM kaizen_meta").fetchall())
    return SchemaState(tables, marks.get("application_id"), int(marks.get("schema_version") or 0))


def create_schema(connection: psycopg.Connection[Any]) -> bool:
    """Write the newest schema into a database without one; False if another process did it first."""
    with connection.transaction():
        connection.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
        if schema_state(connection).application_id is not None:
            return False
        for statement in (*schema_statements(POSTGRESQL), *_META, *TRIGGERS):
            connection.execute(statement)
    return True


def migrate(connection: psycopg.Connection[Any]) -> list[int]:
    """Run every migration the database still needs, each in one transaction; return those run."""
    done = []
    for target in sorted(MIGRATIONS):
        with connection.transaction():
            connection.execute(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            current = schema_state(connection).schema_version
            if current >= target:
                continue
            if current != target - 1:
                raise psycopg.DataError(f"schema version {current} cannot be upgraded to {target}")
            MIGRATIONS[target](connection)
            connection.execute("UPDATE kaizen_meta SET value = %s WHERE key = 'schema_version'", (target,))
        done.append(target)
    return done
