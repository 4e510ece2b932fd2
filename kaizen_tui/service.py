"""AgentService: every operation of the spec, the only way into the data.

Each operation is one transaction and returns plain dicts shaped like the
spec's JSON. The methods are ``async`` as in the spec; the database work runs
in a worker thread, so an event loop (the TUI's) is never blocked by it.
Errors are the types in :mod:`kaizen_tui.errors`.

The tables are declared with SQLModel (``models.py``); the queries here use
SQLAlchemy Core on those tables and select only the columns they need, since
building ORM objects cost several times the database work itself.
"""

from __future__ import annotations

import asyncio
import functools
import getpass
import json
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Row, delete, func, insert, select, text, update

from kaizen_tui.config import (
    CONFIG_FIELDS,
    EDITABLE_FIELDS,
    check_text,
    parse_snapshot,
    snapshot_json,
    validate_fields,
    validate_new_agent,
)
from kaizen_tui.db import Database, open_database
from kaizen_tui.diff import compare_configs, is_long_text, unified_text_diff
from kaizen_tui.config import loose_snapshot, snapshot_problem
from kaizen_tui.errors import (
    AgentNotFound,
    AmbiguousAgent,
    DamagedSnapshot,
    InvalidKeep,
    InvalidValue,
    VersionNotFound,
    VersionOfAnotherAgent,
)
from kaizen_tui.models import Agent, AgentVersion, AuditEvent, new_agent_id, new_version_id, utc_now

AGENT = Agent.__table__  # type: ignore[attr-defined]
VERSION = AgentVersion.__table__  # type: ignore[attr-defined]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]

P = ParamSpec("P")
R = TypeVar("R")

VERSION_KEYS = ("id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at")
AGENT_KEYS = (
    "id", "name", "description", "agent_type", "status", "system_prompt", "model_id",
    "temperature", "max_tokens", "extra", "created_by", "created_at", "updated_at",
)
LIVE = "live"
_VERSION_REF = re.compile(r"^[vV]?(\d+)$")
SQLITE_MAX_INTEGER = 2**63 - 1
_AGENT_COLUMNS = [AGENT.c[key] for key in AGENT_KEYS]
_VERSION_COLUMNS = [VERSION.c[key] for key in VERSION_KEYS]
_NEWEST_FIRST = VERSION.c.version_number.desc()

# The statements on the paths that run most (a snapshot, a timeline page) are
# written out once as parameterised SQL: building and caching a Core
# statement on every call cost four times the database work.
_SELECT_AGENT = text(f"SELECT {', '.join(AGENT_KEYS)} FROM agent WHERE id = :id").columns(*_AGENT_COLUMNS)
_AGENT_EXISTS = text("SELECT 1 FROM agent WHERE id = :id")
_VERSION_PAGE = text(
    f"SELECT {', '.join(VERSION_KEYS)} FROM agent_version WHERE agent_id = :agent_id "
    "ORDER BY version_number DESC LIMIT :limit OFFSET :offset"
)
_NEWEST_SNAPSHOT = text(
    "SELECT config_snapshot FROM agent_version WHERE agent_id = :agent_id ORDER BY version_number DESC LIMIT 1"
)
_COUNT_VERSIONS = text("SELECT count(*), max(version_number) FROM agent_version WHERE agent_id = :agent_id")
#: The next number: past the agent's counter and past any number a row
#: written by another tool already has, in one statement under the write lock.
_NEXT_NUMBER = text(
    "UPDATE agent SET last_version_number = max(last_version_number, "
    "coalesce((SELECT max(version_number) FROM agent_version WHERE agent_id = :id), 0)) + 1 "
    "WHERE id = :id RETURNING last_version_number"
)
_INSERT_VERSION = text(
    f"INSERT INTO agent_version ({', '.join(VERSION_KEYS)}) VALUES ({', '.join(':' + key for key in VERSION_KEYS)})"
)
_INSERT_AUDIT = text(
    "INSERT INTO audit_event (at, actor, action, agent_id, version_id, detail) "
    "VALUES (:at, :actor, :action, :agent_id, :version_id, :detail)"
)


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
        return await asyncio.to_thread(method, self, *args, **kwargs)

    return run


def agent_dict(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """An agent row as a plain dict (``extra`` always a dict of its own)."""
    mapping = row._mapping if isinstance(row, Row) else row
    agent = {key: mapping[key] for key in AGENT_KEYS}
    agent["extra"] = dict(agent["extra"] or {})
    return agent


def agent_config(agent: Mapping[str, Any]) -> dict[str, Any]:
    """The live configuration of an agent: the fields a version captures."""
    return {key: agent[key] for key in CONFIG_FIELDS}


def version_dict(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """A version exactly as the spec returns it, plus ``agent_id``."""
    mapping = row._mapping if isinstance(row, Row) else row
    return {key: mapping[key] for key in VERSION_KEYS}


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
    """Agents and their versions, on one database (SQLite file or SQLAlchemy URL)."""

    def __init__(
        self,
        db_url: str | None = None,
        user: str | None = None,
        *,
        read_only: bool = False,
        database: Database | None = None,
        clock: Callable[[], str] = utc_now,
    ) -> None:
        """Open ``db_url`` (a path or SQLAlchemy URL; the per-user database by default).

        ``clock`` gives the time written into new rows; the demo uses it to lay
        a history over past weeks.
        """
        self.user = check_text("user", (user or "").strip() or default_user(), required=True)
        self.db = database or open_database(db_url, read_only=read_only)
        self.clock = clock

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
        self.db.close()

    # -- agents -------------------------------------------------------------

    @_in_thread
    def create_agent(self, data: Mapping[str, Any]) -> dict[str, Any]:
        fields = validate_new_agent(data)
        now = self.clock()
        agent_id = new_agent_id()
        with self.db.writing() as session:
            session.execute(
                insert(AGENT).values(
                    id=agent_id, **fields, created_by=self.user, created_at=now, updated_at=now, last_version_number=0
                )
            )
            self._audit(session, "agent.create", agent_id, detail={"name": fields["name"]})
            return self._describe(session, self._agent(session, agent_id))

    @_in_thread
    def get(self, agent_id: str) -> dict[str, Any]:
        with self.db.reading() as session:
            return self._describe(session, self._agent(session, agent_id))

    @_in_thread
    def list_agents(self) -> list[dict[str, Any]]:
        """Every agent, by name, with its version count and unsaved-changes flag."""
        count = (
            select(func.count()).select_from(VERSION).where(VERSION.c.agent_id == AGENT.c.id).scalar_subquery()
        )
        newest = (
            select(VERSION.c.config_snapshot)
            .where(VERSION.c.agent_id == AGENT.c.id)
            .order_by(_NEWEST_FIRST)
            .limit(1)
            .scalar_subquery()
        )
        newest_number = (
            select(func.max(VERSION.c.version_number)).where(VERSION.c.agent_id == AGENT.c.id).scalar_subquery()
        )
        query = select(
            *_AGENT_COLUMNS,
            count.label("version_count"),
            newest_number.label("latest_version"),
            newest.label("latest_snapshot"),
        ).order_by(func.lower(AGENT.c.name), AGENT.c.id)
        with self.db.reading() as session:
            return [
                _described(agent_dict(row), row.version_count, row.latest_version, row.latest_snapshot)
                for row in session.execute(query)
            ]

    @_in_thread
    def find_agent(self, ref: str) -> dict[str, Any]:
        """An agent by id, or by name when exactly one agent has that name."""
        with self.db.reading() as session:
            return self._describe(session, self._find_agent(session, ref))

    @_in_thread
    def update(self, agent_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        fields = validate_fields(data)
        with self.db.writing() as session:
            agent = self._agent(session, agent_id)
            self._apply(session, agent, fields)
            return self._describe(session, agent)

    @_in_thread
    def update_agent_with_version(self, agent_id: str, data: Mapping[str, Any], reason: str) -> dict[str, Any]:
        """The spec's automatic versioning: snapshot as ``Auto: <reason>``, then update.

        Both happen in one transaction, and nothing happens when ``data`` is invalid.
        """
        fields = validate_fields(data)
        check_text("reason", reason)
        with self.db.writing() as session:
            agent = self._agent(session, agent_id)
            self._snapshot(session, agent, f"Auto: {reason}")
            self._apply(session, agent, fields)
            return self._describe(session, agent)

    # -- versions -----------------------------------------------------------

    @_in_thread
    def create_version(self, agent_id: str, changelog: str | None = None) -> dict[str, Any]:
        if changelog is not None:
            check_text("changelog", changelog)
        with self.db.writing() as session:
            return self._snapshot(session, self._agent(session, agent_id), changelog or None)

    @_in_thread
    def get_versions(self, agent_id: str, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Versions newest first. All of them unless a page (``limit``/``offset``) is asked for."""
        with self.db.reading() as session:
            self._check_agent(session, agent_id)
            return [version_dict(row) for row in _page(session, agent_id, limit, offset)]

    @_in_thread
    def get_version(self, version_id: str) -> dict[str, Any]:
        with self.db.reading() as session:
            return self._version(session, version_id)

    @_in_thread
    def find_version(self, agent_id: str, ref: str | int) -> dict[str, Any]:
        """A version of an agent by number (``3``, ``"v3"``) or by id."""
        with self.db.reading() as session:
            return self._find_version(session, self._agent(session, agent_id), ref)

    @_in_thread
    def get_timeline(self, agent_id: str, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Versions newest first for display: no snapshot text, but markers.

        Each entry has the version's keys but ``config_snapshot``, plus
        ``matches_live`` (the live config equals it) and ``damaged`` (the reason
        the snapshot cannot be read, or None).
        """
        with self.db.reading() as session:
            live = agent_config(self._agent(session, agent_id))
            live_text = snapshot_json(live)
            timeline = []
            for row in _page(session, agent_id, limit, offset):
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
        with self.db.writing() as session:
            agent = self._agent(session, agent_id)
            version = self._version(session, version_id)
            if version["agent_id"] != agent["id"]:
                raise VersionOfAnotherAgent(version["id"], agent["id"])
            label = f"v{version['version_number']}"
            config = parse_snapshot(version["config_snapshot"], label)
            saved = None
            if self._has_unsaved_changes(session, agent):
                saved = self._snapshot(session, agent, f"Auto: before rollback to {label}", audit=False)
            self._apply(session, agent, config, audit=False)
            self._audit(
                session,
                "version.rollback",
                agent["id"],
                version["id"],
                {
                    "to_version": version["version_number"],
                    "saved_as_version": saved["version_number"] if saved else None,
                    "saved_version_id": saved["id"] if saved else None,
                },
            )
            described = self._describe(session, agent)
            described["saved_as_version"] = saved["version_number"] if saved else None
            return described

    @_in_thread
    def delete_version(self, version_id: str) -> None:
        with self.db.writing() as session:
            version = self._version(session, version_id)
            session.execute(delete(VERSION).where(VERSION.c.id == version_id))
            detail = {"version_number": version["version_number"], "changelog": version["changelog"]}
            self._audit(session, "version.delete", version["agent_id"], version["id"], detail)

    @_in_thread
    def prune_preview(self, agent_id: str, keep: int = 10) -> list[dict[str, Any]]:
        """The versions ``cleanup_old_versions(agent_id, keep)`` would delete, newest first.

        Each is a version dict plus ``matches_live``, so a confirmation can say
        when the version the live config equals is among them.
        """
        _check_keep(keep)
        with self.db.reading() as session:
            live = agent_config(self._agent(session, agent_id))
            live_text = snapshot_json(live)
            threshold = self._keep_threshold(session, agent_id, keep)
            if threshold is None:
                return []
            query = (
                select(*_VERSION_COLUMNS)
                .where(VERSION.c.agent_id == agent_id, VERSION.c.version_number < threshold)
                .order_by(_NEWEST_FIRST)
            )
            doomed = []
            for row in session.execute(query):
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
        with self.db.writing() as session:
            self._check_agent(session, agent_id)
            threshold = self._keep_threshold(session, agent_id, keep)
            if threshold is None:
                return 0
            doomed = [VERSION.c.agent_id == agent_id, VERSION.c.version_number < threshold]
            if newest_to_delete is not None:
                doomed.append(VERSION.c.version_number <= newest_to_delete)
            oldest, newest = session.execute(
                select(func.min(VERSION.c.version_number), func.max(VERSION.c.version_number)).where(*doomed)
            ).one()
            if oldest is None:
                return 0
            deleted = session.execute(delete(VERSION).where(*doomed)).rowcount
            self._audit(
                session,
                "version.prune",
                agent_id,
                detail={"keep": keep, "deleted": deleted, "oldest_deleted": oldest, "newest_deleted": newest},
            )
            return deleted

    # -- comparing ----------------------------------------------------------

    @_in_thread
    def compare_versions(self, version_id_1: str, version_id_2: str) -> dict[str, Any]:
        """What changed from the first version to the second."""
        with self.db.reading() as session:
            old = self._version(session, version_id_1)
            new = self._version(session, version_id_2)
        return _comparison(_side_of_version(old), _side_of_version(new))

    @_in_thread
    def compare_with_live(self, agent_id: str, version_id: str) -> dict[str, Any]:
        """What changed from a version to the agent's live config."""
        with self.db.reading() as session:
            agent = self._agent(session, agent_id)
            version = self._version(session, version_id)
        if version["agent_id"] != agent["id"]:
            raise VersionOfAnotherAgent(version["id"], agent["id"])
        return _comparison(_side_of_version(version), _side_of_live(agent))

    @_in_thread
    def compare_with_previous(self, version_id: str) -> dict[str, Any]:
        """What a version changed against the version before it (or against nothing)."""
        with self.db.reading() as session:
            new = self._version(session, version_id)
            previous = session.execute(
                select(*_VERSION_COLUMNS)
                .where(VERSION.c.agent_id == new["agent_id"], VERSION.c.version_number < new["version_number"])
                .order_by(_NEWEST_FIRST)
                .limit(1)
            ).first()
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
        query = select(AUDIT).order_by(AUDIT.c.id.desc()).limit(limit)
        if agent_id is not None:
            query = query.where(AUDIT.c.agent_id == agent_id)
        with self.db.reading() as session:
            return [
                {**row._asdict(), "detail": json.loads(row.detail)} for row in session.execute(query)
            ]

    @_in_thread
    def change_marker(self) -> int:
        """A number that grows with every committed mutation, by any process.

        Every mutation appends an audit event, so the newest event's id is a
        cheap way for a screen to see that something changed.
        """
        with self.db.reading() as session:
            return session.execute(select(func.max(AUDIT.c.id))).scalar() or 0

    # -- internals (run inside a transaction) --------------------------------

    def _agent(self, session: Connection, agent_id: str) -> dict[str, Any]:
        row = session.execute(_SELECT_AGENT, {"id": agent_id}).first() if isinstance(agent_id, str) else None
        if row is None:
            raise AgentNotFound(str(agent_id))
        return agent_dict(row)

    def _check_agent(self, session: Connection, agent_id: str) -> None:
        found = isinstance(agent_id, str) and session.execute(_AGENT_EXISTS, {"id": agent_id}).first()
        if not found:
            raise AgentNotFound(str(agent_id))

    def _find_agent(self, session: Connection, ref: str) -> dict[str, Any]:
        if not _storable(ref):
            raise AgentNotFound(repr(ref)[1:-1])
        by_id = session.execute(select(*_AGENT_COLUMNS).where(AGENT.c.id == ref)).first()
        if by_id is not None:
            return agent_dict(by_id)
        named = session.execute(select(*_AGENT_COLUMNS).where(AGENT.c.name == ref)).all()
        if not named:
            # Case-insensitively, in Python: SQLite's lower() knows only ASCII.
            folded = ref.casefold()
            ids = [row.id for row in session.execute(select(AGENT.c.id, AGENT.c.name)) if row.name.casefold() == folded]
            named = session.execute(select(*_AGENT_COLUMNS).where(AGENT.c.id.in_(ids))).all() if ids else []
        if len(named) > 1:
            raise AmbiguousAgent(ref, [row.id for row in named])
        if not named:
            raise AgentNotFound(ref)
        return agent_dict(named[0])

    def _version(self, session: Connection, version_id: str) -> dict[str, Any]:
        row = None
        if isinstance(version_id, str):
            row = session.execute(select(*_VERSION_COLUMNS).where(VERSION.c.id == version_id)).first()
        if row is None:
            raise VersionNotFound(str(version_id))
        return version_dict(row)

    def _find_version(self, session: Connection, agent: Mapping[str, Any], ref: str | int) -> dict[str, Any]:
        if not _storable(str(ref)):
            raise VersionNotFound(repr(str(ref))[1:-1], agent["name"])
        match = _VERSION_REF.match(str(ref).strip())
        if match:
            number = int(match.group(1))
            if number > SQLITE_MAX_INTEGER:
                raise VersionNotFound(f"v{number}", agent["name"])
            row = session.execute(
                select(*_VERSION_COLUMNS).where(VERSION.c.agent_id == agent["id"], VERSION.c.version_number == number)
            ).first()
            if row is None:
                raise VersionNotFound(f"v{number}", agent["name"])
            return version_dict(row)
        row = session.execute(select(*_VERSION_COLUMNS).where(VERSION.c.id == str(ref))).first()
        if row is None:
            raise VersionNotFound(str(ref), agent["name"])
        if row.agent_id != agent["id"]:
            raise VersionOfAnotherAgent(row.id, agent["id"])
        return version_dict(row)

    def _newest_snapshot(self, session: Connection, agent_id: str) -> str | None:
        return session.execute(_NEWEST_SNAPSHOT, {"agent_id": agent_id}).scalar()

    def _has_unsaved_changes(self, session: Connection, agent: Mapping[str, Any]) -> bool:
        newest = self._newest_snapshot(session, agent["id"])
        return _unsaved(agent, newest)

    def _snapshot(
        self, session: Connection, agent: dict[str, Any], changelog: str | None, *, audit: bool = True
    ) -> dict[str, Any]:
        """Save the live config as the next version (the write lock is held).

        The number comes from the agent's counter, raised past any number a
        row written by another tool may already have, in the same statement.
        """
        number = session.execute(_NEXT_NUMBER, {"id": agent["id"]}).scalar_one()
        version = {
            "id": new_version_id(),
            "agent_id": agent["id"],
            "version_number": number,
            "config_snapshot": snapshot_json(agent_config(agent)),
            "changelog": changelog,
            "created_by": self.user,
            "created_at": self.clock(),
        }
        session.execute(_INSERT_VERSION, version)
        if audit:
            self._audit(session, "version.create", agent["id"], version["id"], {"version_number": number})
        return version

    def _apply(
        self, session: Connection, agent: dict[str, Any], fields: Mapping[str, Any], *, audit: bool = True
    ) -> None:
        """Write the fields that differ into the agent row (and into ``agent``)."""
        changed = sorted(key for key, value in fields.items() if agent[key] != value)
        if not changed:
            return
        values = {key: dict(fields[key]) if key == "extra" else fields[key] for key in changed}
        values["updated_at"] = self.clock()
        session.execute(update(AGENT).where(AGENT.c.id == agent["id"]).values(**values))
        agent.update(values)
        if audit:
            self._audit(session, "agent.update", agent["id"], detail={"fields": changed})

    def _audit(
        self,
        session: Connection,
        action: str,
        agent_id: str | None,
        version_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        session.execute(
            _INSERT_AUDIT,
            {
                "at": self.clock(),
                "actor": self.user,
                "action": action,
                "agent_id": agent_id,
                "version_id": version_id,
                "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
            },
        )

    def _keep_threshold(self, session: Connection, agent_id: str, keep: int) -> int | None:
        """The number of the oldest version to keep, or None when nothing goes."""
        return session.execute(
            select(VERSION.c.version_number)
            .where(VERSION.c.agent_id == agent_id)
            .order_by(_NEWEST_FIRST)
            .offset(keep - 1)
            .limit(1)
        ).scalar()

    def _describe(self, session: Connection, agent: dict[str, Any]) -> dict[str, Any]:
        """The agent dict, plus ``version_count``, ``latest_version`` and ``unsaved_changes``."""
        count, newest = session.execute(_COUNT_VERSIONS, {"agent_id": agent["id"]}).one()
        return _described(agent, count, newest, self._newest_snapshot(session, agent["id"]))


def _page(session: Connection, agent_id: str, limit: int | None, offset: int) -> list[Row[Any]]:
    """A page of an agent's versions, newest first (``limit`` None: all)."""
    bounds = {"agent_id": agent_id, "limit": -1 if limit is None else limit, "offset": offset}
    return session.execute(_VERSION_PAGE, bounds).all()


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


__all__ = ["AgentService", "EDITABLE_FIELDS", "LIVE", "default_user"]
