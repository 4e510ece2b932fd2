"""Numbered schema migrations of SQLite files, each in one transaction.

``PRAGMA user_version`` holds the schema version of a file. Opening a
writable file older than ``ddl.SCHEMA_VERSION`` runs every migration past its
version in order, each in its own ``BEGIN IMMEDIATE`` transaction that also
sets the new version, so a crash or a second process never leaves a file
half-upgraded: either a migration happened whole, or not at all, and a second
process that waited for the lock finds the work done and skips it.

A new file is created at the newest schema from ``models.py`` directly; a
test checks that an upgraded file ends with the same tables and indexes.

Migrations never rewrite what was stored: ids, numbers, snapshot text,
changelogs, authors, times and audit events are carried over as they are.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager

from kaizen_tui.core.errors import DamagedSnapshot, InvalidValue
from kaizen_tui.core.names import name_key
from kaizen_tui.core.schema import DEFAULTS, content_hash, parse_snapshot
from kaizen_tui.store.ddl import LABEL_EVENT_COLUMN_DEFINITIONS, LABEL_EVENT_INDEX, LABEL_TABLES

Connect = Callable[[], AbstractContextManager[sqlite3.Connection]]

#: Triggers of the newest schema: also made by the migration that brought them.
TRIGGERS = (
    # The audit log is append-only, in the database itself.
    """CREATE TRIGGER IF NOT EXISTS audit_event_append_only_update
       BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_append_only_delete
       BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    # Snapshot text changed by another tool without its hash: the hash no
    # longer says what the text holds, so it is dropped and the text is read.
    # So is the ledger of labels.
    """CREATE TRIGGER IF NOT EXISTS label_event_append_only_update
       BEFORE UPDATE ON label_event
       BEGIN SELECT RAISE(ABORT, 'the label ledger is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS label_event_append_only_delete
       BEFORE DELETE ON label_event
       BEGIN SELECT RAISE(ABORT, 'the label ledger is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS agent_version_snapshot_rehash
       AFTER UPDATE OF config_snapshot ON agent_version
       WHEN NEW.content_hash IS OLD.content_hash AND NEW.config_snapshot IS NOT OLD.config_snapshot
       BEGIN UPDATE agent_version SET content_hash = NULL WHERE id = NEW.id; END""",
)


def _to_2(connection: sqlite3.Connection) -> None:
    """Revisions, unique names and content hashes.

    * ``agent.revision`` (1 for every agent), the compare-and-swap token.
    * ``agent.name_key``, unique: names are unique ignoring case. Where a file
      already holds names that clash, the oldest agent keeps the key and the
      others get none; they still open, and the service says which clash.
    * ``agent.content_hash`` and ``agent_version.content_hash``: "saved" is a
      version with the live config's hash. A damaged snapshot gets none.
    """
    statements = (
        "ALTER TABLE agent ADD COLUMN revision INTEGER NOT NULL DEFAULT 1",
        "ALTER TABLE agent ADD COLUMN name_key VARCHAR",
        "ALTER TABLE agent ADD COLUMN content_hash VARCHAR NOT NULL DEFAULT ''",
        "ALTER TABLE agent_version ADD COLUMN content_hash VARCHAR",
        "DROP INDEX IF EXISTS ix_agent_name",
    )
    for statement in statements:
        connection.execute(statement)
    columns = ", ".join(_SCHEMA_1_CONFIG_COLUMNS)
    taken: set[str] = set()
    agents = connection.execute(f"SELECT id, {columns} FROM agent ORDER BY created_at, id").fetchall()
    for agent_id, *values in agents:
        config = dict(zip(_SCHEMA_1_CONFIG_COLUMNS, values))
        key = name_key(config["name"])
        unique_key = None if key in taken else key
        taken.add(key)
        connection.execute(
            "UPDATE agent SET name_key = ?, content_hash = ? WHERE id = ?",
            (unique_key, _live_hash(config), agent_id),
        )
    versions = connection.execute("SELECT id, config_snapshot FROM agent_version").fetchall()
    for version_id, snapshot in versions:
        connection.execute(
            "UPDATE agent_version SET content_hash = ? WHERE id = ?", (_snapshot_hash(snapshot), version_id)
        )
    connection.execute("CREATE UNIQUE INDEX ux_agent_name_key ON agent (name_key)")
    connection.execute("CREATE INDEX ix_agent_version_content ON agent_version (content_hash)")
    connection.execute("CREATE INDEX ix_agent_version_unhashed ON agent_version (agent_id) WHERE content_hash IS NULL")
    for trigger in TRIGGERS:
        if "label_event" not in trigger:  # the ledger comes with schema 4
            connection.execute(trigger)


#: The config columns of schema 1, as they were: a migration reads the schema it upgrades, not today's fields.
_SCHEMA_1_CONFIG_COLUMNS = (
    "name", "description", "agent_type", "system_prompt", "model_id", "temperature", "max_tokens", "extra",
)  # fmt: skip


def _live_hash(config: dict[str, object]) -> str:
    try:
        config["extra"] = json.loads(config["extra"]) if isinstance(config["extra"], str) else config["extra"]
        # A field added after schema 1 is hashed with its default, as a snapshot without it is read.
        return content_hash({**DEFAULTS, **config})
    except (ValueError, TypeError, KeyError):
        return ""  # unreadable ``extra``: no version can hold it


def _snapshot_hash(snapshot: object) -> str | None:
    try:
        return content_hash(parse_snapshot(snapshot))  # type: ignore[arg-type]
    except (DamagedSnapshot, InvalidValue):
        return None


def _to_3(connection: sqlite3.Connection) -> None:
    """Tokens of the HTTP API (``kaizen-tui token``): a name, a role and the hash of the secret."""
    connection.execute(
        "CREATE TABLE api_token (name VARCHAR NOT NULL, role VARCHAR NOT NULL, secret_hash VARCHAR NOT NULL, "
        "created_by VARCHAR NOT NULL, created_at VARCHAR NOT NULL, PRIMARY KEY (name))"
    )
    connection.execute("CREATE UNIQUE INDEX ix_api_token_secret_hash ON api_token (secret_hash)")


def _to_4(connection: sqlite3.Connection) -> None:
    """Labels: which version ``production`` names, the append-only ledger of their moves, protected names."""
    for statement in (
        *LABEL_TABLES,
        f"CREATE TABLE label_event (id INTEGER NOT NULL, {LABEL_EVENT_COLUMN_DEFINITIONS})",
        LABEL_EVENT_INDEX,
        *(trigger for trigger in TRIGGERS if "label_event" in trigger),
    ):
        connection.execute(statement)


#: Migration N takes a file from schema N-1 to N; the last reaches ``ddl.SCHEMA_VERSION``.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _to_2, 3: _to_3, 4: _to_4}


def migrate(connect: Connect) -> list[int]:
    """Run every migration the file still needs, each in one write transaction; return those run."""
    done = []
    for target in sorted(MIGRATIONS):
        with connect() as connection:
            # Read under the write lock: another process may have done it meanwhile.
            current = connection.execute("PRAGMA user_version").fetchone()[0] or 0
            if current >= target:
                continue
            if current != target - 1:
                raise sqlite3.DatabaseError(f"schema version {current} cannot be upgraded to {target}")
            MIGRATIONS[target](connection)
            connection.execute(f"PRAGMA user_version = {target}")
        done.append(target)
    return done
