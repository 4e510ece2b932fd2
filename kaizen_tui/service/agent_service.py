"""AgentService: every operation of the spec, the only way into the data.

Each operation is one transaction and returns plain dicts shaped like the
spec's JSON. The methods are ``async`` as in the spec; the database work runs
in a worker thread, so an event loop (the TUI's) is never blocked by it.
Errors are the types in :mod:`kaizen_tui.core.errors`.

The tables are declared with SQLModel (``models.py``); the queries here are
constant, parameterised SQL on ``sqlite3`` connections from ``db.py``, and
select only the columns they need (see ``db.py`` for why not SQLAlchemy).
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

from kaizen_tui.core.schema import (
    CONFIG_FIELDS,
    EDITABLE_FIELDS,
    check_text,
    loose_snapshot,
    parse_snapshot,
    snapshot_json,
    snapshot_problem,
    validate_fields,
    validate_new_agent,
)
from kaizen_tui.store.sqlite import Database, DatabaseError, open_database
from kaizen_tui.core.diff import compare_configs, is_long_text, unified_text_diff
from kaizen_tui.core.errors import (
    AgentNotFound,
    AmbiguousAgent,
    DamagedSnapshot,
    InvalidKeep,
    VersionNotFound,
    VersionOfAnotherAgent,
)
from kaizen_tui.core.ids import new_agent_id, new_version_id, utc_now
from kaizen_tui.service.threads import WorkerThreads

P = ParamSpec("P")
R = TypeVar("R")
Row = Sequence[Any]

VERSION_KEYS = ("id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at")
AGENT_KEYS = (
    "id", "name", "description", "agent_type", "status", "system_prompt", "model_id",
    "temperature", "max_tokens", "extra", "created_by", "created_at", "updated_at",
)
AUDIT_KEYS = ("id", "at", "actor", "action", "agent_id", "version_id", "detail")
LIVE = "live"
_VERSION_REF = re.compile(r"^[vV]?(\d+)$")
SQLITE_MAX_INTEGER = 2**63 - 1

# Every statement is constant text with ``?`` parameters. Rows come back as
# tuples in the order of the ``*_KEYS`` above.
_AGENT_COLUMNS = ", ".join(AGENT_KEYS)
_VERSION_COLUMNS = ", ".join(VERSION_KEYS)
_SELECT_AGENT = f"SELECT {_AGENT_COLUMNS} FROM agent WHERE id = ?"
_SELECT_AGENTS_NAMED = f"SELECT {_AGENT_COLUMNS} FROM agent WHERE name = ?"
_SELECT_AGENT_NAMES = "SELECT id, name FROM agent"
_AGENT_EXISTS = "SELECT 1 FROM agent WHERE id = ?"
_DESCRIBED_AGENTS = (
    f"SELECT {_AGENT_COLUMNS}, "
    "(SELECT count(*) FROM agent_version v WHERE v.agent_id = agent.id), "
    "(SELECT max(version_number) FROM agent_version v WHERE v.agent_id = agent.id), "
    "(SELECT config_snapshot FROM agent_version v WHERE v.agent_id = agent.id "
    "ORDER BY version_number DESC LIMIT 1) "
    "FROM agent"
)
#: The order of the agents list; :func:`agent_sort_key` is the same in Python.
_AGENT_ORDER = " ORDER BY lower(name), id"
_LIST_AGENTS = _DESCRIBED_AGENTS + _AGENT_ORDER
#: How many ids one ``IN (...)`` lists (SQLite allows 32,766 parameters).
_IDS_PER_QUERY = 500
_INSERT_AGENT = (
    f"INSERT INTO agent ({_AGENT_COLUMNS}, last_version_number) VALUES ({', '.join('?' * len(AGENT_KEYS))}, 0)"
)
_SELECT_VERSION = f"SELECT {_VERSION_COLUMNS} FROM agent_version WHERE id = ?"
_SELECT_VERSION_NUMBERED = f"SELECT {_VERSION_COLUMNS} FROM agent_version WHERE agent_id = ? AND version_number = ?"
_VERSION_PAGE = (
    f"SELECT {_VERSION_COLUMNS} FROM agent_version WHERE agent_id = ? "
    "ORDER BY version_number DESC LIMIT ? OFFSET ?"
)
_VERSIONS_BEFORE = (
    f"SELECT {_VERSION_COLUMNS} FROM agent_version WHERE agent_id = ? AND version_number < ? "
    "ORDER BY version_number DESC"
)
_PREVIOUS_VERSION = _VERSIONS_BEFORE + " LIMIT 1"
_NEWEST_SNAPSHOT = (
    "SELECT config_snapshot FROM agent_version WHERE agent_id = ? ORDER BY version_number DESC LIMIT 1"
)
_COUNT_VERSIONS = "SELECT count(*), max(version_number) FROM agent_version WHERE agent_id = ?"
_KEEP_THRESHOLD = (
    "SELECT version_number FROM agent_version WHERE agent_id = ? ORDER BY version_number DESC LIMIT 1 OFFSET ?"
)
#: What a prune deletes: older than the oldest kept, and no newer than what a person was shown.
_DOOMED = "agent_id = ? AND version_number < ? AND version_number <= ?"
_DOOMED_RANGE = f"SELECT min(version_number), max(version_number) FROM agent_version WHERE {_DOOMED}"
_DELETE_DOOMED = f"DELETE FROM agent_version WHERE {_DOOMED}"
_DELETE_VERSION = "DELETE FROM agent_version WHERE id = ?"
#: The next number: past the agent's counter and past any number a row
#: written by another tool already has, in one statement under the write lock.
_NEXT_NUMBER = (
    "UPDATE agent SET last_version_number = max(last_version_number, "
    "coalesce((SELECT max(version_number) FROM agent_version WHERE agent_id = ?1), 0)) + 1 "
    "WHERE id = ?1 RETURNING last_version_number"
)
_INSERT_VERSION = f"INSERT INTO agent_version ({_VERSION_COLUMNS}) VALUES ({', '.join('?' * len(VERSION_KEYS))})"
_INSERT_AUDIT = (
    "INSERT INTO audit_event (at, actor, action, agent_id, version_id, detail) VALUES (?, ?, ?, ?, ?, ?)"
)
_AUDIT_LOG = f"SELECT {', '.join(AUDIT_KEYS)} FROM audit_event ORDER BY id DESC LIMIT ?"
_AUDIT_LOG_OF_AGENT = (
    f"SELECT {', '.join(AUDIT_KEYS)} FROM audit_event WHERE agent_id = ? ORDER BY id DESC LIMIT ?"
)
_NEWEST_AUDIT_ID = "SELECT max(id) FROM audit_event"
_AGENTS_CHANGED_BETWEEN = "SELECT DISTINCT agent_id FROM audit_event WHERE id > ? AND id <= ? LIMIT ?"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
#: ``UPDATE agent SET`` one statement per set of changed fields; the names come
#: from this table only, never from the caller.
_SETTABLE = frozenset((*EDITABLE_FIELDS, "updated_at"))


def default_user() -> str:
    """``KAIZEN_USER``, else the login name of the OS user (over SSH: who is at the keyboard)."""
    user = os.environ.get("KAIZEN_USER", "").strip()
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _in_thread(method: Callable[Concatenate[AgentService, P], R]) -> Callable[Concatenate[AgentService, P], Awaitable[R]]:
    """Make a blocking method ``async`` by running it in a worker thread."""

    @functools.wraps(method)
    async def run(self: AgentService, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._threads.run(method, self, *args, **kwargs)

    return run


def agent_dict(row: Row) -> dict[str, Any]:
    """An agent row (columns in ``AGENT_KEYS`` order) as a plain dict, ``extra`` decoded."""
    agent = dict(zip(AGENT_KEYS, row))
    agent["extra"] = _decode_extra(agent)
    return agent


def _decode_extra(agent: Mapping[str, Any]) -> dict[str, Any]:
    stored = agent["extra"]
    try:
        extra = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
    except ValueError:
        extra = None
    if extra is None and stored in (None, "null"):
        return {}
    if not isinstance(extra, dict):
        raise DatabaseError(
            f"The stored 'extra' field of agent {agent['id']} is not a JSON object; "
            "another tool may have written it. Nothing was changed."
        )
    return extra


def _encode_extra(extra: Mapping[str, Any]) -> str:
    return json.dumps(extra, ensure_ascii=False, sort_keys=True)


def _differs(key: str, old: Any, new: Any) -> bool:
    """Is ``new`` a change? ``extra`` is compared as JSON, where ``true`` is not ``1``."""
    if key == "extra":
        return _encode_extra(old) != _encode_extra(new)
    return old != new


def agent_sort_key(agent: Mapping[str, Any]) -> tuple[str, str]:
    """Where an agent goes in :meth:`AgentService.list_agents`: by name ignoring ASCII case, then id.

    It is SQLite's ``ORDER BY lower(name), id`` (whose ``lower`` knows only
    ASCII), so a screen can merge a few fresh agents into a list it has.
    """
    return agent["name"].translate(_ASCII_LOWER), agent["id"]


def agent_config(agent: Mapping[str, Any]) -> dict[str, Any]:
    """The live configuration of an agent: the fields a version captures."""
    return {key: agent[key] for key in CONFIG_FIELDS}


def version_dict(row: Row) -> dict[str, Any]:
    """A version row (columns in ``VERSION_KEYS`` order) exactly as the spec returns it, plus ``agent_id``."""
    return dict(zip(VERSION_KEYS, row))


def snapshot_state(snapshot: str, live: Mapping[str, Any], live_text: str) -> tuple[bool, str | None]:
    """(does the snapshot equal the live config, why it is damaged or None).

    Snapshots we write are canonical, so equal text is the common fast
    answer; anything else is parsed, since another tool may have written it.
    """
    if snapshot == live_text:
        return True, None
    try:
        config = parse_snapshot(snapshot)
    except DamagedSnapshot as error:
        return False, error.reason
    return config == live, None


class AgentService:
    """Agents and their versions, in one SQLite database file."""

    def __init__(
        self,
        db_url: str | None = None,
        user: str | None = None,
        *,
        read_only: bool = False,
        database: Database | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        """Open ``db_url`` (a path or ``sqlite:///`` URL; the per-user database by default).

        ``clock`` gives the time written into new rows; the demo uses it to lay
        a history over past weeks.
        """
        self.user = check_text("user", (user or "").strip() or default_user(), required=True)
        self.db = database or open_database(db_url, read_only=read_only)
        self.clock = clock
        self._threads = WorkerThreads(name="kaizen-db")

    @property
    def read_only(self) -> bool:
        return self.db.read_only

    @property
    def read_only_reason(self) -> str:
        """Why nothing can be changed ("" when the database is writable)."""
        if not self.db.read_only:
            return ""
        return self.db.read_only_reason or "the database is open read-only"

    def close(self) -> None:
        """Finish the operations under way, then close the database."""
        self._threads.close()
        self.db.close()

    # -- agents -------------------------------------------------------------

    @_in_thread
    def create_agent(self, data: Mapping[str, Any]) -> dict[str, Any]:
        fields = validate_new_agent(data)
        now = self.clock()
        agent = {**fields, "id": new_agent_id(), "created_by": self.user, "created_at": now, "updated_at": now}
        row = [agent[key] for key in AGENT_KEYS]
        row[AGENT_KEYS.index("extra")] = _encode_extra(fields["extra"])
        with self.db.writing() as connection:
            connection.execute(_INSERT_AGENT, row)
            self._audit(connection, "agent.create", agent["id"], detail={"name": fields["name"]})
            return self._describe(connection, self._agent(connection, agent["id"]))

    @_in_thread
    def get(self, agent_id: str) -> dict[str, Any]:
        with self.db.reading() as connection:
            return self._describe(connection, self._agent(connection, agent_id))

    @_in_thread
    def list_agents(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every agent (or those of ``ids`` that exist), by name, with its version count and unsaved-changes flag.

        The order is :func:`agent_sort_key`'s.
        """
        width = len(AGENT_KEYS)
        with self.db.reading() as connection:
            if ids is None:
                rows = connection.execute(_LIST_AGENTS).fetchall()
            else:
                wanted = sorted({agent_id for agent_id in ids if _storable_id(agent_id)})
                rows = []
                for start in range(0, len(wanted), _IDS_PER_QUERY):
                    chunk = wanted[start:start + _IDS_PER_QUERY]
                    query = f"{_DESCRIBED_AGENTS} WHERE id IN ({', '.join('?' * len(chunk))})"
                    rows += connection.execute(query, chunk).fetchall()
        agents = [_described(agent_dict(row[:width]), *row[width:]) for row in rows]
        return agents if ids is None else sorted(agents, key=agent_sort_key)

    @_in_thread
    def changed_agents(self, since: int, limit: int = 200) -> tuple[int, list[str] | None]:
        """``(marker, ids)``: :meth:`change_marker` now, and the agents changed after ``since``.

        ``since`` is an earlier marker. ``ids`` is None when more than
        ``limit`` agents changed: listing them all is then as quick.
        """
        with self.db.reading() as connection:
            marker = connection.execute(_NEWEST_AUDIT_ID).fetchone()[0] or 0
            rows = connection.execute(_AGENTS_CHANGED_BETWEEN, (since, marker, limit + 1)).fetchall()
        if len(rows) > limit:
            return marker, None
        return marker, [agent_id for (agent_id,) in rows if agent_id is not None]

    @_in_thread
    def find_agent(self, ref: str) -> dict[str, Any]:
        """An agent by id, or by name when exactly one agent has that name."""
        with self.db.reading() as connection:
            return self._describe(connection, self._find_agent(connection, ref))

    @_in_thread
    def update(self, agent_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        fields = validate_fields(data)
        with self.db.writing() as connection:
            agent = self._agent(connection, agent_id)
            self._apply(connection, agent, fields)
            return self._describe(connection, agent)

    @_in_thread
    def update_agent_with_version(self, agent_id: str, data: Mapping[str, Any], reason: str) -> dict[str, Any]:
        """The spec's automatic versioning: snapshot as ``Auto: <reason>``, then update.

        Both happen in one transaction, and nothing happens when ``data`` is invalid.
        """
        fields = validate_fields(data)
        check_text("reason", reason)
        with self.db.writing() as connection:
            agent = self._agent(connection, agent_id)
            self._snapshot(connection, agent, f"Auto: {reason}")
            self._apply(connection, agent, fields)
            return self._describe(connection, agent)

    # -- versions -----------------------------------------------------------

    @_in_thread
    def create_version(self, agent_id: str, changelog: str | None = None) -> dict[str, Any]:
        if changelog is not None:
            check_text("changelog", changelog)
        with self.db.writing() as connection:
            return self._snapshot(connection, self._agent(connection, agent_id), changelog or None)

    @_in_thread
    def get_versions(self, agent_id: str, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Versions newest first. All of them unless a page (``limit``/``offset``) is asked for."""
        with self.db.reading() as connection:
            self._check_agent(connection, agent_id)
            return [version_dict(row) for row in _page(connection, agent_id, limit, offset)]

    @_in_thread
    def get_version(self, version_id: str) -> dict[str, Any]:
        with self.db.reading() as connection:
            return self._version(connection, version_id)

    @_in_thread
    def find_version(self, agent_id: str, ref: str | int) -> dict[str, Any]:
        """A version of an agent by number (``3``, ``"v3"``) or by id."""
        with self.db.reading() as connection:
            return self._find_version(connection, self._agent(connection, agent_id), ref)

    @_in_thread
    def get_timeline(self, agent_id: str, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Versions newest first for display: no snapshot text, but markers.

        Each entry has the version's keys but ``config_snapshot``, plus
        ``matches_live`` (the live config equals it) and ``damaged`` (the reason
        the snapshot cannot be read, or None).
        """
        with self.db.reading() as connection:
            live = agent_config(self._agent(connection, agent_id))
            live_text = snapshot_json(live)
            timeline = []
            for row in _page(connection, agent_id, limit, offset):
                entry = version_dict(row)
                entry["matches_live"], entry["damaged"] = snapshot_state(entry.pop("config_snapshot"), live, live_text)
                timeline.append(entry)
            return timeline

    @_in_thread
    def rollback_to_version(self, agent_id: str, version_id: str) -> dict[str, Any]:
        """Make the live config equal a version's snapshot; status is left as it is.

        If the live config has changes no version holds, it is first saved as a
        version (``Auto: before rollback to vN``), so a rollback never loses
        anything. The snapshot is validated before anything is written.
        """
        with self.db.writing() as connection:
            agent = self._agent(connection, agent_id)
            version = self._version(connection, version_id)
            if version["agent_id"] != agent["id"]:
                raise VersionOfAnotherAgent(version["id"], agent["id"])
            label = f"v{version['version_number']}"
            config = parse_snapshot(version["config_snapshot"], label)
            saved = None
            if self._has_unsaved_changes(connection, agent):
                saved = self._snapshot(connection, agent, f"Auto: before rollback to {label}", audit=False)
            self._apply(connection, agent, config, audit=False)
            self._audit(
                connection,
                "version.rollback",
                agent["id"],
                version["id"],
                {
                    "to_version": version["version_number"],
                    "saved_as_version": saved["version_number"] if saved else None,
                    "saved_version_id": saved["id"] if saved else None,
                },
            )
            described = self._describe(connection, agent)
            described["saved_as_version"] = saved["version_number"] if saved else None
            return described

    @_in_thread
    def delete_version(self, version_id: str) -> None:
        with self.db.writing() as connection:
            version = self._version(connection, version_id)
            connection.execute(_DELETE_VERSION, (version_id,))
            detail = {"version_number": version["version_number"], "changelog": version["changelog"]}
            self._audit(connection, "version.delete", version["agent_id"], version["id"], detail)

    @_in_thread
    def prune_preview(self, agent_id: str, keep: int = 10) -> list[dict[str, Any]]:
        """The versions ``cleanup_old_versions(agent_id, keep)`` would delete, newest first.

        Each is a version dict plus ``matches_live``, so a confirmation can say
        when the version the live config equals is among them.
        """
        _check_keep(keep)
        with self.db.reading() as connection:
            live = agent_config(self._agent(connection, agent_id))
            live_text = snapshot_json(live)
            threshold = self._keep_threshold(connection, agent_id, keep)
            if threshold is None:
                return []
            doomed = []
            for row in connection.execute(_VERSIONS_BEFORE, (agent_id, threshold)):
                entry = version_dict(row)
                entry["matches_live"] = snapshot_state(entry["config_snapshot"], live, live_text)[0]
                doomed.append(entry)
            return doomed

    @_in_thread
    def cleanup_old_versions(self, agent_id: str, keep: int = 10, *, newest_to_delete: int | None = None) -> int:
        """Keep the ``keep`` newest versions, delete the rest in one statement; return how many.

        ``newest_to_delete`` bounds what goes: a person confirms what a
        preview showed, and a version snapshotted meanwhile by someone else
        must not push an unseen one over the edge.
        """
        _check_keep(keep)
        if newest_to_delete is not None and (isinstance(newest_to_delete, bool) or not isinstance(newest_to_delete, int)):
            raise TypeError("newest_to_delete must be a version number")
        with self.db.writing() as connection:
            self._check_agent(connection, agent_id)
            threshold = self._keep_threshold(connection, agent_id, keep)
            if threshold is None:
                return 0
            bounds = (agent_id, threshold, SQLITE_MAX_INTEGER if newest_to_delete is None else newest_to_delete)
            oldest, newest = connection.execute(_DOOMED_RANGE, bounds).fetchone()
            if oldest is None:
                return 0
            deleted = connection.execute(_DELETE_DOOMED, bounds).rowcount
            self._audit(
                connection,
                "version.prune",
                agent_id,
                detail={"keep": keep, "deleted": deleted, "oldest_deleted": oldest, "newest_deleted": newest},
            )
            return deleted

    # -- comparing ----------------------------------------------------------

    @_in_thread
    def compare_versions(self, version_id_1: str, version_id_2: str) -> dict[str, Any]:
        """What changed from the first version to the second."""
        with self.db.reading() as connection:
            old = self._version(connection, version_id_1)
            new = self._version(connection, version_id_2)
        return _comparison(_side_of_version(old), _side_of_version(new))

    @_in_thread
    def compare_with_live(self, agent_id: str, version_id: str, *, live_first: bool = False) -> dict[str, Any]:
        """What changed from a version to the agent's live config.

        ``live_first=True`` compares the other way, from the live config to
        the version: what a rollback to that version would change.
        """
        with self.db.reading() as connection:
            agent = self._agent(connection, agent_id)
            version = self._version(connection, version_id)
        if version["agent_id"] != agent["id"]:
            raise VersionOfAnotherAgent(version["id"], agent["id"])
        sides = (_side_of_version(version), _side_of_live(agent))
        return _comparison(*reversed(sides)) if live_first else _comparison(*sides)

    @_in_thread
    def compare_with_previous(self, version_id: str) -> dict[str, Any]:
        """What a version changed against the version before it (or against nothing)."""
        with self.db.reading() as connection:
            new = self._version(connection, version_id)
            previous = connection.execute(_PREVIOUS_VERSION, (new["agent_id"], new["version_number"])).fetchone()
        old_side = (
            _side_of_version(version_dict(previous))
            if previous
            else {"label": "nothing", "version_id": None, "version_number": None, "config": {}, "damaged": None}
        )
        return _comparison(old_side, _side_of_version(new))

    # -- audit and change detection -------------------------------------------

    @_in_thread
    def audit_log(self, agent_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit events (of one agent, or all), newest first."""
        with self.db.reading() as connection:
            if agent_id is None:
                rows = connection.execute(_AUDIT_LOG, (limit,)).fetchall()
            else:
                rows = connection.execute(_AUDIT_LOG_OF_AGENT, (agent_id, limit)).fetchall()
        events = [dict(zip(AUDIT_KEYS, row)) for row in rows]
        for event in events:
            event["detail"] = json.loads(event["detail"])
        return events

    @_in_thread
    def change_marker(self) -> int:
        """A number that grows with every committed mutation, by any process.

        Every mutation appends an audit event, so the newest event's id is a
        cheap way for a screen to see that something changed.
        """
        with self.db.reading() as connection:
            return connection.execute(_NEWEST_AUDIT_ID).fetchone()[0] or 0

    # -- internals (run inside a transaction) --------------------------------

    def _agent(self, connection: sqlite3.Connection, agent_id: str) -> dict[str, Any]:
        row = connection.execute(_SELECT_AGENT, (agent_id,)).fetchone() if _storable_id(agent_id) else None
        if row is None:
            raise AgentNotFound(str(agent_id))
        return agent_dict(row)

    def _check_agent(self, connection: sqlite3.Connection, agent_id: str) -> None:
        found = _storable_id(agent_id) and connection.execute(_AGENT_EXISTS, (agent_id,)).fetchone()
        if not found:
            raise AgentNotFound(str(agent_id))

    def _find_agent(self, connection: sqlite3.Connection, ref: str) -> dict[str, Any]:
        if not _storable_id(ref):
            raise AgentNotFound(repr(ref)[1:-1])
        by_id = connection.execute(_SELECT_AGENT, (ref,)).fetchone()
        if by_id is not None:
            return agent_dict(by_id)
        named = connection.execute(_SELECT_AGENTS_NAMED, (ref,)).fetchall()
        if not named:
            # Case-insensitively, in Python: SQLite's lower() knows only ASCII.
            folded = ref.casefold()
            ids = [agent_id for agent_id, name in connection.execute(_SELECT_AGENT_NAMES) if name.casefold() == folded]
            named = [connection.execute(_SELECT_AGENT, (agent_id,)).fetchone() for agent_id in ids]
        if len(named) > 1:
            raise AmbiguousAgent(ref, [row[0] for row in named])
        if not named:
            raise AgentNotFound(ref)
        return agent_dict(named[0])

    def _version(self, connection: sqlite3.Connection, version_id: str) -> dict[str, Any]:
        row = connection.execute(_SELECT_VERSION, (version_id,)).fetchone() if _storable_id(version_id) else None
        if row is None:
            raise VersionNotFound(str(version_id))
        return version_dict(row)

    def _find_version(
        self, connection: sqlite3.Connection, agent: Mapping[str, Any], ref: str | int
    ) -> dict[str, Any]:
        if not _storable(str(ref)):
            raise VersionNotFound(repr(str(ref))[1:-1], agent["name"])
        match = _VERSION_REF.match(str(ref).strip())
        if match:
            number = int(match.group(1))
            if number > SQLITE_MAX_INTEGER:
                raise VersionNotFound(f"v{number}", agent["name"])
            row = connection.execute(_SELECT_VERSION_NUMBERED, (agent["id"], number)).fetchone()
            if row is None:
                raise VersionNotFound(f"v{number}", agent["name"])
            return version_dict(row)
        row = connection.execute(_SELECT_VERSION, (str(ref),)).fetchone()
        if row is None:
            raise VersionNotFound(str(ref), agent["name"])
        version = version_dict(row)
        if version["agent_id"] != agent["id"]:
            raise VersionOfAnotherAgent(version["id"], agent["id"])
        return version

    def _newest_snapshot(self, connection: sqlite3.Connection, agent_id: str) -> str | None:
        row = connection.execute(_NEWEST_SNAPSHOT, (agent_id,)).fetchone()
        return row[0] if row else None

    def _has_unsaved_changes(self, connection: sqlite3.Connection, agent: Mapping[str, Any]) -> bool:
        return _unsaved(agent, self._newest_snapshot(connection, agent["id"]))

    def _snapshot(
        self, connection: sqlite3.Connection, agent: dict[str, Any], changelog: str | None, *, audit: bool = True
    ) -> dict[str, Any]:
        """Save the live config as the next version (the write lock is held).

        The number comes from the agent's counter, raised past any number a
        row written by another tool may already have, in the same statement.
        """
        (number,) = connection.execute(_NEXT_NUMBER, (agent["id"],)).fetchone()
        version = {
            "id": new_version_id(),
            "agent_id": agent["id"],
            "version_number": number,
            "config_snapshot": snapshot_json(agent_config(agent)),
            "changelog": changelog,
            "created_by": self.user,
            "created_at": self.clock(),
        }
        connection.execute(_INSERT_VERSION, tuple(version.values()))
        if audit:
            self._audit(connection, "version.create", agent["id"], version["id"], {"version_number": number})
        return version

    def _apply(
        self, connection: sqlite3.Connection, agent: dict[str, Any], fields: Mapping[str, Any], *, audit: bool = True
    ) -> None:
        """Write the fields that differ into the agent row (and into ``agent``)."""
        changed = sorted(key for key, value in fields.items() if _differs(key, agent[key], value))
        if not changed:
            return
        values = {key: dict(fields[key]) if key == "extra" else fields[key] for key in changed}
        values["updated_at"] = self.clock()
        if not _SETTABLE.issuperset(values):
            raise ValueError(f"not agent fields: {sorted(set(values) - _SETTABLE)}")
        stored = [_encode_extra(value) if key == "extra" else value for key, value in values.items()]
        assignments = ", ".join(f"{key} = ?" for key in values)
        connection.execute(f"UPDATE agent SET {assignments} WHERE id = ?", (*stored, agent["id"]))
        agent.update(values)
        if audit:
            self._audit(connection, "agent.update", agent["id"], detail={"fields": changed})

    def _audit(
        self,
        connection: sqlite3.Connection,
        action: str,
        agent_id: str | None,
        version_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        detail_text = json.dumps(detail or {}, ensure_ascii=False, sort_keys=True)
        connection.execute(_INSERT_AUDIT, (self.clock(), self.user, action, agent_id, version_id, detail_text))

    def _keep_threshold(self, connection: sqlite3.Connection, agent_id: str, keep: int) -> int | None:
        """The number of the oldest version to keep, or None when nothing goes."""
        row = connection.execute(_KEEP_THRESHOLD, (agent_id, keep - 1)).fetchone()
        return row[0] if row else None

    def _describe(self, connection: sqlite3.Connection, agent: dict[str, Any]) -> dict[str, Any]:
        """The agent dict, plus ``version_count``, ``latest_version`` and ``unsaved_changes``."""
        count, newest = connection.execute(_COUNT_VERSIONS, (agent["id"],)).fetchone()
        return _described(agent, count, newest, self._newest_snapshot(connection, agent["id"]))


def _page(connection: sqlite3.Connection, agent_id: str, limit: int | None, offset: int) -> list[Row]:
    """A page of an agent's versions, newest first (``limit`` None: all)."""
    return connection.execute(_VERSION_PAGE, (agent_id, -1 if limit is None else limit, offset)).fetchall()


def _unsaved(agent: Mapping[str, Any], newest_snapshot: str | None) -> bool:
    """Does the live config differ from the newest version (or is there none)?"""
    if newest_snapshot is None:
        return True
    live = agent_config(agent)
    matches, _ = snapshot_state(newest_snapshot, live, snapshot_json(live))
    return not matches


def _described(
    agent: dict[str, Any], version_count: int, latest_version: int | None, latest_snapshot: str | None
) -> dict[str, Any]:
    agent["version_count"] = version_count
    agent["latest_version"] = latest_version
    agent["unsaved_changes"] = _unsaved(agent, latest_snapshot)
    return agent


def _check_keep(keep: object) -> None:
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= SQLITE_MAX_INTEGER:
        raise InvalidKeep(keep)


def _storable(text: str) -> bool:
    """Can this text be sent to the database at all (no lone surrogates)?"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _side_of_version(version: Mapping[str, Any]) -> dict[str, Any]:
    label = f"v{version['version_number']}"
    try:
        config = loose_snapshot(version["config_snapshot"], label)
        damaged = snapshot_problem(version["config_snapshot"])
    except DamagedSnapshot as error:
        config, damaged = None, error.reason  # unreadable: nothing to compare
    return {
        "label": label,
        "version_id": version["id"],
        "version_number": version["version_number"],
        "config": config,
        "damaged": damaged,
    }


def _side_of_live(agent: Mapping[str, Any]) -> dict[str, Any]:
    return {"label": LIVE, "version_id": None, "version_number": None, "config": agent_config(agent), "damaged": None}


def _comparison(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The comparison dict: both sides' labels, the field changes, text diffs, warnings."""
    old_config, new_config = old.pop("config"), new.pop("config")
    # An unreadable side compares as empty, but is never "identical".
    unreadable = old_config is None or new_config is None
    old_config, new_config = old_config or {}, new_config or {}
    # A snapshot without ``extra`` means an empty one.
    if old_config or new_config:
        old_config.setdefault("extra", {})
        new_config.setdefault("extra", {})
    changes = compare_configs(old_config, new_config)
    text_diffs = [
        {
            "field": change["path"],
            "unified": unified_text_diff(change["old"] or "", change["new"] or "", old["label"], new["label"]),
        }
        for change in changes
        if isinstance(change["old"] or "", str)
        and isinstance(change["new"] or "", str)
        and (is_long_text(change["old"]) or is_long_text(change["new"]))
    ]
    warnings = [f"{side['label']}: snapshot is damaged ({side['damaged']})" for side in (old, new) if side["damaged"]]
    return {
        "from": old,
        "to": new,
        "identical": not changes and not unreadable,
        "changes": changes,
        "text_diffs": text_diffs,
        "warnings": warnings,
    }


def _storable_id(value: object) -> bool:
    """Can this be looked up as an id (a string the database can take)?"""
    return isinstance(value, str) and _storable(value)


__all__ = ["AgentService", "EDITABLE_FIELDS", "LIVE", "default_user"]
