"""The statements of agents, versions, tokens and the audit log, written once, and the transaction that runs them.

Every statement is constant, parameterised text built here for a
:class:`~kaizen_tui.store.dialect.Dialect` (:func:`store_sql`), and
:class:`SQLTransaction` runs them on a DB-API connection: it is every method
of ``base.Transaction`` for both backends (the labels' come from
``labels.py``). A backend's transaction (``SQLiteTransaction``,
``PostgresTransaction``) only names its dialect and the driver's unique
violation, and replaces what the driver does its own way: which unique
index refused a row, running one statement for many rows, and PostgreSQL's
``COPY`` for the bulk inserts of an import.

Rows come back as tuples in the order of the column tuples of ``base.py``
and leave as dicts; an agent's ``extra`` is stored as JSON text and read
back as a dict.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from kaizen_tui.core.errors import DatabaseError, NameTaken, TokenExists
from kaizen_tui.store.base import (
    AGENT_COLUMNS,
    AUDIT_COLUMNS,
    SETTABLE_AGENT_COLUMNS,
    TOKEN_COLUMNS,
    VERSION_COLUMNS,
    Row,
    chunks,
)
from kaizen_tui.store.dialect import Dialect
from kaizen_tui.store.labels import LabelStatements, label_sql

#: A version as the stores read and write it: the spec's columns (and ``agent_id``), then the content hash.
VERSION_FIELDS = (*VERSION_COLUMNS, "content_hash")
#: An audit event as it is written: the database numbers it.
AUDIT_FIELDS = AUDIT_COLUMNS[1:]
#: An agent as it is inserted: its columns, the key of its name and its version counter.
INSERTED_AGENT_COLUMNS = (*AGENT_COLUMNS, "name_key", "last_version_number")
#: What :meth:`SQLTransaction.described_agents` adds to an agent's columns.
DESCRIBED_KEYS = ("version_count", "latest_version", "saved", "unhashed_versions")


@dataclass(frozen=True)
class StoreSQL:
    """The statements, in one backend's SQL."""

    # -- agents
    agent: str
    agent_exists: str
    agents_by_name_key: str
    agents_by_name: str
    agents_without_name_key: str
    #: Agents and their version summary; a ``WHERE`` or :attr:`agent_order` follows.
    described_agents: str
    #: The order of the agents list; ``service.agent_sort_key`` is the same in Python.
    agent_order: str
    insert_agent: str
    delete_agent_versions: str
    delete_agent: str
    version_summary: str
    # -- versions
    #: Every column of :data:`VERSION_FIELDS`; a ``WHERE`` follows.
    version_select: str
    version: str
    version_numbered: str
    version_page: str
    #: The same page without the snapshot texts (~2 KB each) but where the hash is missing.
    version_page_hashed: str
    versions_before: str
    versions_with_hash: str
    versions_without_hash: str
    keep_threshold: str
    doomed_range: str
    delete_doomed: str
    delete_version: str
    next_number: str
    insert_version: str
    insert_new_versions: str
    raise_version_counter: str
    # -- audit
    insert_audit: str
    audit_log: str
    audit_log_of_agent: str
    newest_audit_id: str
    agents_changed_between: str
    # -- export and import
    #: The agents' columns and their version counters; a ``WHERE`` may follow.
    agents_to_export: str
    versions_after: str
    audit_events_after: str
    unowned_audit_events_after: str
    # -- API tokens
    insert_token: str
    token_by_hash: str
    tokens: str
    delete_token: str


def store_sql(dialect: Dialect) -> StoreSQL:
    """The statements in the dialect's SQL."""
    mark, param, hint = dialect.mark, dialect.param, dialect.indexed_by
    agent, no_hash = param("agent"), "content_hash IS NULL"
    agent_select = f"SELECT {', '.join(AGENT_COLUMNS)} FROM agent"
    version_select = f"SELECT {', '.join(VERSION_FIELDS)} FROM agent_version"
    hashed_columns = ", ".join(VERSION_FIELDS).replace(
        "config_snapshot", f"CASE WHEN {no_hash} THEN config_snapshot END"
    )
    audit_select = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_event"
    newest_first = "ORDER BY version_number DESC"
    # What a prune deletes: older than the oldest kept, and no newer than what a person was shown.
    # A version a label names is never among them.
    doomed = (
        f"agent_id = {agent} AND version_number < {param('below')} AND version_number <= {param('at_most')} "
        f"AND id NOT IN (SELECT version_id FROM agent_label WHERE agent_id = {agent})"
    )
    return StoreSQL(
        agent=f"{agent_select} WHERE id = {mark}",
        agent_exists=f"SELECT 1 FROM agent WHERE id = {mark}",
        agents_by_name_key=f"{agent_select} WHERE name_key = {mark}",
        agents_by_name=f"{agent_select} WHERE name = {mark}",
        agents_without_name_key=f"{agent_select} WHERE name_key IS NULL",
        described_agents=(
            f"SELECT {', '.join(AGENT_COLUMNS)}, "
            "(SELECT count(*) FROM agent_version v WHERE v.agent_id = agent.id), "
            "(SELECT max(version_number) FROM agent_version v WHERE v.agent_id = agent.id), "
            f"EXISTS (SELECT 1 FROM agent_version v{hint('ix_agent_version_content')} "
            "WHERE v.content_hash = agent.content_hash AND v.agent_id = agent.id), "
            f"(SELECT count(*) FROM agent_version v{hint('ix_agent_version_unhashed')} "
            f"WHERE v.agent_id = agent.id AND v.{no_hash}) "
            "FROM agent"
        ),
        agent_order=f" ORDER BY {dialect.lower('name')}{dialect.collate}, id{dialect.collate}",
        insert_agent=(
            f"INSERT INTO agent ({', '.join(INSERTED_AGENT_COLUMNS)}) "
            f"VALUES ({dialect.marks(len(INSERTED_AGENT_COLUMNS))})"
        ),
        delete_agent_versions=f"DELETE FROM agent_version WHERE agent_id = {mark}",
        delete_agent=f"DELETE FROM agent WHERE id = {mark}",
        version_summary=(
            f"SELECT (SELECT count(*) FROM agent_version WHERE agent_id = {agent}), "
            f"(SELECT max(version_number) FROM agent_version WHERE agent_id = {agent}), "
            f"EXISTS (SELECT 1 FROM agent_version{hint('ix_agent_version_content')} "
            f"WHERE content_hash = {param('hash')} AND agent_id = {agent}), "
            f"(SELECT count(*) FROM agent_version{hint('ix_agent_version_unhashed')} "
            f"WHERE agent_id = {agent} AND {no_hash})"
        ),
        version_select=version_select,
        version=f"{version_select} WHERE id = {mark}",
        version_numbered=f"{version_select} WHERE agent_id = {mark} AND version_number = {mark}",
        version_page=f"{version_select} WHERE agent_id = {mark} {newest_first} LIMIT {mark} OFFSET {mark}",
        version_page_hashed=(
            f"SELECT {hashed_columns} FROM agent_version WHERE agent_id = {mark} "
            f"{newest_first} LIMIT {mark} OFFSET {mark}"
        ),
        versions_before=(
            f"{version_select} WHERE agent_id = {mark} AND version_number < {mark} {newest_first} LIMIT {mark}"
        ),
        # The hash decides which index: an agent's versions by number would read every one of them.
        versions_with_hash=(
            f"{version_select}{hint('ix_agent_version_content')} "
            f"WHERE agent_id = {mark} AND content_hash = {mark} {newest_first}"
        ),
        versions_without_hash=(
            f"{version_select}{hint('ix_agent_version_unhashed')} WHERE agent_id = {mark} AND {no_hash} {newest_first}"
        ),
        keep_threshold=(
            f"SELECT version_number FROM agent_version WHERE agent_id = {mark} {newest_first} LIMIT 1 OFFSET {mark}"
        ),
        doomed_range=f"SELECT count(*), min(version_number), max(version_number) FROM agent_version WHERE {doomed}",
        delete_doomed=f"DELETE FROM agent_version WHERE {doomed}",
        delete_version=f"DELETE FROM agent_version WHERE id = {mark}",
        # The next number: past the agent's counter and past any number a row
        # written by another tool already has, in one statement under the write lock.
        next_number=(
            f"UPDATE agent SET last_version_number = {dialect.greatest}(last_version_number, "
            f"coalesce((SELECT max(version_number) FROM agent_version WHERE agent_id = {agent}), 0)) + 1 "
            f"WHERE id = {agent} RETURNING last_version_number"
        ),
        insert_version=(
            f"INSERT INTO agent_version ({', '.join(VERSION_FIELDS)}) VALUES ({dialect.marks(len(VERSION_FIELDS))})"
        ),
        # An id already there is skipped (the caller counts what went in): only a version of another agent can have it.
        insert_new_versions=(
            f"INSERT INTO agent_version ({', '.join(VERSION_FIELDS)}) VALUES ({dialect.marks(len(VERSION_FIELDS))}) "
            "ON CONFLICT (id) DO NOTHING"
        ),
        raise_version_counter=(
            f"UPDATE agent SET last_version_number = {param('number')} "
            f"WHERE id = {agent} AND last_version_number < {param('number')}"
        ),
        insert_audit=f"INSERT INTO audit_event ({', '.join(AUDIT_FIELDS)}) VALUES ({dialect.marks(len(AUDIT_FIELDS))})",
        audit_log=f"{audit_select} WHERE id < {mark} ORDER BY id DESC LIMIT {mark}",
        audit_log_of_agent=f"{audit_select} WHERE agent_id = {mark} AND id < {mark} ORDER BY id DESC LIMIT {mark}",
        newest_audit_id="SELECT max(id) FROM audit_event",
        agents_changed_between=f"SELECT DISTINCT agent_id FROM audit_event WHERE id > {mark} AND id <= {mark} LIMIT {mark}",
        agents_to_export=f"SELECT {', '.join((*AGENT_COLUMNS, 'last_version_number'))} FROM agent",
        versions_after=(
            f"{version_select} WHERE agent_id = {mark} AND version_number > {mark} ORDER BY version_number LIMIT {mark}"
        ),
        audit_events_after=f"{audit_select} WHERE agent_id = {mark} AND id > {mark} ORDER BY id LIMIT {mark}",
        # Events of no agent, or of an agent deleted since (a whole-database export carries them too).
        unowned_audit_events_after=(
            f"{audit_select} e WHERE id > {mark} "
            "AND (agent_id IS NULL OR NOT EXISTS (SELECT 1 FROM agent a WHERE a.id = e.agent_id)) "
            f"ORDER BY id LIMIT {mark}"
        ),
        insert_token=f"INSERT INTO api_token ({', '.join(TOKEN_COLUMNS)}) VALUES ({dialect.marks(len(TOKEN_COLUMNS))})",
        token_by_hash=f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_token WHERE secret_hash = {mark}",
        tokens=f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_token ORDER BY name{dialect.collate}",
        delete_token=f"DELETE FROM api_token WHERE name = {mark}",
    )


# -- rows ------------------------------------------------------------------------


def decode_extra(agent_id: str, stored: Any) -> dict[str, Any]:
    """The stored ``extra`` of an agent as a dict (kept as JSON text)."""
    try:
        extra = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
    except ValueError:
        extra = None
    if extra is None and stored in (None, "null"):
        return {}
    if not isinstance(extra, dict):
        raise DatabaseError(
            f"The stored 'extra' field of agent {agent_id} is not a JSON object; "
            "another tool may have written it. Nothing was changed."
        )
    return extra


def encode_extra(extra: Mapping[str, Any]) -> str:
    return json.dumps(extra, ensure_ascii=False, sort_keys=True)


def storable(value: object) -> bool:
    """Can this be sent to either database as a key at all (text, valid Unicode, no NUL)?

    A key that cannot be stored names nothing stored: a lookup by it finds
    nothing without asking the database (which would refuse it).
    """
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_AGENT_WIDTH = len(AGENT_COLUMNS)
_EXTRA_AT = AGENT_COLUMNS.index("extra")
#: A version's (an audit event's) values in the order of the INSERT's columns.
_version_values = operator.itemgetter(*VERSION_FIELDS)
_audit_values = operator.itemgetter(*AUDIT_FIELDS)


def _agent_row(row: Sequence[Any]) -> Row:
    agent = dict(zip(AGENT_COLUMNS, row))
    agent["extra"] = decode_extra(agent["id"], agent["extra"])
    return agent


def _agent_values(agent: Mapping[str, Any], last_version_number: int) -> tuple[Any, ...]:
    values = [agent[key] for key in AGENT_COLUMNS]
    values[_EXTRA_AT] = encode_extra(agent["extra"])
    return (*values, agent["name_key"], last_version_number)


def _version_row(row: Sequence[Any]) -> Row:
    return dict(zip(VERSION_FIELDS, row))


def _audit_row(row: Sequence[Any]) -> Row:
    return dict(zip(AUDIT_COLUMNS, row))


# -- the transaction -------------------------------------------------------------


class SQLTransaction(LabelStatements):
    """The statements of one transaction on a DB-API ``connection`` (see ``base.Transaction``), either backend.

    A backend's subclass sets :attr:`DIALECT` (:attr:`SQL` and
    :attr:`LABEL_SQL` follow from it) and :attr:`UNIQUE_VIOLATION`, and
    replaces the hooks where its driver differs: :meth:`_name_index_refused`,
    :meth:`_execute_many`, :meth:`_planned_each_time`, and the bulk inserts.
    """

    __slots__ = ("connection",)
    DIALECT: ClassVar[Dialect]
    SQL: ClassVar[StoreSQL]
    #: The driver's error for a row a unique index refused.
    UNIQUE_VIOLATION: ClassVar[type[Exception]]

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A backend's subclass names its :attr:`DIALECT`; its statements are written for it here, once."""
        super().__init_subclass__(**kwargs)
        if "DIALECT" in cls.__dict__:
            cls.SQL = store_sql(cls.DIALECT)
            cls.LABEL_SQL = label_sql(cls.DIALECT)

    # -- what a backend's driver does its own way

    def _name_index_refused(self, error: Exception) -> bool:
        """Was :attr:`UNIQUE_VIOLATION` ``error`` the unique index of names (not another one)?"""
        raise NotImplementedError

    def _execute_many(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``query`` once per row, in one call to the driver; how many rows it changed."""
        return int(self.connection.executemany(query, rows).rowcount)

    def _planned_each_time(self, query: str, parameters: Sequence[Any]) -> list[Any]:
        """The rows of a query whose best plan depends on its values (PostgreSQL plans it each time)."""
        return list(self.connection.execute(query, parameters).fetchall())

    def _rows_where_one_of(
        self, query: str, column: str, values: Iterable[Any], leading: Sequence[Any] = ()
    ) -> list[Any]:
        """The rows of ``query`` (which ends in ``WHERE`` or ``AND``) whose ``column`` is one of ``values``.

        Each value is asked for once: a value listed twice, in two statements, would give its row twice.
        """
        dialect, rows = self.DIALECT, []
        for chunk in chunks(dict.fromkeys(values), dialect.list_size):
            text = f"{query} {dialect.one_of(column, len(chunk))}"
            rows += self.connection.execute(text, (*leading, *dialect.list_parameters(chunk))).fetchall()
        return rows

    def _name_taken(self, error: Exception, name: str) -> Exception:
        """A write refused by the unique index on names (a race the service's own check did not see)."""
        if self._name_index_refused(error):
            return NameTaken(name, name, "another agent")
        return error

    # -- agents

    def agent(self, agent_id: str) -> Row | None:
        if not storable(agent_id):
            return None
        row = self.connection.execute(self.SQL.agent, (agent_id,)).fetchone()
        return _agent_row(row) if row else None

    def agent_exists(self, agent_id: str) -> bool:
        return storable(agent_id) and self.connection.execute(self.SQL.agent_exists, (agent_id,)).fetchone() is not None

    def agents_by_name_key(self, key: str) -> list[Row]:
        if not storable(key):
            return []
        return [_agent_row(row) for row in self.connection.execute(self.SQL.agents_by_name_key, (key,)).fetchall()]

    def agents_by_exact_name(self, name: str) -> list[Row]:
        if not storable(name):
            return []
        return [_agent_row(row) for row in self.connection.execute(self.SQL.agents_by_name, (name,)).fetchall()]

    def agents_without_name_key(self) -> list[Row]:
        return [_agent_row(row) for row in self.connection.execute(self.SQL.agents_without_name_key).fetchall()]

    def described_agents(self, ids: Sequence[str] | None = None) -> list[Row]:
        if ids is None:
            rows = self.connection.execute(self.SQL.described_agents + self.SQL.agent_order).fetchall()
        else:
            wanted = sorted({agent_id for agent_id in ids if storable(agent_id)})
            rows = self._rows_where_one_of(f"{self.SQL.described_agents} WHERE", "id", wanted)
        agents = []
        for row in rows:
            agent = _agent_row(row[:_AGENT_WIDTH])
            agent.update(zip(DESCRIBED_KEYS, row[_AGENT_WIDTH:]))
            agent["saved"] = bool(agent["saved"])
            agents.append(agent)
        return agents

    def insert_agent(self, agent: Mapping[str, Any]) -> None:
        try:
            self.connection.execute(self.SQL.insert_agent, _agent_values(agent, 0))
        except self.UNIQUE_VIOLATION as error:
            raise self._name_taken(error, str(agent["name"])) from None

    def update_agent(self, agent_id: str, values: Mapping[str, Any]) -> None:
        if not SETTABLE_AGENT_COLUMNS.issuperset(values):
            raise ValueError(f"not agent columns: {sorted(set(values) - SETTABLE_AGENT_COLUMNS)}")
        stored = [encode_extra(value) if key == "extra" else value for key, value in values.items()]
        mark = self.DIALECT.mark
        assignments = ", ".join(f"{key} = {mark}" for key in values)
        try:
            self.connection.execute(f"UPDATE agent SET {assignments} WHERE id = {mark}", (*stored, agent_id))
        except self.UNIQUE_VIOLATION as error:
            raise self._name_taken(error, str(values.get("name", ""))) from None

    def delete_agent(self, agent_id: str) -> int:
        deleted = int(self.connection.execute(self.SQL.delete_agent_versions, (agent_id,)).rowcount)
        self.connection.execute(self.SQL.delete_agent, (agent_id,))
        return deleted

    def version_summary(self, agent_id: str, live_hash: str) -> tuple[int, int | None, bool, int]:
        parameters = {"agent": agent_id, "hash": live_hash}
        count, newest, saved, unhashed = self.connection.execute(self.SQL.version_summary, parameters).fetchone()
        return count, newest, bool(saved), unhashed

    # -- versions

    def next_version_number(self, agent_id: str) -> int:
        (number,) = self.connection.execute(self.SQL.next_number, {"agent": agent_id}).fetchone()
        return int(number)

    def insert_version(self, version: Mapping[str, Any]) -> None:
        self.connection.execute(self.SQL.insert_version, _version_values(version))

    def version(self, version_id: str) -> Row | None:
        if not storable(version_id):
            return None
        row = self.connection.execute(self.SQL.version, (version_id,)).fetchone()
        return _version_row(row) if row else None

    def version_numbered(self, agent_id: str, number: int) -> Row | None:
        if not 0 <= number <= self.DIALECT.max_integer or not storable(agent_id):
            return None
        row = self.connection.execute(self.SQL.version_numbered, (agent_id, number)).fetchone()
        return _version_row(row) if row else None

    def version_page(self, agent_id: str, limit: int | None, offset: int, *, snapshots: bool = True) -> list[Row]:
        if not storable(agent_id):  # get_versions reads the page before it looks for the agent
            return []
        parameters = (agent_id, self.DIALECT.no_limit if limit is None else limit, offset)
        query = self.SQL.version_page if snapshots else self.SQL.version_page_hashed
        return [_version_row(row) for row in self.connection.execute(query, parameters).fetchall()]

    def versions_before(self, agent_id: str, number: int, limit: int | None = None) -> list[Row]:
        dialect = self.DIALECT
        parameters = (agent_id, min(number, dialect.above_any), dialect.no_limit if limit is None else limit)
        return [_version_row(row) for row in self.connection.execute(self.SQL.versions_before, parameters).fetchall()]

    def versions_with_hash(self, agent_id: str, content_hash: str | None) -> list[Row]:
        if content_hash is None:
            cursor = self.connection.execute(self.SQL.versions_without_hash, (agent_id,))
        else:
            cursor = self.connection.execute(self.SQL.versions_with_hash, (agent_id, content_hash))
        return [_version_row(row) for row in cursor.fetchall()]

    def keep_threshold(self, agent_id: str, keep: int) -> int | None:
        row = self.connection.execute(self.SQL.keep_threshold, (agent_id, keep - 1)).fetchone()
        return row[0] if row else None

    def delete_version(self, version_id: str) -> None:
        self.connection.execute(self.SQL.delete_version, (version_id,))

    def delete_versions(self, agent_id: str, below: int, at_most: int) -> tuple[int, int | None, int | None]:
        dialect = self.DIALECT
        bounds = {
            "agent": agent_id,
            "below": min(below, dialect.above_any),
            "at_most": min(at_most, dialect.max_integer),
        }
        count, oldest, newest = self.connection.execute(self.SQL.doomed_range, bounds).fetchone()
        if count:
            self.connection.execute(self.SQL.delete_doomed, bounds)
        return count, oldest, newest

    # -- API tokens

    def insert_token(self, token: Mapping[str, Any]) -> None:
        try:
            self.connection.execute(self.SQL.insert_token, tuple(token[key] for key in TOKEN_COLUMNS))
        except self.UNIQUE_VIOLATION:
            raise TokenExists(str(token["name"])) from None

    def token_by_hash(self, secret_hash: str) -> Row | None:
        if not storable(secret_hash):
            return None
        row = self.connection.execute(self.SQL.token_by_hash, (secret_hash,)).fetchone()
        return dict(zip(TOKEN_COLUMNS, row)) if row else None

    def tokens(self) -> list[Row]:
        return [dict(zip(TOKEN_COLUMNS, row)) for row in self.connection.execute(self.SQL.tokens).fetchall()]

    def delete_token(self, name: str) -> bool:
        return storable(name) and self.connection.execute(self.SQL.delete_token, (name,)).rowcount > 0

    # -- audit

    def insert_audit(self, event: Mapping[str, Any]) -> None:
        self.connection.execute(self.SQL.insert_audit, _audit_values(event))

    def audit_log(self, agent_id: str | None, limit: int, before: int | None = None) -> list[Row]:
        # Past the columns' integers, a bound means "all of them" (a driver may not even send such a number).
        most = self.DIALECT.max_integer
        below = most if before is None else min(before, most)
        limit = min(limit, most)
        if agent_id is None:
            rows = self.connection.execute(self.SQL.audit_log, (below, limit)).fetchall()
        elif not storable(agent_id):
            rows = []
        else:
            # Planned for its values each time: see audit_events_after.
            rows = self._planned_each_time(self.SQL.audit_log_of_agent, (agent_id, below, limit))
        return [_audit_row(row) for row in rows]

    def newest_audit_id(self) -> int:
        row = self.connection.execute(self.SQL.newest_audit_id).fetchone()
        return int(row[0] or 0) if row else 0

    def agents_changed_between(self, since: int, until: int, limit: int) -> list[str | None]:
        rows = self.connection.execute(self.SQL.agents_changed_between, (since, until, limit)).fetchall()
        return [agent_id for (agent_id,) in rows]

    # -- export and import

    def agents_to_export(self, ids: Sequence[str] | None = None) -> list[Row]:
        if ids is None:
            rows = self.connection.execute(self.SQL.agents_to_export).fetchall()
        else:
            wanted = [agent_id for agent_id in ids if storable(agent_id)]
            rows = self._rows_where_one_of(f"{self.SQL.agents_to_export} WHERE", "id", wanted)
        agents = []
        for row in rows:
            agent = _agent_row(row[:_AGENT_WIDTH])
            agent["last_version_number"] = row[_AGENT_WIDTH]
            agents.append(agent)
        return agents

    def versions_after(self, agent_id: str, after: int, limit: int) -> list[Row]:
        rows = self.connection.execute(self.SQL.versions_after, (agent_id, after, limit)).fetchall()
        return [_version_row(row) for row in rows]

    def audit_events_after(self, agent_id: str, after: int, limit: int) -> list[Row]:
        # Planned with its values (PostgreSQL): after five runs a prepared
        # statement may switch to a generic plan, and the generic plan of
        # "agent_id = $1 AND id > $2 ORDER BY id LIMIT $3" walks the primary
        # key and filters on the agent (every audit event of the database read
        # for each agent: 17 ms an agent at 100,000 events). Planned with its
        # values, it reads the agent's events by ix_audit_event_agent_id and
        # sorts them (0.6 ms).
        return [
            _audit_row(row) for row in self._planned_each_time(self.SQL.audit_events_after, (agent_id, after, limit))
        ]

    def unowned_audit_events_after(self, after: int, limit: int) -> list[Row]:
        rows = self.connection.execute(self.SQL.unowned_audit_events_after, (after, limit)).fetchall()
        return [_audit_row(row) for row in rows]

    def versions_by_id(self, ids: Sequence[str]) -> list[Row]:
        wanted = [version_id for version_id in ids if storable(version_id)]
        return [_version_row(row) for row in self._rows_where_one_of(f"{self.SQL.version_select} WHERE", "id", wanted)]

    def versions_with_numbers(self, agent_id: str, numbers: Sequence[int]) -> list[Row]:
        if not storable(agent_id):
            return []
        wanted = [number for number in numbers if 0 <= number <= self.DIALECT.max_integer]
        query = f"{self.SQL.version_select} WHERE agent_id = {self.DIALECT.mark} AND"
        return [_version_row(row) for row in self._rows_where_one_of(query, "version_number", wanted, (agent_id,))]

    def insert_agents(self, agents: Sequence[Mapping[str, Any]]) -> None:
        rows = [_agent_values(agent, agent["last_version_number"]) for agent in agents]
        if not rows:
            return
        try:
            self._execute_many(self.SQL.insert_agent, rows)
        except self.UNIQUE_VIOLATION as error:
            raise self._name_taken(error, ", ".join(str(agent["name"]) for agent in agents)) from None

    def insert_versions(self, versions: Sequence[Mapping[str, Any]]) -> int:
        rows = list(map(_version_values, versions))
        return self._execute_many(self.SQL.insert_new_versions, rows) if rows else 0

    def insert_audit_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        if events:
            self._execute_many(self.SQL.insert_audit, list(map(_audit_values, events)))

    def raise_version_counter(self, agent_id: str, number: int) -> bool:
        parameters = {"agent": agent_id, "number": number}
        return bool(self.connection.execute(self.SQL.raise_version_counter, parameters).rowcount > 0)
