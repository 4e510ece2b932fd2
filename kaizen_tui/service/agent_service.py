"""AgentService: every operation of the spec and every rule, the only way into the data.

Each operation is one transaction of the store (``kaizen_tui.store``) and
returns plain dicts shaped like the spec's JSON. The methods are synchronous:
each face owns its concurrency (the TUI's workers, FastAPI's thread pool, the
CLI's direct calls); a method may be called from any thread, several at once.
The spec's ``await service.create_version(...)`` is
:class:`~kaizen_tui.service.async_face.AsyncAgentService`, a thin async face
over this one. Errors are the types of :mod:`kaizen_tui.core.errors`, each
with a stable ``code``.

The rules live here and nowhere else: numbering, "saved" as a fact (a version
has the live config's content hash), rollback and prune *plans* that every
face presents and then carries out with the plan's token (so a preview that
went stale is refused, never silently acted on), compare-and-swap on the
agent's revision, three-way merges of edits, unique names, deletion of
archived agents. Every mutation takes the ``actor`` it is done for (a server
serves many people); the service's own user is the default.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kaizen_tui.core.audit_text import event_summary
from kaizen_tui.core.comparison import LIVE, comparison, live_side, nothing_side, version_side
from kaizen_tui.core.diff import same_value
from kaizen_tui.core.errors import (
    AgentNotArchived,
    AgentNotFound,
    AmbiguousAgent,
    Conflict,
    DamagedSnapshot,
    EditConflict,
    InvalidKeep,
    InvalidValue,
    NameTaken,
    StalePlan,
    UnknownVersionRef,
    VersionLabelled,
    VersionNotFound,
    VersionOfAnotherAgent,
)
from kaizen_tui.core.ids import new_agent_id, new_version_id, utc_now
from kaizen_tui.core.labels import LATEST, check_label
from kaizen_tui.core.merge import merge_fields
from kaizen_tui.core.names import name_key
from kaizen_tui.core.numbers import MAX_INTEGER, version_number, whole_number
from kaizen_tui.core.schema import (
    CONFIG_FIELDS,
    EDITABLE_FIELDS,
    check_new_name,
    check_text,
    content_hash,
    parse_snapshot,
    snapshot_dict,
    snapshot_json,
    validate_fields,
    validate_new_agent,
)
from kaizen_tui.service.labels import LabelOperations
from kaizen_tui.service.tokens import TokenOperations
from kaizen_tui.service.transfer import TransferOperations, file_path
from kaizen_tui.store import Store, Transaction, open_store
from kaizen_tui.store.base import VERSION_COLUMNS

#: A version as the spec returns it, plus ``agent_id``.
VERSION_KEYS = VERSION_COLUMNS
#: An agent as every face shows it (``describe`` adds the version summary).
AGENT_KEYS = (
    "id", "name", "description", "agent_type", "status", "system_prompt", "model_id",
    "temperature", "max_tokens", "extra", "revision", "created_by", "created_at", "updated_at",
)  # fmt: skip
_VERSION_REF = re.compile(r"^[vV]?(\d+)$")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
#: How many agents' configs get_config keeps (a server's agents; bounded against made-up names).
_CONFIG_CACHE_SIZE = 1024
#: How many audit events a conflict message looks back through.
_CONFLICT_LOOKBACK = 50
#: A stale plan's message names at most this many changes (the newest)...
_PLAN_CHANGES_SHOWN = 5
#: ... of at most this many read.
_PLAN_CHANGES_READ = 100
#: How many of the newest audit events :meth:`AgentService.audit_trail` reads to find a deleted agent by name.
DELETED_NAME_LOOKBACK = 100_000
PREVIOUS = "previous"


def default_user() -> str:
    """``KAIZEN_USER``, else the login name of the OS user (over SSH: who is at the keyboard)."""
    user = os.environ.get("KAIZEN_USER", "").strip()
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def agent_sort_key(agent: Mapping[str, Any]) -> tuple[str, str]:
    """Where an agent goes in :meth:`AgentService.list_agents`: by name ignoring ASCII case, then id.

    It is the store's ``ORDER BY lower(name), id`` (SQLite's ``lower`` knows
    only ASCII), so a screen can merge a few fresh agents into a list it has.
    """
    return agent["name"].translate(_ASCII_LOWER), agent["id"]


def agent_config(agent: Mapping[str, Any]) -> dict[str, Any]:
    """The live configuration of an agent: the fields a version captures."""
    return {key: agent[key] for key in CONFIG_FIELDS}


def version_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """A version exactly as the spec returns it, plus ``agent_id``."""
    return {key: row[key] for key in VERSION_KEYS}


def version_label(version: Mapping[str, Any]) -> str:
    return f"v{version['version_number']}"


def _public_agent(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in AGENT_KEYS}


def _version_hash(version: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(the content hash of a stored version, why it is damaged): from the stored hash, or by reading it."""
    stored = version.get("content_hash")
    if stored:
        return stored, None
    try:
        return content_hash(parse_snapshot(version["config_snapshot"])), None
    except DamagedSnapshot as error:
        return None, error.reason


def _labels_by_version(tx: Transaction, agent_id: str) -> dict[str, list[str]]:
    """The agent's labels by the id of the version each names (names sorted)."""
    found: dict[str, list[str]] = {}
    for row in tx.labels(agent_id):
        found.setdefault(row["version_id"], []).append(row["label"])
    return found


def _labelled_below(tx: Transaction, agent_id: str, below: int, at_most: int) -> list[dict[str, Any]]:
    """The versions a prune keeps for their labels (numbered below ``below``, at most ``at_most``), newest first."""
    kept: dict[str, dict[str, Any]] = {}
    for row in tx.labels(agent_id):
        if row["version_number"] < below and row["version_number"] <= at_most:
            entry = kept.setdefault(
                row["version_id"], {"version_number": row["version_number"], "id": row["version_id"], "labels": []}
            )
            entry["labels"].append(row["label"])
    return sorted(kept.values(), key=lambda entry: -entry["version_number"])


def _read_versions(
    rows: Iterable[Mapping[str, Any]], live_hash: str, labelled: Mapping[str, list[str]]
) -> list[dict[str, Any]]:
    """Stored versions as every face lists them: the spec's keys, ``config`` (decoded; None when damaged),
    ``damaged``, ``damaged_reason``, ``matches_live`` and ``labels``."""
    versions = []
    for row in rows:
        entry = version_dict(row)
        config: dict[str, Any] | None
        try:
            config, reason = parse_snapshot(row["config_snapshot"]), None
        except DamagedSnapshot as error:
            config, reason = None, error.reason
        entry["config"] = config
        entry["damaged"] = reason is not None
        entry["damaged_reason"] = reason
        entry["matches_live"] = config is not None and content_hash(config) == live_hash
        entry["labels"] = labelled.get(row["id"], [])
        versions.append(entry)
    return versions


def _plan_id(position: int, *parts: object) -> str:
    """A short token of what a plan says, and of when it was read: ``<digest>.<position>``.

    Equal plans have equal digests (:func:`_plan_digest`); the position is the
    newest audit event the plan was read after, so that a refusal can say
    what changed since.
    """
    text = json.dumps(parts, sort_keys=True, default=str)
    return f"{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}.{position}"


def _plan_digest(plan_id: str) -> str:
    """What a plan said (its token without the position): equal for equal plans."""
    return plan_id.partition(".")[0]


def _plan_position(plan_id: str) -> int | None:
    """The audit position a plan was read at, or None (a token of another form: nothing known)."""
    position = plan_id.partition(".")[2]
    number = whole_number(position)
    if number is None or number > MAX_INTEGER:
        return None  # not one of ours (made up, or from another tool): said as far as known
    return number


def _check_keep(keep: object) -> int:
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= 2**63 - 1:
        raise InvalidKeep(keep)
    return keep


def _check_revision(revision: object) -> int | None:
    if revision is None:
        return None
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise InvalidValue("revision", f"must be a whole number, not {revision!r}")
    return revision


class AgentService(TokenOperations, TransferOperations, LabelOperations):
    """Agents and their versions, in one database (SQLite file by default); the API's tokens; export and import."""

    def __init__(
        self,
        db_url: str | None = None,
        user: str | None = None,
        *,
        read_only: bool = False,
        store: Store | None = None,
        clock: Callable[[], str] = utc_now,
        create: bool = True,
    ) -> None:
        """Open ``db_url`` (a path or ``sqlite:///`` URL; the per-user database by default).

        ``clock`` gives the time written into new rows; the demo uses it to lay
        a history over past weeks. ``create=False`` opens only a database that
        exists (a face that only reads never creates a file from a typo).
        """
        self.user = check_text("user", (user or "").strip() or default_user(), required=True)
        self.store: Store = store or open_store(db_url, read_only=read_only, create=create)
        self.clock = clock
        #: get_config's answers by agent reference, with the change token they were read at.
        self._configs: dict[str, tuple[int, dict[str, Any]]] = {}
        self._resolved = {}

    @property
    def read_only(self) -> bool:
        return self.store.read_only

    @property
    def read_only_reason(self) -> str:
        """Why nothing can be changed ("" when the database is writable)."""
        if not self.store.read_only:
            return ""
        return self.store.read_only_reason or "the database is open read-only"

    @property
    def display_name(self) -> str:
        """The database, as a person knows it (a file's path)."""
        return self.store.display_name

    @property
    def notices(self) -> list[str]:
        """What a person should know about the database (an upgrade shown in memory...)."""
        return self.store.notices

    def close(self) -> None:
        """Close the database.

        The caller first lets its calls under way end (a face owns its threads:
        the TUI's event loop waits for its workers before it returns, and so
        does a server for its requests); one still running meanwhile finishes
        its transaction, and a call after this fails (``DatabaseUnavailable``)
        or opens what it needs anew (SQLite).
        """
        self.store.close()

    def close_discarding_new(self) -> bool:
        """Close, and remove the database file again if opening it created it and nothing was written since.

        For a command that failed (an import refused): it leaves no empty
        database behind. True when a file was removed.
        """
        return self.store.close_and_discard()

    def _actor(self, actor: str | None) -> str:
        if actor is None:
            return self.user
        return check_text("actor", actor.strip(), required=True)

    # -- agents -------------------------------------------------------------

    def create_agent(self, data: Mapping[str, Any], *, actor: str | None = None) -> dict[str, Any]:
        who = self._actor(actor)
        fields = validate_new_agent(data)
        now = self.clock()
        agent = {
            **fields,
            "id": new_agent_id(),
            "created_by": who,
            "created_at": now,
            "updated_at": now,
            "revision": 1,
            "content_hash": content_hash(fields),
            "name_key": name_key(fields["name"]),
        }
        with self.store.writing() as tx:
            self._check_name_free(tx, fields["name"], None)
            tx.insert_agent(agent)
            self._audit(tx, who, "agent.create", agent["id"], detail={"name": fields["name"], "revision": 1})
            return self._describe(tx, self._agent(tx, agent["id"]))

    def get(self, agent_id: str) -> dict[str, Any]:
        with self.store.reading() as tx:
            return self._describe(tx, self._agent(tx, agent_id))

    def list_agents(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every agent (or those of ``ids`` that exist), by name, with its version summary.

        The order is :func:`agent_sort_key`'s.
        """
        with self.store.reading() as tx:
            rows = tx.described_agents(None if ids is None else list(ids))
            agents = [self._summarised(tx, row) for row in rows]
        return agents if ids is None else sorted(agents, key=agent_sort_key)

    def changed_agents(self, since: int, limit: int = 200) -> tuple[int, list[str] | None]:
        """``(marker, ids)``: :meth:`change_marker` now, and the agents changed after ``since``.

        ``since`` is an earlier marker. ``ids`` is None when more than
        ``limit`` agents changed: listing them all is then as quick.
        """
        with self.store.reading() as tx:
            marker = tx.newest_audit_id()
            changed = tx.agents_changed_between(since, marker, limit + 1)
        if len(changed) > limit:
            return marker, None
        return marker, [agent_id for agent_id in changed if agent_id is not None]

    def get_config(self, agent_ref: str) -> dict[str, Any]:
        """The live config an agent runtime loads, in the snapshot's shape, with its content hash.

        ``{"agent_id", "name", "revision", "content_hash", "config"}``; the agent
        by id or name. This is what running agents poll, so the answer is kept
        and given again without a query for as long as the database's change
        token says nobody committed anything since (``store.change_token()``,
        a couple of microseconds on SQLite).
        """
        token = self.store.change_token()
        if token is not None:
            cached = self._configs.get(agent_ref)
            if cached is not None and cached[0] == token:
                return cached[1]
        found = self._read_config(agent_ref)
        if token is not None:
            if len(self._configs) >= _CONFIG_CACHE_SIZE:
                self._configs.clear()
            # The token read before the query: a commit in between makes the next check miss.
            self._configs[agent_ref] = (token, found)
        return found

    def get_config_cached(self, agent_ref: str) -> dict[str, Any] | None:
        """:meth:`get_config`'s answer if it is kept and nobody committed since; else None (then ask get_config).

        Only the change token is read: no transaction, no query of the data.
        A server checks this on its event loop, so the answer agents poll for
        costs no hop to a thread (on PostgreSQL the token is one round trip).
        """
        token = self.store.change_token()
        cached = self._configs.get(agent_ref)
        if token is None or cached is None or cached[0] != token:
            return None
        return cached[1]

    def _read_config(self, agent_ref: str) -> dict[str, Any]:
        with self.store.reading() as tx:
            agent = self._find_agent(tx, agent_ref)
        return {
            "agent_id": agent["id"],
            "name": agent["name"],
            "revision": agent["revision"],
            "content_hash": agent["content_hash"],
            "config": snapshot_dict(agent_config(agent)),
        }

    def find_agent(self, ref: str) -> dict[str, Any]:
        """An agent by id, or by name (ignoring case) when exactly one agent has that name."""
        with self.store.reading() as tx:
            return self._describe(tx, self._find_agent(tx, ref))

    def check_name(self, name: str, *, agent_id: str | None = None) -> None:
        """Raise :class:`NameTaken` if another agent than ``agent_id`` has this name (ignoring case)."""
        with self.store.reading() as tx:
            self._check_name_free(tx, name, agent_id)

    def name_clashes(self) -> list[list[dict[str, Any]]]:
        """Groups of agents whose names clash (a file from before names were unique), each ``{"id", "name"}``."""
        with self.store.reading() as tx:
            unkeyed = tx.agents_without_name_key()
            groups: dict[str, list[dict[str, Any]]] = {}
            for row in unkeyed:
                key = name_key(row["name"])
                if key not in groups:
                    groups[key] = [{"id": other["id"], "name": other["name"]} for other in tx.agents_by_name_key(key)]
                groups[key].append({"id": row["id"], "name": row["name"]})
        return [group for group in groups.values() if len(group) > 1]

    def update(
        self,
        agent_id: str,
        data: Mapping[str, Any],
        *,
        expected_revision: int | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Set fields of the live config or the status; only those given change.

        ``expected_revision``: the revision the caller's change is based on; if
        the agent changed since, :class:`Conflict` says what and who, and
        nothing is written.
        """
        who = self._actor(actor)
        fields = validate_fields(data)
        expected = _check_revision(expected_revision)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            self._check_revision(tx, agent, expected)
            self._apply(tx, who, agent, fields)
            return self._describe(tx, agent)

    def update_agent_with_version(
        self,
        agent_id: str,
        data: Mapping[str, Any],
        reason: str,
        *,
        expected_revision: int | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """The spec's automatic versioning: save the live config as a version (changelog ``reason``), then update.

        The live config is saved first only when no version holds it yet (a
        config is never saved twice); the changelog is ``reason`` as given.
        Both happen in one transaction, and nothing happens when ``data`` is
        invalid. Returns the agent with ``saved_as_version`` (the number of
        the version saved first, or None when one held the live config already)
        and ``held_by_version`` (the version that holds the config as it was
        before the change: the one saved first, or the newest that held it).
        """
        who = self._actor(actor)
        fields = validate_fields(data)
        check_text("reason", reason)
        expected = _check_revision(expected_revision)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            self._check_revision(tx, agent, expected)
            holder = self._newest_holder(tx, agent)
            saved = None if holder is not None else self._snapshot(tx, who, agent, reason)
            self._apply(tx, who, agent, fields)
            described = self._describe(tx, agent)
            described["saved_as_version"] = saved["version_number"] if saved else None
            described["held_by_version"] = (saved or holder or {}).get("version_number")
            return described

    def apply_edit(
        self,
        agent_id: str,
        base: Mapping[str, Any],
        edited: Mapping[str, Any],
        *,
        base_revision: int | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Write what a person changed in an editor, merged with what others wrote meanwhile.

        ``base`` holds the fields as the editor opened them, ``edited`` the
        fields as saved (a field left out is not a change). Only the fields
        the person changed are written; a field someone else changed meanwhile
        and the person did not is kept. When both changed a field differently,
        :class:`EditConflict` lists those fields with both values and nothing
        is written: the person settles them, then calls again with the
        agent as it is now (``error.current``) as the new base.
        ``base_revision`` (the revision the editor opened) lets the message
        say who changed what since.

        Returns ``{"agent": ..., "written": [fields], "kept": [fields], "kept_by": [actors]}``
        (who changed the kept fields since ``base_revision``, as the audit log tells).
        """
        who = self._actor(actor)
        mine = validate_fields(edited)
        opened_at = _check_revision(base_revision)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            theirs = {key: agent[key] for key in EDITABLE_FIELDS}
            merge = merge_fields(base, mine, theirs)
            if merge.conflicts:
                names = ", ".join(conflict["field"] for conflict in merge.conflicts)
                conflicting = {conflict["field"] for conflict in merge.conflicts}
                since = [
                    change
                    for change in self._changes_since(tx, agent, opened_at or 0)
                    if conflicting.intersection(change["fields"])
                ]
                raise EditConflict(
                    f"{agent['name']} was changed meanwhile{_by_whom(since)}: {names} "
                    f"{'was' if len(merge.conflicts) == 1 else 'were'} changed both there and in your edit. "
                    "Nothing was written; choose which values to keep.",
                    conflicts=merge.conflicts,
                    current=self._describe(tx, agent),
                )
            kept_by = (
                sorted(
                    {
                        change["actor"]
                        for change in self._changes_since(tx, agent, opened_at or 0)
                        if set(merge.kept).intersection(change["fields"])
                    }
                )
                if merge.kept and opened_at is not None
                else []
            )
            written = self._apply(tx, who, agent, merge.changes)
            return {"agent": self._describe(tx, agent), "written": written, "kept": merge.kept, "kept_by": kept_by}

    def plan_delete_agent(self, agent_id: str) -> dict[str, Any]:
        """What deleting an agent would do: ``{"agent", "version_count", "refused"}``.

        ``refused`` is None, or ``{"code", "message"}`` when it would be refused
        (the agent is not archived).
        """
        with self.store.reading() as tx:
            agent = self._describe(tx, self._agent(tx, agent_id))
        refused = None
        if agent["status"] != "archived":
            refused = AgentNotArchived(agent["name"], agent["status"]).as_dict()
        return {"agent": agent, "version_count": agent["version_count"], "refused": refused}

    def delete_agent(
        self, agent_id: str, *, expected_revision: int | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        """Delete an archived agent and all its versions, in one transaction.

        Refused (:class:`AgentNotArchived`) unless its status is ``archived``.
        The audit log keeps its name, id and how many versions went.
        """
        who = self._actor(actor)
        expected = _check_revision(expected_revision)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            self._check_revision(tx, agent, expected)
            if agent["status"] != "archived":
                raise AgentNotArchived(agent["name"], agent["status"])
            self._remove_labels_of(tx, who, agent, "the agent was deleted")
            deleted = tx.delete_agent(agent["id"])
            detail = {"name": agent["name"], "versions_deleted": deleted, "revision": agent["revision"]}
            self._audit(tx, who, "agent.delete", agent["id"], detail=detail)
            return {"agent_id": agent["id"], "name": agent["name"], "versions_deleted": deleted}

    # -- versions -----------------------------------------------------------

    def create_version(
        self,
        agent_id: str,
        changelog: str | None = None,
        *,
        expected_revision: int | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Save the live config as the next version.

        ``expected_revision``: the revision of the live config the person saw
        (:meth:`plan_snapshot`'s); if it changed since, :class:`Conflict` says
        what and who, and nothing is saved: a version never holds changes its
        author was not shown.
        """
        who = self._actor(actor)
        if changelog is not None:
            check_text("changelog", changelog)
        expected = _check_revision(expected_revision)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            self._check_revision(tx, agent, expected)
            return self._snapshot(tx, who, agent, changelog or None)

    def plan_snapshot(self, agent_id: str, *, since_revision: int | None = None) -> dict[str, Any]:
        """What saving the live config as a version would save, for a person to see first.

        ``{"agent", "revision", "newest" (the newest version's number, or
        None), "comparison" (newest version -> live config; nothing -> live
        config for a first version), "identical" (the live config equals the
        newest version), "held_by" (the newest version holding the live
        config, or None), "changes"}``. ``changes`` lists who changed the live
        config after ``since_revision`` (what a screen showed before),
        oldest first, as :class:`Conflict` does. Carry it out with
        ``create_version(..., expected_revision=plan["revision"])``.
        """
        since = _check_revision(since_revision)
        with self.store.reading() as tx:
            agent = self._agent(tx, agent_id)
            described = self._describe(tx, agent)
            newest = described["latest_version"]
            row = tx.version_numbered(agent["id"], newest) if newest is not None else None
            holders = tx.versions_with_hash(agent["id"], agent["content_hash"])
            changes = self._changes_since(tx, agent, since) if since is not None and since < agent["revision"] else []
        compared = comparison(version_side(row) if row is not None else nothing_side(), live_side(agent))
        held_by = max((holder["version_number"] for holder in holders), default=None)
        return {
            "agent": described,
            "revision": agent["revision"],
            "newest": newest,
            "comparison": compared,
            "identical": row is not None and compared["identical"],
            "held_by": held_by,
            "changes": changes,
        }

    def create_version_if_changed(
        self, agent_id: str, changelog: str | None = None, *, actor: str | None = None
    ) -> dict[str, Any]:
        """Save the live config as the next version unless a version holds it already; one transaction.

        Returns that version with ``created``: the new version (True), or the
        newest version that holds the live config (False; nothing written).
        """
        who = self._actor(actor)
        if changelog is not None:
            check_text("changelog", changelog)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            holder = self._newest_holder(tx, agent)
            if holder is not None:
                return {**version_dict(holder), "created": False}
            return {**self._snapshot(tx, who, agent, changelog or None), "created": True}

    def get_versions(self, agent_id: str, *, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Versions newest first. All of them unless a page (``limit``/``offset``) is asked for."""
        with self.store.reading() as tx:
            rows = tx.version_page(agent_id, limit, offset)
            # A version belongs to an agent that exists (foreign key): look only when the page is empty.
            if not rows and not tx.agent_exists(agent_id):
                raise self._missing_agent(tx, str(agent_id))
        for row in rows:
            del row["content_hash"]  # in place: the page is the hot path of scripts and the API
        return rows

    def get_versions_with_config(
        self, agent_id: str, *, limit: int | None = None, offset: int = 0, before: str | int | None = None
    ) -> list[dict[str, Any]]:
        """Versions newest first, as :meth:`get_versions` gives them, each read as the service reads it.

        ``before``: only versions older than this one (any version reference:
        number, id, ``latest``, label), the page below it.

        Added to the spec's keys (``config_snapshot`` stays the stored text):
        ``config`` (the snapshot decoded, every field there with defaults
        filled in; None when it is damaged), ``damaged`` (bool),
        ``damaged_reason`` (why it cannot be read, or None),
        ``matches_live`` (the live config equals it) and ``labels``.
        """
        with self.store.reading() as tx:
            agent = self._agent(tx, agent_id)
            live_hash = agent["content_hash"]
            rows = self._version_rows(tx, agent, limit, offset, before)
            labelled = _labels_by_version(tx, agent_id)
        return _read_versions(rows, live_hash, labelled)

    def versions_page(
        self, agent_id: str, *, limit: int | None = None, offset: int = 0, before: int | None = None
    ) -> dict[str, Any]:
        """A page of versions, newest first, as :meth:`get_versions_with_config` reads them, and how to go on.

        ``{"versions", "total" (how many versions the agent has, on every
        page), "next_before" (the ``before`` of the next page; None on the
        last)}``, read in one transaction. ``before`` (a version number)
        gives only older versions: a stable cursor, since numbers only go up
        and are never reused (``offset`` shifts when someone snapshots
        between two pages). Give ``before`` or ``offset``, not both.
        """
        if offset and before is not None:
            raise InvalidValue("offset", "give before or offset, not both (before pages by version number)")
        if before is not None and (isinstance(before, bool) or not isinstance(before, int) or before < 1):
            raise InvalidValue("before", f"must be a version number, not {before!r}")
        wanted = None if limit is None else limit + 1  # one more says whether there is a next page
        with self.store.reading() as tx:
            agent = self._agent(tx, agent_id)
            if before is None:
                rows = tx.version_page(agent["id"], wanted, offset)
            else:  # a cursor, not a reference: the version it names may have been pruned since
                rows = tx.versions_before(agent["id"], before, wanted)
            total = tx.version_summary(agent["id"], agent["content_hash"])[0]
            labelled = _labels_by_version(tx, agent["id"])
        more = limit is not None and len(rows) > limit
        versions = _read_versions(rows[:limit] if more else rows, agent["content_hash"], labelled)
        next_before = versions[-1]["version_number"] if more else None
        return {"versions": versions, "total": total, "next_before": next_before}

    def get_version(self, version_id: str) -> dict[str, Any]:
        with self.store.reading() as tx:
            return version_dict(self._version(tx, version_id))

    def find_version(self, agent_id: str, ref: str | int) -> dict[str, Any]:
        """A version of an agent by any reference: number (``3``, ``"v3"``), id, ``latest`` or a label."""
        with self.store.reading() as tx:
            return version_dict(self._find_version(tx, self._agent(tx, agent_id), ref))

    def get_timeline(
        self, agent_id: str, *, limit: int | None = None, offset: int = 0, before: str | int | None = None
    ) -> list[dict[str, Any]]:
        """Versions newest first for display: no snapshot text, but markers.

        Each entry has the version's keys but ``config_snapshot``, plus
        ``matches_live`` (the live config equals it), ``damaged`` (the reason
        the snapshot cannot be read, or None) and ``labels`` (the names of the
        labels on it, sorted). ``before`` as for :meth:`get_versions_with_config`.
        """
        with self.store.reading() as tx:
            agent = self._agent(tx, agent_id)
            live_hash = agent["content_hash"]
            labelled = _labels_by_version(tx, agent_id)
            timeline = []
            # The texts are read only where no hash is stored (_version_hash reads them then).
            for row in self._version_rows(tx, agent, limit, offset, before, snapshots=False):
                entry = version_dict(row)
                entry.pop("config_snapshot")
                found, entry["damaged"] = _version_hash(row)
                entry["matches_live"] = found is not None and found == live_hash
                entry["labels"] = labelled.get(row["id"], [])
                timeline.append(entry)
            return timeline

    def plan_rollback(self, agent_id: str, version_ref: str | int) -> dict[str, Any]:
        """What rolling back to a version would do, for a person to see first.

        ``{"agent", "version", "comparison" (live config -> version), "identical",
        "auto_save" (the live config is saved first: no version holds it),
        "auto_save_changelog", "refused" (None or {"code", "message"}),
        "revision"}``. Carry it out with ``rollback_to_version(...,
        expected_revision=plan["revision"])``.
        """
        with self.store.reading() as tx:
            agent = self._agent(tx, agent_id)
            version = self._find_version(tx, agent, version_ref)
            described = self._describe(tx, agent)
        label = version_label(version)
        compared = comparison(live_side(agent), version_side(version))
        refused = None
        if compared["to"]["damaged"]:
            refused = DamagedSnapshot(compared["to"]["damaged"], label).as_dict()
        identical = compared["identical"]
        return {
            "agent": described,
            "version": version_dict(version),
            "comparison": compared,
            "identical": identical,
            "auto_save": not identical and refused is None and described["unsaved_changes"],
            "auto_save_changelog": f"Auto: before rollback to {label}",
            "refused": refused,
            "revision": agent["revision"],
        }

    def rollback_to_version(
        self,
        agent_id: str,
        version_id: str,
        *,
        expected_revision: int | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Make the live config equal a version's snapshot; status is left as it is.

        If no version holds the live config, it is first saved as a version
        (``Auto: before rollback to vN``), so a rollback never loses anything;
        a config a version already holds is never saved again. The snapshot is
        validated before anything is written; a version of another agent or a
        damaged one is refused. ``expected_revision`` as for :meth:`update`.
        Returns the agent with ``saved_as_version`` (the auto-saved version's
        number, or None) and ``changed`` (the fields the rollback changed).
        """
        who = self._actor(actor)
        expected = _check_revision(expected_revision)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            version = self._find_version(tx, agent, version_id)
            self._check_revision(tx, agent, expected)
            label = version_label(version)
            config = parse_snapshot(version["config_snapshot"], label)
            changing = [key for key in CONFIG_FIELDS if not same_value(agent[key], config[key])]
            saved = None
            if changing and not self._is_saved(tx, agent):
                saved = self._snapshot(tx, who, agent, f"Auto: before rollback to {label}", audit=False)
            changed = self._apply(tx, who, agent, config, audit=False, restoring=True)
            # Audited even when nothing changed: who asked for it is part of the history.
            self._audit(
                tx,
                who,
                "version.rollback",
                agent["id"],
                version["id"],
                {
                    "to_version": version["version_number"],
                    "saved_as_version": saved["version_number"] if saved else None,
                    "saved_version_id": saved["id"] if saved else None,
                    "fields": changed,
                    "revision": agent["revision"],
                },
            )
            described = self._describe(tx, agent)
            described["saved_as_version"] = saved["version_number"] if saved else None
            described["changed"] = changed
            return described

    def delete_version(self, version_id: str, *, actor: str | None = None) -> None:
        who = self._actor(actor)
        with self.store.writing() as tx:
            version = self._version(tx, version_id)
            labels = [row["label"] for row in tx.labels(version["agent_id"]) if row["version_id"] == version["id"]]
            if labels:
                raise VersionLabelled(version["version_number"], labels)
            tx.delete_version(version["id"])
            detail = {"version_number": version["version_number"], "changelog": version["changelog"]}
            self._audit(tx, who, "version.delete", version["agent_id"], version["id"], detail)

    def plan_prune(self, agent_id: str, keep: int, *, since: str | None = None) -> dict[str, Any]:
        """What keeping the ``keep`` newest versions would delete, for a person to see first.

        ``{"agent", "keep", "delete" (versions newest first, with
        ``matches_live``, without snapshot text), "live_loses_version" (the
        only versions that hold the live config go), "kept_labelled",
        "plan_id", "changes"}``. Carry it out with ``prune(agent_id, keep,
        plan_id=plan["plan_id"])``.

        ``since``: the ``plan_id`` of a plan shown before (to refresh a
        preview). When this plan says something else, ``changes`` lists what
        happened to the agent since that one was read, as far as the audit log
        tells (``{"actor", "at", "action", "fields", "summary"}``, oldest
        first: "set production → v2" by carol); otherwise it is empty.
        """
        _check_keep(keep)
        with self.store.reading() as tx:
            agent = self._agent(tx, agent_id)
            return self._prune_plan(tx, agent, keep, since=since)

    def prune_preview(self, agent_id: str, keep: int = 10) -> list[dict[str, Any]]:
        """The versions ``cleanup_old_versions(agent_id, keep)`` would delete, newest first."""
        return self.plan_prune(agent_id, keep)["delete"]

    def prune(
        self,
        agent_id: str,
        keep: int,
        *,
        plan_id: str | None = None,
        actor: str | None = None,
        archive: str | os.PathLike[str] | None = None,
        overwrite_archive: bool = False,
    ) -> dict[str, Any]:
        """Keep the ``keep`` newest versions and delete the rest, in one transaction.

        With ``plan_id`` (from :meth:`plan_prune`), only if the plan still says
        the same: otherwise :class:`StalePlan` carries the fresh plan and
        nothing is deleted. With ``archive`` (a file), the versions that go are
        first written there, in the same transaction, as an export that
        imports back (see :mod:`kaizen_tui.service.transfer`); an existing file
        is refused (:class:`ArchiveExists`) unless ``overwrite_archive``, and
        if the file cannot be written nothing is deleted. Returns
        ``{"deleted", "oldest_deleted", "newest_deleted", "kept", "kept_labelled",
        "live_loses_version"}`` (the older versions kept for their labels:
        ``version_number``, ``id``, ``labels``, newest first; whether the
        versions that held the live config all went, which the plan's key of
        that name says beforehand), and with ``archive`` also ``"archive"``: ``{"file", "versions",
        "audit_events"}``, or None when nothing went and no file was written.
        """
        who = self._actor(actor)
        _check_keep(keep)
        archive_path = None if archive is None else file_path(archive)
        with self.store.writing() as tx:
            agent = self._agent(tx, agent_id)
            if plan_id is not None:
                fresh = self._prune_plan(tx, agent, keep, since=plan_id)
                if _plan_digest(fresh["plan_id"]) != _plan_digest(plan_id):
                    changes = fresh["changes"]
                    raise StalePlan(
                        f"What a prune of {agent['name']} deletes changed since the preview"
                        f"{_what_changed(changes)}. Nothing was deleted; check the new preview.",
                        fresh,
                        changes=changes,
                    )
            return self._prune(tx, who, agent, keep, None, archive_path, overwrite_archive)

    def cleanup_old_versions(
        self, agent_id: str, keep: int = 10, *, newest_to_delete: int | None = None, actor: str | None = None
    ) -> int:
        """The spec's retention: keep the ``keep`` newest versions, delete the rest; return how many.

        ``newest_to_delete`` bounds what goes: a version snapshotted meanwhile
        by someone else never pushes an unseen one over the edge.
        """
        who = self._actor(actor)
        _check_keep(keep)
        if newest_to_delete is not None and (
            isinstance(newest_to_delete, bool) or not isinstance(newest_to_delete, int)
        ):
            raise TypeError("newest_to_delete must be a version number")
        with self.store.writing() as tx:
            return self._prune(tx, who, self._agent(tx, agent_id), keep, newest_to_delete)["deleted"]

    # -- comparing ----------------------------------------------------------

    def compare(self, agent_id: str, old: str | int, new: str | int) -> dict[str, Any]:
        """What changed from ``old`` to ``new``: each a version reference (number, id, ``latest``, label) or ``"live"``.

        ``old`` may also be ``"previous"``: the version before ``new`` (or
        nothing, for a first version).
        """
        with self.store.reading() as tx:
            agent = self._agent(tx, agent_id)
            new_side = self._side(tx, agent, new)
            if _is_previous(old):
                if new_side["version_number"] is None:
                    raise InvalidValue(
                        "old", "'previous' compares a version with the one before it, not the live config"
                    )
                before = tx.versions_before(agent["id"], new_side["version_number"], 1)
                old_side = version_side(before[0]) if before else nothing_side()
            else:
                old_side = self._side(tx, agent, old)
        return comparison(old_side, new_side)

    def compare_versions(self, version_id_1: str, version_id_2: str) -> dict[str, Any]:
        """What changed from the first version to the second (of any agents)."""
        with self.store.reading() as tx:
            old = self._version(tx, version_id_1)
            new = self._version(tx, version_id_2)
        return comparison(version_side(old), version_side(new))

    def compare_with_live(self, agent_id: str, version_id: str, *, live_first: bool = False) -> dict[str, Any]:
        """What changed from a version to the agent's live config (``live_first``: the other way,
        what a rollback to that version would change)."""
        return self.compare(agent_id, LIVE, version_id) if live_first else self.compare(agent_id, version_id, LIVE)

    def compare_with_previous(self, version_id: str) -> dict[str, Any]:
        """What a version changed against the version before it (or against nothing)."""
        with self.store.reading() as tx:
            new = self._version(tx, version_id)
            before = tx.versions_before(new["agent_id"], new["version_number"], 1)
        return comparison(version_side(before[0]) if before else nothing_side(), version_side(new))

    # -- audit and change detection -------------------------------------------

    def audit_log(
        self, agent_id: str | None = None, limit: int = 100, *, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The newest audit events (of one agent, or all), newest first; ``before`` an event id pages back."""
        with self.store.reading() as tx:
            rows = tx.audit_log(agent_id, limit, before)
        for event in rows:
            event["detail"] = _decode_detail(event["detail"])
        return rows

    def audit_trail(
        self, agent_ref: str | None = None, limit: int = 100, *, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Who did what, when: the newest audit events (of one agent, or all), newest first.

        As :meth:`audit_log`, with each event's ``agent_name`` (the agent's
        name now, or for a deleted agent the name it had when it was deleted;
        None for events of no agent) and ``agent_deleted``. ``agent_ref`` is an
        id or a name; a deleted agent is found by its id, or by its name among
        the newest :data:`DELETED_NAME_LOOKBACK` events.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidValue("limit", f"must be a whole number of at least 1, not {limit!r}")
        if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
            raise InvalidValue("before", f"must be an event id, not {before!r}")
        with self.store.reading() as tx:
            agent_id = None if agent_ref is None else self._audited_agent_id(tx, agent_ref)
            rows = tx.audit_log(agent_id, limit, before)
            for event in rows:
                event["detail"] = _decode_detail(event["detail"])
            names: dict[str, tuple[str | None, bool]] = {}
            for event in rows:
                if event["agent_id"] is not None and event["agent_id"] not in names:
                    names[event["agent_id"]] = self._audited_name(tx, event["agent_id"])
        for event in rows:
            event["agent_name"], event["agent_deleted"] = names.get(event["agent_id"], (None, False))
        return rows

    def watch_changes(self, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``on_change`` from another thread soon after any process commits (PostgreSQL's ``LISTEN``).

        Returns the function that stops watching, or None where the database
        cannot announce changes (SQLite): then poll :meth:`change_marker`.
        """
        return self.store.subscribe(on_change)

    def change_marker(self) -> int:
        """A number that grows with every committed mutation, by any process.

        Every mutation appends an audit event, so the newest event's id is a
        cheap way for a screen to see that something changed.
        """
        with self.store.reading() as tx:
            return tx.newest_audit_id()

    # -- internals (run inside a transaction) --------------------------------

    def _agent(self, tx: Transaction, agent_id: str) -> dict[str, Any]:
        row = tx.agent(agent_id) if isinstance(agent_id, str) else None
        if row is None:
            raise self._missing_agent(tx, str(agent_id))
        return row

    def _missing_agent(self, tx: Transaction, ref: str) -> AgentNotFound:
        """No agent ``ref``: with who deleted it and when, when ``ref`` is the id of a deleted agent."""
        if ref.startswith("agt-") and _printable_ref(ref):
            for event in tx.audit_log(ref, 1):
                if event["action"] == "agent.delete":
                    name = _decode_detail(event["detail"]).get("name")
                    return AgentNotFound(
                        ref,
                        deleted={
                            "name": name if isinstance(name, str) else None,
                            "by": event["actor"],
                            "at": event["at"],
                        },
                    )
        return AgentNotFound(ref)

    def _find_agent(self, tx: Transaction, ref: str) -> dict[str, Any]:
        if not isinstance(ref, str):
            raise AgentNotFound(repr(ref))
        by_id = tx.agent(ref)
        if by_id is not None:
            return by_id
        named = tx.agents_by_exact_name(ref)
        if not named:
            try:
                key = name_key(ref)
            except UnicodeError:
                raise AgentNotFound(repr(ref)[1:-1]) from None
            named = tx.agents_by_name_key(key)
            named += [row for row in tx.agents_without_name_key() if name_key(row["name"]) == key]
        if len(named) > 1:
            raise AmbiguousAgent(ref, [row["id"] for row in named])
        if not named:
            if not _printable_ref(ref):
                raise AgentNotFound(repr(ref)[1:-1])
            raise self._missing_agent(tx, ref)
        return named[0]

    def _audited_agent_id(self, tx: Transaction, ref: str) -> str:
        """The id of an agent named by id or name, living or deleted (for its audit events)."""
        try:
            return self._find_agent(tx, ref)["id"]
        except AgentNotFound as missing:
            not_found = missing
        if not _printable_ref(ref):
            raise not_found
        if tx.audit_log(ref, 1):
            return ref
        key = name_key(ref)
        deleted: list[str] = []
        before, seen = None, 0
        while seen < DELETED_NAME_LOOKBACK:
            page = tx.audit_log(None, 1000, before)
            for event in page:
                if event["action"] != "agent.delete" or event["agent_id"] in deleted:
                    continue
                name = _decode_detail(event["detail"]).get("name")
                if isinstance(name, str) and name_key(name) == key:
                    deleted.append(event["agent_id"])
            if len(page) < 1000:
                break
            seen += len(page)
            before = page[-1]["id"]
        if len(deleted) > 1:
            raise AmbiguousAgent(ref, deleted)
        if deleted:
            return deleted[0]
        raise not_found

    def _audited_name(self, tx: Transaction, agent_id: str) -> tuple[str | None, bool]:
        """(the agent's name, whether it was deleted): a deleted one's from its newest event's detail."""
        row = tx.agent(agent_id)
        if row is not None:
            return row["name"], False
        for event in tx.audit_log(agent_id, 1):
            name = _decode_detail(event["detail"]).get("name")
            if isinstance(name, str):
                return name, True
        return None, True

    def _check_name_free(self, tx: Transaction, name: str, agent_id: str | None) -> None:
        key = name_key(name)
        others = tx.agents_by_name_key(key) + [
            row for row in tx.agents_without_name_key() if name_key(row["name"]) == key
        ]
        for other in others:
            if other["id"] != agent_id:
                raise NameTaken(name, other["name"], other["id"])

    def _version(self, tx: Transaction, version_id: str) -> dict[str, Any]:
        row = tx.version(version_id) if isinstance(version_id, str) else None
        if row is None:
            raise VersionNotFound(str(version_id))
        return row

    def _find_version(self, tx: Transaction, agent: Mapping[str, Any], ref: str | int) -> dict[str, Any]:
        text = str(ref)
        if not _printable_ref(text):
            raise VersionNotFound(repr(text)[1:-1], agent["name"])
        match = _VERSION_REF.match(text.strip())
        if match:
            number = version_number(match.group(1), agent["name"])  # past any stored number: not found
            row = tx.version_numbered(agent["id"], number)
            if row is None:
                raise VersionNotFound(f"v{number}", agent["name"], detail=self._gone(tx, agent, number))
            return row
        row = tx.version(text)
        if row is None:
            return self._named_version(tx, agent, text)
        if row["agent_id"] != agent["id"]:
            raise VersionOfAnotherAgent(row["id"], agent["id"])
        return row

    def _named_version(self, tx: Transaction, agent: Mapping[str, Any], text: str) -> dict[str, Any]:
        """The version ``latest`` or a label names now (read in the caller's transaction), or why none.

        A reference is tried in this order: a version number (``3``, ``v3``),
        a version id, ``latest`` (the newest version), ``live`` (the live
        config: not a version), then the agent's labels.
        """
        word = text.strip()
        if word.lower() == LATEST:
            newest = tx.version_page(agent["id"], 1, 0)
            if not newest:
                raise VersionNotFound(LATEST, agent["name"], detail=" (it has no version yet)")
            return newest[0]
        if word.lower() == LIVE:
            raise VersionNotFound(repr(word), agent["name"], detail=" ('live' means the live config, not a version)")
        try:
            name: str | None = check_label(word)
        except InvalidValue:
            name = None
        labelled = tx.label(agent["id"], name) if name is not None else None
        if labelled is not None:
            return self._version(tx, labelled["version_id"])
        deleted = self._deleted_version(tx, agent, text)
        if deleted is not None:
            raise deleted
        raise UnknownVersionRef(text, agent["name"], [row["label"] for row in tx.labels(agent["id"])])

    def _deleted_version(self, tx: Transaction, agent: Mapping[str, Any], version_id: str) -> VersionNotFound | None:
        """A version id that names nothing, named by its number when the audit log says who deleted it."""
        for event in tx.audit_log(agent["id"], _CONFLICT_LOOKBACK):
            number = _decode_detail(event["detail"]).get("version_number")
            if event["action"] == "version.delete" and event["version_id"] == version_id and isinstance(number, int):
                detail = f" (deleted meanwhile by {event['actor']} at {event['at']})"
                return VersionNotFound(f"v{number}", agent["name"], detail=detail)
        return None

    def _gone(self, tx: Transaction, agent: Mapping[str, Any], number: int) -> str:
        """Why a version number names nothing: deleted (by whom), or never given."""
        for event in tx.audit_log(agent["id"], _CONFLICT_LOOKBACK):
            detail = _decode_detail(event["detail"])
            if event["action"] == "version.delete" and detail.get("version_number") == number:
                return f" (deleted by {event['actor']} at {event['at']})"
            if event["action"] == "version.prune" and (detail.get("oldest_deleted") or 0) <= number <= (
                detail.get("newest_deleted") or -1
            ):
                return f" (pruned by {event['actor']} at {event['at']})"
        return ""

    def _side(self, tx: Transaction, agent: Mapping[str, Any], ref: str | int) -> dict[str, Any]:
        if isinstance(ref, str) and ref.strip().lower() == LIVE:
            return live_side(agent)
        return version_side(self._find_version(tx, agent, ref))

    def _version_rows(
        self,
        tx: Transaction,
        agent: Mapping[str, Any],
        limit: int | None,
        offset: int,
        before: str | int | None,
        *,
        snapshots: bool = True,
    ) -> list[dict[str, Any]]:
        """A page of the agent's versions, newest first; with ``before`` (a reference), of those older than it."""
        if before is None:
            return tx.version_page(agent["id"], limit, offset, snapshots=snapshots)
        bound = self._find_version(tx, agent, before)["version_number"]
        return tx.versions_before(agent["id"], bound, None if limit is None else limit + offset)[offset:]

    def _newest_holder(self, tx: Transaction, agent: Mapping[str, Any]) -> dict[str, Any] | None:
        """The newest version that holds exactly the live config, or None (the live config is unsaved)."""
        holders = tx.versions_with_hash(agent["id"], agent["content_hash"])[:1]
        holders += [
            row for row in tx.versions_with_hash(agent["id"], None) if _version_hash(row)[0] == agent["content_hash"]
        ]
        return max(holders, key=lambda row: row["version_number"], default=None)

    def _is_saved(self, tx: Transaction, agent: Mapping[str, Any]) -> bool:
        """Does some version of the agent hold exactly the live config?"""
        _count, _newest, saved, unhashed = tx.version_summary(agent["id"], agent["content_hash"])
        return saved or (unhashed > 0 and self._unhashed_holds(tx, agent))

    def _unhashed_holds(self, tx: Transaction, agent: Mapping[str, Any]) -> bool:
        """Versions written without a hash (by another tool): read them to see if one holds the live config."""
        return any(_version_hash(row)[0] == agent["content_hash"] for row in tx.versions_with_hash(agent["id"], None))

    def _snapshot(
        self, tx: Transaction, who: str, agent: dict[str, Any], changelog: str | None, *, audit: bool = True
    ) -> dict[str, Any]:
        """Save the live config as the next version (the write lock is held)."""
        number = tx.next_version_number(agent["id"])
        config = agent_config(agent)
        version = {
            "id": new_version_id(),
            "agent_id": agent["id"],
            "version_number": number,
            "config_snapshot": snapshot_json(config),
            "changelog": changelog,
            "created_by": who,
            "created_at": self.clock(),
            "content_hash": agent["content_hash"],
        }
        tx.insert_version(version)
        if audit:
            self._audit(tx, who, "version.create", agent["id"], version["id"], {"version_number": number})
        return version_dict(version)

    def _apply(
        self,
        tx: Transaction,
        who: str,
        agent: dict[str, Any],
        fields: Mapping[str, Any],
        *,
        audit: bool = True,
        restoring: bool = False,
    ) -> list[str]:
        """Write the fields that differ into the agent row (and into ``agent``); return their names.

        The revision grows by one; the audit event keeps the old and new value
        of each field, so any change can be seen and undone later.
        """
        changed = [key for key in EDITABLE_FIELDS if key in fields and not same_value(agent[key], fields[key])]
        if not changed:
            return []
        if "name" in changed:
            if not restoring:  # a rollback restores a name the agent had; a new one follows today's rules
                check_new_name(fields["name"])
            self._check_name_free(tx, fields["name"], agent["id"])
        values: dict[str, Any] = {key: dict(fields[key]) if key == "extra" else fields[key] for key in changed}
        old = {key: agent[key] for key in changed}
        if "name" in values:
            values["name_key"] = name_key(values["name"])
        values["updated_at"] = self.clock()
        values["revision"] = agent["revision"] + 1
        values["content_hash"] = content_hash({**agent_config(agent), **values})
        tx.update_agent(agent["id"], values)
        agent.update(values)
        if audit:
            detail = {
                "fields": changed,
                "changes": {key: {"old": old[key], "new": values[key]} for key in changed},
                "revision": values["revision"],
            }
            self._audit(tx, who, "agent.update", agent["id"], detail=detail)
        return changed

    def _check_revision(self, tx: Transaction, agent: Mapping[str, Any], expected: int | None) -> None:
        if expected is None or expected == agent["revision"]:
            return
        since = self._changes_since(tx, agent, expected)
        what = "; ".join(
            f"{', '.join(change['fields']) or change['action']} by {change['actor']} at {change['at']}"
            for change in since
        )
        raise Conflict(
            f"{agent['name']} changed since revision {expected} (it is at revision {agent['revision']}"
            f"{': ' + what if what else ''}). Nothing was written; read it again and retry.",
            changes=since,
            current_revision=agent["revision"],
        )

    def _changes_since(self, tx: Transaction, agent: Mapping[str, Any], revision: int | None) -> list[dict[str, Any]]:
        """The audited changes of the live config after ``revision``, oldest first."""
        if revision is None:
            return []
        since = []
        for event in tx.audit_log(agent["id"], _CONFLICT_LOOKBACK):
            detail = _decode_detail(event["detail"])
            if not isinstance(detail.get("revision"), int) or detail["revision"] <= revision:
                continue
            fields = detail.get("fields") or []
            since.append({"actor": event["actor"], "at": event["at"], "action": event["action"], "fields": fields})
        return since[::-1]

    def _changes_after(self, tx: Transaction, agent: Mapping[str, Any], position: int | None) -> list[dict[str, Any]]:
        """The audited changes of an agent after audit event ``position``, oldest first, each with its summary.

        At most :data:`_PLAN_CHANGES_READ` (the oldest). ``position`` None (a
        plan token that does not say when it was read): the newest few, as
        the most likely.
        """
        if position is None:
            events = tx.audit_log(agent["id"], _PLAN_CHANGES_SHOWN)[::-1]
        else:
            events = tx.audit_events_after(agent["id"], position, _PLAN_CHANGES_READ)
        changes = []
        for event in events:
            detail = _decode_detail(event["detail"])
            changes.append(
                {
                    "actor": event["actor"],
                    "at": event["at"],
                    "action": event["action"],
                    "fields": list(detail.get("fields") or []) if event["action"] == "agent.update" else [],
                    "summary": event_summary({"action": event["action"], "detail": detail}),
                }
            )
        return changes

    def _prune_plan(
        self, tx: Transaction, agent: Mapping[str, Any], keep: int, since: str | None = None
    ) -> dict[str, Any]:
        # Read first: a change committed while the plan is read is then counted as after it, never lost.
        position = tx.newest_audit_id()
        threshold = tx.keep_threshold(agent["id"], keep)
        older = tx.versions_before(agent["id"], threshold) if threshold is not None else []
        labelled = _labels_by_version(tx, agent["id"])
        doomed = [row for row in older if row["id"] not in labelled]
        kept_labelled = [
            {"version_number": row["version_number"], "id": row["id"], "labels": labelled[row["id"]]}
            for row in older
            if row["id"] in labelled
        ]
        live_hash = agent["content_hash"]
        delete = []
        holders_going = 0
        for row in doomed:
            entry = version_dict(row)
            entry.pop("config_snapshot")
            found, _damaged = _version_hash(row)
            entry["matches_live"] = found is not None and found == live_hash
            holders_going += entry["matches_live"]
            delete.append(entry)
        live_loses = False
        if holders_going:
            holders = tx.versions_with_hash(agent["id"], live_hash)
            kept_holders = [
                row
                for row in holders
                if (threshold is not None and row["version_number"] >= threshold) or row["id"] in labelled
            ]
            live_loses = not kept_holders
        described = self._describe(tx, agent)
        plan_id = _plan_id(position, agent["id"], keep, [entry["id"] for entry in delete], live_loses)
        changed = since is not None and _plan_digest(since) != _plan_digest(plan_id)
        return {
            "agent": described,
            "keep": keep,
            "delete": delete,
            "newest_deleted": delete[0]["version_number"] if delete else None,
            "oldest_deleted": delete[-1]["version_number"] if delete else None,
            "live_loses_version": live_loses,
            "kept_labelled": kept_labelled,
            "plan_id": plan_id,
            "changes": self._changes_after(tx, agent, _plan_position(since)) if since is not None and changed else [],
        }

    def _prune(
        self,
        tx: Transaction,
        who: str,
        agent: Mapping[str, Any],
        keep: int,
        newest_to_delete: int | None,
        archive: Path | None = None,
        overwrite_archive: bool = False,
    ) -> dict[str, Any]:
        threshold = tx.keep_threshold(agent["id"], keep)
        # With an archive asked for, the result says which file was written (None: nothing went).
        archived: dict[str, Any] = {} if archive is None else {"archive": None}
        if threshold is None:
            empty: dict[str, Any] = {
                "deleted": 0,
                "oldest_deleted": None,
                "newest_deleted": None,
                "kept": keep,
                "kept_labelled": [],
                "live_loses_version": False,
            }
            return {**empty, **archived}
        bound = 2**63 - 1 if newest_to_delete is None else newest_to_delete
        if archive is not None:
            archived["archive"] = self._archive(tx, agent["id"], threshold, bound, archive, overwrite=overwrite_archive)
        kept_labelled = _labelled_below(tx, agent["id"], threshold, bound)
        saved_before = self._is_saved(tx, agent)
        deleted, oldest, newest = tx.delete_versions(agent["id"], threshold, bound)
        # As the plan's key of that name: the versions that held the live config all went.
        live_loses = bool(deleted) and saved_before and not self._is_saved(tx, agent)
        if deleted:
            detail = {"keep": keep, "deleted": deleted, "oldest_deleted": oldest, "newest_deleted": newest}
            if archived.get("archive") is not None:
                detail["archive"] = archived["archive"]["file"]
            self._audit(tx, who, "version.prune", agent["id"], detail=detail)
        return {
            "deleted": deleted,
            "oldest_deleted": oldest,
            "newest_deleted": newest,
            "kept": keep,
            "kept_labelled": kept_labelled,
            "live_loses_version": live_loses,
            **archived,
        }

    def _audit(
        self,
        tx: Transaction,
        who: str,
        action: str,
        agent_id: str | None,
        version_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        *,
        at: str | None = None,
    ) -> None:
        """Append one audit event, written ``at`` (now, unless the row it is about has a time of its own)."""
        event = {
            "at": self.clock() if at is None else at,
            "actor": who,
            "action": action,
            "agent_id": agent_id,
            "version_id": version_id,
            "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        }
        tx.insert_audit(event)

    def _describe(self, tx: Transaction, agent: Mapping[str, Any]) -> dict[str, Any]:
        """The agent dict, plus ``version_count``, ``latest_version`` and ``unsaved_changes``."""
        count, newest, saved, unhashed = tx.version_summary(agent["id"], agent["content_hash"])
        if not saved and unhashed:
            saved = self._unhashed_holds(tx, agent)
        return _with_summary(_public_agent(agent), count, newest, saved)

    def _summarised(self, tx: Transaction, row: Mapping[str, Any]) -> dict[str, Any]:
        saved = row["saved"] or (row["unhashed_versions"] > 0 and self._unhashed_holds(tx, row))
        return _with_summary(_public_agent(row), row["version_count"], row["latest_version"], saved)


def _with_summary(agent: dict[str, Any], count: int, newest: int | None, saved: bool) -> dict[str, Any]:
    agent["version_count"] = count
    agent["latest_version"] = newest
    #: Saved is a fact: some version holds exactly the live config.
    agent["unsaved_changes"] = not saved
    return agent


def _by_whom(changes: Sequence[Mapping[str, Any]]) -> str:
    actors = sorted({change["actor"] for change in changes})
    return f" (by {', '.join(actors)})" if actors else ""


def _what_changed(changes: Sequence[Mapping[str, Any]]) -> str:
    """``: set production → v2 by carol; snapshot v9 by dave`` (the newest few; empty when nothing is known)."""
    shown = changes[-_PLAN_CHANGES_SHOWN:]
    said = [f"{change['summary']} by {change['actor']}" for change in shown]
    earlier = len(changes) - len(shown)
    if earlier:
        said.insert(0, f"{earlier}{'+' if len(changes) >= _PLAN_CHANGES_READ else ''} earlier changes")
    return f": {'; '.join(said)}" if said else ""


def _decode_detail(detail: object) -> dict[str, Any]:
    try:
        decoded = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _is_previous(ref: object) -> bool:
    return isinstance(ref, str) and ref.strip().lower() == PREVIOUS


def _printable_ref(text: str) -> bool:
    """Can this text be looked up (and shown) as it is: valid Unicode?"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


__all__ = [
    "AGENT_KEYS",
    "EDITABLE_FIELDS",
    "LIVE",
    "PREVIOUS",
    "VERSION_KEYS",
    "AgentService",
    "agent_config",
    "agent_sort_key",
    "default_user",
    "version_dict",
]
