"""AgentService: every operation of the spec, the only way into the data.

Each operation is one transaction and returns plain dicts shaped like the
spec's JSON. The methods are ``async`` as in the spec; the database work runs
in a worker thread, so an event loop (the TUI's) is never blocked by it.
Errors are the types in :mod:`kaizen_tui.errors`.
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

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from kaizen_tui.config import (
    CONFIG_FIELDS,
    EDITABLE_FIELDS,
    config_hash,
    loose_snapshot,
    parse_snapshot,
    snapshot_json,
    snapshot_problem,
    validate_fields,
    validate_new_agent,
)
from kaizen_tui.db import Database, open_database
from kaizen_tui.diff import compare_configs, is_long_text, unified_text_diff
from kaizen_tui.errors import (
    AgentNotFound,
    AmbiguousAgent,
    DamagedSnapshot,
    InvalidKeep,
    InvalidValue,
    VersionNotFound,
    VersionOfAnotherAgent,
)
from kaizen_tui.models import Agent, AgentVersion, AuditEvent, utc_now

P = ParamSpec("P")
R = TypeVar("R")

VERSION_KEYS = ("id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at")
LIVE = "live"
_VERSION_REF = re.compile(r"^[vV]?(\d+)$")


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


def agent_dict(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "description": agent.description,
        "agent_type": agent.agent_type,
        "status": agent.status,
        "system_prompt": agent.system_prompt,
        "model_id": agent.model_id,
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
        "extra": dict(agent.extra or {}),
        "created_by": agent.created_by,
        "created_at": agent.created_at,
        "updated_at": agent.updated_at,
    }


def agent_config(agent: Agent | Mapping[str, Any]) -> dict[str, Any]:
    """The live configuration of an agent: the fields a version captures."""
    if isinstance(agent, Agent):
        agent = agent_dict(agent)
    return {key: agent[key] for key in CONFIG_FIELDS}


def version_dict(version: AgentVersion) -> dict[str, Any]:
    """A version exactly as the spec returns it, plus ``agent_id``."""
    return {key: getattr(version, key) for key in VERSION_KEYS}


def _snapshot_hash(snapshot: str) -> str | None:
    """The fingerprint of a stored snapshot, or None when it is damaged.

    Computed from the text every time rather than stored: another tool may
    have rewritten the text, and parsing a snapshot costs microseconds.
    """
    try:
        return config_hash(parse_snapshot(snapshot))
    except DamagedSnapshot:
        return None


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
        self.db = database or open_database(db_url, read_only=read_only)
        self.user = (user or "").strip() or default_user()
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
        with self.db.writing() as session:
            agent = Agent(**fields, created_by=self.user, created_at=now, updated_at=now)
            session.add(agent)
            session.flush()
            self._audit(session, "agent.create", agent.id, detail={"name": agent.name})
            return self._describe(session, agent)

    @_in_thread
    def get(self, agent_id: str) -> dict[str, Any]:
        with self.db.reading() as session:
            return self._describe(session, self._agent(session, agent_id))

    @_in_thread
    def list_agents(self) -> list[dict[str, Any]]:
        """Every agent, by name, with its version count and unsaved-changes flag."""
        with self.db.reading() as session:
            agents = session.exec(select(Agent).order_by(func.lower(Agent.name), Agent.id)).all()
            stats = self._version_stats(session, None)
            return [self._describe(session, agent, stats.get(agent.id)) for agent in agents]

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
        with self.db.writing() as session:
            agent = self._agent(session, agent_id)
            self._snapshot(session, agent, f"Auto: {reason}")
            self._apply(session, agent, fields)
            return self._describe(session, agent)

    # -- versions -----------------------------------------------------------

    @_in_thread
    def create_version(self, agent_id: str, changelog: str | None = None) -> dict[str, Any]:
        if changelog is not None and not isinstance(changelog, str):
            raise InvalidValue("changelog", "must be text")
        with self.db.writing() as session:
            agent = self._agent(session, agent_id)
            return version_dict(self._snapshot(session, agent, changelog or None))

    @_in_thread
    def get_versions(self, agent_id: str, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Versions newest first. All of them unless a page (``limit``/``offset``) is asked for."""
        with self.db.reading() as session:
            self._agent(session, agent_id)
            query = (
                select(AgentVersion)
                .where(AgentVersion.agent_id == agent_id)
                .order_by(col(AgentVersion.version_number).desc())
                .offset(offset)
            )
            if limit is not None:
                query = query.limit(limit)
            return [version_dict(version) for version in session.exec(query)]

    @_in_thread
    def get_version(self, version_id: str) -> dict[str, Any]:
        with self.db.reading() as session:
            return version_dict(self._version(session, version_id))

    @_in_thread
    def find_version(self, agent_id: str, ref: str | int) -> dict[str, Any]:
        """A version of an agent by number (``3``, ``"v3"``) or by id."""
        with self.db.reading() as session:
            agent = self._agent(session, agent_id)
            return version_dict(self._find_version(session, agent, ref))

    @_in_thread
    def get_timeline(self, agent_id: str, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Versions newest first for display: no snapshot text, but markers.

        Each entry has the version's keys but ``config_snapshot``, plus
        ``matches_live`` (the live config equals it) and ``damaged`` (the reason
        the snapshot cannot be read, or None).
        """
        with self.db.reading() as session:
            agent = self._agent(session, agent_id)
            live = config_hash(agent_config(agent))
            query = (
                select(AgentVersion)
                .where(AgentVersion.agent_id == agent_id)
                .order_by(col(AgentVersion.version_number).desc())
                .offset(offset)
            )
            if limit is not None:
                query = query.limit(limit)
            timeline = []
            for version in session.exec(query):
                entry = version_dict(version)
                snapshot = entry.pop("config_snapshot")
                try:
                    entry["matches_live"] = config_hash(parse_snapshot(snapshot)) == live
                    entry["damaged"] = None
                except DamagedSnapshot as error:
                    entry["matches_live"] = False
                    entry["damaged"] = error.reason
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
            if version.agent_id != agent.id:
                raise VersionOfAnotherAgent(version.id, agent.id)
            label = f"v{version.version_number}"
            config = parse_snapshot(version.config_snapshot, label)
            saved = None
            if self._has_unsaved_changes(session, agent):
                saved = self._snapshot(session, agent, f"Auto: before rollback to {label}", audit=False)
            self._apply(session, agent, config, audit=False)
            self._audit(
                session,
                "version.rollback",
                agent.id,
                version.id,
                {
                    "to_version": version.version_number,
                    "saved_as_version": saved.version_number if saved else None,
                    "saved_version_id": saved.id if saved else None,
                },
            )
            return self._describe(session, agent)

    @_in_thread
    def delete_version(self, version_id: str) -> None:
        with self.db.writing() as session:
            version = self._version(session, version_id)
            detail = {"version_number": version.version_number, "changelog": version.changelog}
            session.delete(version)
            self._audit(session, "version.delete", version.agent_id, version.id, detail)

    @_in_thread
    def prune_preview(self, agent_id: str, keep: int = 10) -> list[dict[str, Any]]:
        """The versions ``cleanup_old_versions(agent_id, keep)`` would delete, newest first."""
        _check_keep(keep)
        with self.db.reading() as session:
            self._agent(session, agent_id)
            threshold = self._keep_threshold(session, agent_id, keep)
            if threshold is None:
                return []
            query = (
                select(AgentVersion)
                .where(AgentVersion.agent_id == agent_id, AgentVersion.version_number < threshold)
                .order_by(col(AgentVersion.version_number).desc())
            )
            return [version_dict(version) for version in session.exec(query)]

    @_in_thread
    def cleanup_old_versions(self, agent_id: str, keep: int = 10) -> int:
        """Keep the ``keep`` newest versions, delete the rest in one statement; return how many."""
        _check_keep(keep)
        with self.db.writing() as session:
            self._agent(session, agent_id)
            threshold = self._keep_threshold(session, agent_id, keep)
            if threshold is None:
                return 0
            doomed = (AgentVersion.agent_id == agent_id, AgentVersion.version_number < threshold)
            oldest, newest = session.exec(
                select(func.min(AgentVersion.version_number), func.max(AgentVersion.version_number)).where(*doomed)
            ).one()
            if oldest is None:
                return 0
            deleted = session.exec(delete(AgentVersion).where(*doomed)).rowcount  # type: ignore[call-overload]
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
            if version.agent_id != agent.id:
                raise VersionOfAnotherAgent(version.id, agent.id)
            return _comparison(_side_of_version(version), _side_of_live(agent))

    @_in_thread
    def compare_with_previous(self, version_id: str) -> dict[str, Any]:
        """What a version changed against the version before it (or against nothing)."""
        with self.db.reading() as session:
            new = self._version(session, version_id)
            previous = session.exec(
                select(AgentVersion)
                .where(AgentVersion.agent_id == new.agent_id, AgentVersion.version_number < new.version_number)
                .order_by(col(AgentVersion.version_number).desc())
                .limit(1)
            ).first()
            old_side = _side_of_version(previous) if previous else {"label": "nothing", "config": {}, "damaged": None}
            return _comparison(old_side, _side_of_version(new))

    # -- audit and change detection -------------------------------------------

    @_in_thread
    def audit_log(self, agent_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest audit events (of one agent, or all), newest first."""
        with self.db.reading() as session:
            query = select(AuditEvent).order_by(col(AuditEvent.id).desc()).limit(limit)
            if agent_id is not None:
                query = query.where(AuditEvent.agent_id == agent_id)
            return [
                {
                    "id": event.id,
                    "at": event.at,
                    "actor": event.actor,
                    "action": event.action,
                    "agent_id": event.agent_id,
                    "version_id": event.version_id,
                    "detail": json.loads(event.detail),
                }
                for event in session.exec(query)
            ]

    @_in_thread
    def change_marker(self) -> int:
        """A number that grows with every committed mutation, by any process.

        Every mutation appends an audit event, so the newest event's id is a
        cheap way for a screen to see that something changed.
        """
        with self.db.reading() as session:
            return session.exec(select(func.max(AuditEvent.id))).one() or 0

    # -- internals (run inside a transaction) --------------------------------

    def _agent(self, session: Session, agent_id: str) -> Agent:
        agent = session.get(Agent, agent_id) if isinstance(agent_id, str) else None
        if agent is None:
            raise AgentNotFound(str(agent_id))
        return agent

    def _find_agent(self, session: Session, ref: str) -> Agent:
        agent = session.get(Agent, ref)
        if agent is not None:
            return agent
        named = session.exec(select(Agent).where(Agent.name == ref)).all()
        if not named:
            named = session.exec(select(Agent).where(func.lower(Agent.name) == ref.lower())).all()
        if len(named) > 1:
            raise AmbiguousAgent(ref, [agent.id for agent in named])
        if not named:
            raise AgentNotFound(ref)
        return named[0]

    def _version(self, session: Session, version_id: str) -> AgentVersion:
        version = session.get(AgentVersion, version_id) if isinstance(version_id, str) else None
        if version is None:
            raise VersionNotFound(str(version_id))
        return version

    def _find_version(self, session: Session, agent: Agent, ref: str | int) -> AgentVersion:
        match = _VERSION_REF.match(str(ref).strip())
        if match:
            number = int(match.group(1))
            version = session.exec(
                select(AgentVersion).where(AgentVersion.agent_id == agent.id, AgentVersion.version_number == number)
            ).first()
            if version is None:
                raise VersionNotFound(f"v{number}", agent.name)
            return version
        version = session.get(AgentVersion, str(ref))
        if version is None:
            raise VersionNotFound(str(ref), agent.name)
        if version.agent_id != agent.id:
            raise VersionOfAnotherAgent(version.id, agent.id)
        return version

    def _newest_version(self, session: Session, agent_id: str) -> AgentVersion | None:
        return session.exec(
            select(AgentVersion)
            .where(AgentVersion.agent_id == agent_id)
            .order_by(col(AgentVersion.version_number).desc())
            .limit(1)
        ).first()

    def _has_unsaved_changes(self, session: Session, agent: Agent) -> bool:
        newest = self._newest_version(session, agent.id)
        return newest is None or _snapshot_hash(newest.config_snapshot) != config_hash(agent_config(agent))

    def _snapshot(self, session: Session, agent: Agent, changelog: str | None, *, audit: bool = True) -> AgentVersion:
        """Save the live config as the next version (the write lock is held)."""
        highest = session.exec(
            select(func.max(AgentVersion.version_number)).where(AgentVersion.agent_id == agent.id)
        ).one()
        number = max(agent.last_version_number, highest or 0) + 1
        agent.last_version_number = number
        config = agent_config(agent)
        version = AgentVersion(
            agent_id=agent.id,
            version_number=number,
            config_snapshot=snapshot_json(config),
            changelog=changelog,
            created_by=self.user,
            created_at=self.clock(),
        )
        session.add(agent)
        session.add(version)
        session.flush()
        if audit:
            self._audit(session, "version.create", agent.id, version.id, {"version_number": number})
        return version

    def _apply(self, session: Session, agent: Agent, fields: Mapping[str, Any], *, audit: bool = True) -> None:
        changed = sorted(key for key, value in fields.items() if getattr(agent, key) != value)
        for key in changed:
            # A new dict object: SQLAlchemy does not see in-place edits of JSON.
            setattr(agent, key, dict(fields[key]) if key == "extra" else fields[key])
        if changed:
            agent.updated_at = self.clock()
            session.add(agent)
            session.flush()
        if audit and changed:
            self._audit(session, "agent.update", agent.id, detail={"fields": changed})

    def _audit(
        self,
        session: Session,
        action: str,
        agent_id: str | None,
        version_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        session.add(
            AuditEvent(
                at=self.clock(),
                actor=self.user,
                action=action,
                agent_id=agent_id,
                version_id=version_id,
                detail=json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
            )
        )

    def _keep_threshold(self, session: Session, agent_id: str, keep: int) -> int | None:
        """The number of the oldest version to keep, or None when nothing goes."""
        return session.exec(
            select(AgentVersion.version_number)
            .where(AgentVersion.agent_id == agent_id)
            .order_by(col(AgentVersion.version_number).desc())
            .offset(keep - 1)
            .limit(1)
        ).first()

    def _version_stats(self, session: Session, agent_id: str | None) -> dict[str, dict[str, Any]]:
        """Per agent: how many versions, the newest number and the newest's fingerprint."""
        counts = select(
            AgentVersion.agent_id,
            func.count().label("count"),
            func.max(AgentVersion.version_number).label("newest"),
        ).group_by(AgentVersion.agent_id)
        if agent_id is not None:
            counts = counts.where(AgentVersion.agent_id == agent_id)
        newest = counts.subquery()
        rows = session.exec(
            select(newest.c.agent_id, newest.c.count, newest.c.newest, AgentVersion.config_snapshot).join(
                AgentVersion,
                (AgentVersion.agent_id == newest.c.agent_id) & (AgentVersion.version_number == newest.c.newest),
            )
        ).all()
        return {
            row[0]: {"version_count": row[1], "latest_version": row[2], "latest_hash": _snapshot_hash(row[3])}
            for row in rows
        }

    def _describe(self, session: Session, agent: Agent, stats: dict[str, Any] | None = None) -> dict[str, Any]:
        """The agent dict, plus ``version_count``, ``latest_version`` and ``unsaved_changes``."""
        if stats is None:
            stats = self._version_stats(session, agent.id).get(agent.id)
        stats = stats or {"version_count": 0, "latest_version": None, "latest_hash": None}
        described = agent_dict(agent)
        described["version_count"] = stats["version_count"]
        described["latest_version"] = stats["latest_version"]
        described["unsaved_changes"] = stats["latest_hash"] != config_hash(agent_config(agent))
        return described


def _check_keep(keep: object) -> None:
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise InvalidKeep(keep)


def _side_of_version(version: AgentVersion) -> dict[str, Any]:
    label = f"v{version.version_number}"
    try:
        config = loose_snapshot(version.config_snapshot, label)
        damaged = snapshot_problem(version.config_snapshot)
    except DamagedSnapshot as error:
        config, damaged = {}, error.reason
    return {
        "label": label,
        "version_id": version.id,
        "version_number": version.version_number,
        "config": config,
        "damaged": damaged,
    }


def _side_of_live(agent: Agent) -> dict[str, Any]:
    return {"label": LIVE, "version_id": None, "version_number": None, "config": agent_config(agent), "damaged": None}


def _comparison(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The comparison dict: both sides' labels, the field changes, text diffs, warnings."""
    old_config, new_config = old.pop("config"), new.pop("config")
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
        "identical": not changes,
        "changes": changes,
        "text_diffs": text_diffs,
        "warnings": warnings,
    }


__all__ = ["AgentService", "EDITABLE_FIELDS", "LIVE", "default_user"]
