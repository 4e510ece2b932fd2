"""Labels with a ledger: which version ``production`` names, who moved it, when and why.

A label names one version of one agent. Every set, move and removal is one
transaction that writes the label, an entry of the ledger (append-only in
the database) and an audit event. Moving is compare-and-swap when asked
(``expected``: where the caller believes it points, or None for "not set"),
so two people moving ``production`` at once never silently undo each other.
A protected label (a name protected for every agent) moves only when the
caller says a person confirmed it (``allow_protected``; over HTTP, an admin
token). A label never names a damaged version, and a labelled version is
never deleted (prune keeps it, delete is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from kaizen_tui.core.comparison import comparison, version_side
from kaizen_tui.core.errors import DamagedSnapshot, InvalidValue, LabelConflict, LabelNotFound, ProtectedLabel
from kaizen_tui.core.labels import LATEST, check_label, check_label_or_latest, check_new_label, parse_instant
from kaizen_tui.core.schema import check_text, content_hash, parse_snapshot, snapshot_dict
from kaizen_tui.store import Store, Transaction


class _Unchecked:
    """The default of ``expected``: move the label wherever it points now."""

    def __repr__(self) -> str:
        return "UNCHECKED"


#: ``expected=UNCHECKED``: no compare-and-swap.
UNCHECKED: Final = _Unchecked()
#: How many resolved configs are kept (agent, label or version, time) before the cache starts again.
RESOLVED_CACHE_SIZE = 1024
#: How many ledger entries a history gives unless asked for more.
HISTORY_LIMIT = 200


def _label_dict(row: Mapping[str, Any], protected: bool) -> dict[str, Any]:
    return {
        "label": row["label"],
        "version_number": row["version_number"],
        "version_id": row["version_id"],
        "updated_by": row["updated_by"],
        "updated_at": row["updated_at"],
        "protected": protected,
    }


def _where(number: int | None) -> str:
    return "is not set" if number is None else f"points at v{number}"


class LabelOperations:
    """The label operations of :class:`~kaizen_tui.service.AgentService` (a mixin: it has the store)."""

    # Provided by AgentService.
    store: Store
    clock: Callable[[], str]
    _actor: Callable[[str | None], str]
    _find_agent: Callable[[Transaction, str], dict[str, Any]]
    _find_version: Callable[[Transaction, Mapping[str, Any], str | int], dict[str, Any]]
    _audit: Callable[..., None]
    #: resolve_config's answers by what was asked, with the change token they were read at.
    _resolved: dict[tuple[str, str | None, str | None, str | None], tuple[int, dict[str, Any]]]

    # -- reading

    def list_labels(self, agent_ref: str) -> list[dict[str, Any]]:
        """The agent's labels by name: ``label``, ``version_number``, ``version_id``, who set it when, ``protected``."""
        with self.store.reading() as tx:
            agent = self._find_agent(tx, agent_ref)
            protected = {row["label"] for row in tx.protected_labels()}
            return [_label_dict(row, row["label"] in protected) for row in tx.labels(agent["id"])]

    def label_history(
        self, agent_ref: str, label: str | None = None, *, limit: int = HISTORY_LIMIT, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The ledger of the agent (of one label, if given), newest first.

        Each entry: ``id``, ``at``, ``actor``, ``label``, ``from_version`` and
        ``to_version`` (numbers; None for a new or a removed label), their ids,
        ``reason`` and ``action`` (``set``, ``move`` or ``remove``).
        """
        if label is not None:
            check_label(label)
        with self.store.reading() as tx:
            agent = self._find_agent(tx, agent_ref)
            rows = tx.label_events(agent["id"], label, max(1, limit), before)
        return [_ledger_entry(row) for row in rows]

    def protected_labels(self) -> list[dict[str, Any]]:
        with self.store.reading() as tx:
            return tx.protected_labels()

    def resolve_config(
        self, agent_ref: str, *, label: str | None = None, version: str | int | None = None, at: str | None = None
    ) -> dict[str, Any]:
        """The config an agent loads: of a label (now, or ``at`` a time, from the ledger), of a version, or live.

        ``{"agent_id", "name", "label", "version_id", "version_number",
        "content_hash", "config"}`` (``config`` in the snapshot's shape; the
        version keys are None for the live config). ``latest`` is the newest
        version. A damaged version is refused (:class:`DamagedSnapshot`).

        This is what running agents poll (``/config?label=production``), so
        an answer is kept and given again without a query for as long as the
        database's change token says nobody committed anything since, as
        ``get_config`` does. Callers get their own copy of ``config``.
        """
        key = (agent_ref, label, None if version is None else str(version), at)
        token = self.store.change_token()
        if token is not None:
            cached = self._resolved.get(key)
            if cached is not None and cached[0] == token:
                return _copied(cached[1])
        found = self._resolve_config(agent_ref, label, version, at)
        if token is not None:
            if len(self._resolved) >= RESOLVED_CACHE_SIZE:
                self._resolved.clear()
            # The token read before the query: a commit in between makes the next check miss.
            self._resolved[key] = (token, found)
        return _copied(found)

    def resolve_config_cached(
        self, agent_ref: str, *, label: str | None = None, version: str | int | None = None, at: str | None = None
    ) -> dict[str, Any] | None:
        """:meth:`resolve_config`'s answer if it is kept and nobody committed since; else None.

        As :meth:`get_config_cached`: only the change token is read, so a
        server checks it on its event loop and asks ``resolve_config`` on a
        thread only when this is None.
        """
        key = (agent_ref, label, None if version is None else str(version), at)
        token = self.store.change_token()
        cached = self._resolved.get(key)
        if token is None or cached is None or cached[0] != token:
            return None
        return _copied(cached[1])

    def _resolve_config(
        self, agent_ref: str, label: str | None, version: str | int | None, at: str | None
    ) -> dict[str, Any]:
        if label is not None and version is not None:
            raise InvalidValue("label", "give a label or a version, not both")
        if at is not None and label is None:
            raise InvalidValue("at", "goes with a label: it asks the ledger where that label pointed then")
        when = parse_instant(at) if at is not None else None
        name = check_label_or_latest(label) if label is not None else None
        with self.store.reading() as tx:
            agent = self._find_agent(tx, agent_ref)
            if name is None and version is None:
                return _config_answer(agent, None, None, agent["content_hash"], snapshot_dict(_live_config(agent)))
            if name is not None:
                row = self._labelled_version(tx, agent, name, when)
            else:
                row = self._find_version(tx, agent, version if version is not None else "")
        number = row["version_number"]
        try:
            config = parse_snapshot(row["config_snapshot"], f"v{number}" + (f" (label {name})" if name else ""))
        except DamagedSnapshot as damaged:  # named, so that a client can say which version its label names
            raise DamagedSnapshot(
                damaged.reason, damaged.version_label, version_number=number, version_id=row["id"]
            ) from None
        return _config_answer(agent, name, row, row.get("content_hash") or content_hash(config), snapshot_dict(config))

    def _labelled_version(
        self, tx: Transaction, agent: Mapping[str, Any], label: str, when: str | None
    ) -> dict[str, Any]:
        if label == LATEST:
            if when is not None:
                raise InvalidValue("at", "'latest' has no ledger; ask about a label that was set")
            newest = tx.version_page(agent["id"], 1, 0)
            if not newest:
                raise LabelNotFound(LATEST, agent["name"], when=" (it has no version yet)")
            return newest[0]
        if when is None:
            current = tx.label(agent["id"], label)
            if current is None:
                raise LabelNotFound(label, agent["name"])
            return self._find_version(tx, agent, current["version_id"])
        entry = tx.label_event_at(agent["id"], label, when)
        if entry is None:
            raise LabelNotFound(label, agent["name"], when=f" at {when} (it was set only later, or never)")
        if entry["to_version_id"] is None:
            raise LabelNotFound(
                label, agent["name"], when=f" at {when} ({entry['actor']} had removed it at {entry['at']})"
            )
        return self._find_version(tx, agent, entry["to_version_id"])

    def plan_label_move(self, agent_ref: str, label: str, version_ref: str | int) -> dict[str, Any]:
        """What pointing ``label`` at a version changes for everyone who loads it, for a person to see first.

        ``{"agent_id", "label", "protected", "from" (the version it leaves, or
        None), "to", "comparison" (from → to, field by field; None when the
        label is new), "unchanged" (it already points there), "refused"}``.
        """
        check_label(label)
        with self.store.reading() as tx:
            agent = self._find_agent(tx, agent_ref)
            target = self._find_version(tx, agent, version_ref)
            current = tx.label(agent["id"], label)
            if current is None:
                check_new_label(label)
            source = self._find_version(tx, agent, current["version_id"]) if current else None
            protected = any(row["label"] == label for row in tx.protected_labels())
        refused = None
        try:
            parse_snapshot(target["config_snapshot"], f"v{target['version_number']}")
        except DamagedSnapshot as error:
            refused = error.as_dict()
        compared = None
        if source is not None:
            compared = comparison(version_side(source), version_side(target))
        return {
            "agent_id": agent["id"],
            "label": label,
            "protected": protected,
            "from": _brief(source),
            "to": _brief(target),
            "comparison": compared,
            "unchanged": source is not None and source["id"] == target["id"],
            "refused": refused,
        }

    # -- changing

    def set_label(
        self,
        agent_ref: str,
        label: str,
        version_ref: str | int,
        *,
        expected: int | _Unchecked | None = UNCHECKED,
        reason: str = "",
        allow_protected: bool = False,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Point ``label`` at a version of the agent (create it, or move it).

        ``version_ref`` is any version reference: a number, an id, ``latest``,
        or another label (the version it names in this same transaction). A
        new label may not be named like another reference (``v7``, ``live``).

        ``expected`` (a version number, or None for "not set yet") makes it
        compare-and-swap: when the label points elsewhere, :class:`LabelConflict`
        says where and nothing moves. Setting a label where it already points
        changes nothing and writes no ledger entry. Returns the label as
        :meth:`list_labels` gives it, plus ``from_version_number`` and ``moved``.
        """
        who = self._actor(actor)
        check_label(label)
        check_text("reason", reason)
        with self.store.writing() as tx:
            agent = self._find_agent(tx, agent_ref)
            target = self._find_version(tx, agent, version_ref)
            parse_snapshot(target["config_snapshot"], f"v{target['version_number']}")  # never label a damaged one
            current = tx.label(agent["id"], label)
            if current is None:
                check_new_label(label)
            protected = self._check_move(tx, agent, label, current, expected, allow_protected)
            before = current["version_number"] if current else None
            moved = current is None or current["version_id"] != target["id"]
            if moved:
                now = self.clock()
                tx.put_label(
                    {
                        "agent_id": agent["id"],
                        "label": label,
                        "version_id": target["id"],
                        "updated_by": who,
                        "updated_at": now,
                    }
                )
                self._ledger(tx, who, now, agent, label, current, target, reason)
            row = tx.label(agent["id"], label)
            assert row is not None
        return {**_label_dict(row, protected), "from_version_number": before, "moved": moved}

    def remove_label(
        self,
        agent_ref: str,
        label: str,
        *,
        expected: int | _Unchecked | None = UNCHECKED,
        reason: str = "",
        allow_protected: bool = False,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """Remove a label (:class:`LabelNotFound` if it is not set); the ledger keeps where it pointed."""
        who = self._actor(actor)
        check_label(label)
        check_text("reason", reason)
        with self.store.writing() as tx:
            agent = self._find_agent(tx, agent_ref)
            current = tx.label(agent["id"], label)
            self._check_move(tx, agent, label, current, expected, allow_protected)
            if current is None:
                raise LabelNotFound(label, agent["name"])
            tx.delete_label(agent["id"], label)
            self._ledger(tx, who, self.clock(), agent, label, current, None, reason)
        return {"label": label, "agent_id": agent["id"], "from_version_number": current["version_number"]}

    def protect_label(self, label: str, *, actor: str | None = None) -> dict[str, Any]:
        """Protect a label name for every agent; ``changed`` is False when it already was."""
        who = self._actor(actor)
        check_label(label)
        with self.store.writing() as tx:
            now = self.clock()
            changed = tx.protect_label({"label": label, "protected_by": who, "protected_at": now})
            if changed:
                # The same time as the row: an import compares the two (see transfer._import_protection).
                self._audit(tx, who, "label.protect", None, detail={"label": label}, at=now)
        return {"label": label, "protected": True, "changed": changed}

    def unprotect_label(self, label: str, *, actor: str | None = None) -> dict[str, Any]:
        who = self._actor(actor)
        check_label(label)
        with self.store.writing() as tx:
            changed = tx.unprotect_label(label)
            if changed:
                self._audit(tx, who, "label.unprotect", None, detail={"label": label})
        return {"label": label, "protected": False, "changed": changed}

    # -- inside a transaction

    def _check_move(
        self,
        tx: Transaction,
        agent: Mapping[str, Any],
        label: str,
        current: Mapping[str, Any] | None,
        expected: int | _Unchecked | None,
        allow_protected: bool,
    ) -> bool:
        """Refuse a stale compare-and-swap, or a protected label without a confirmation; is it protected?"""
        where = current["version_number"] if current else None
        if not isinstance(expected, _Unchecked) and expected != where:
            wanted = "not to be set" if expected is None else f"to point at v{expected}"
            mover = f" (moved by {current['updated_by']} at {current['updated_at']})" if current else ""
            raise LabelConflict(
                f"{label!r} of {agent['name']} {_where(where)}{mover}, not as expected ({wanted}). Nothing moved.",
                current=where,
            )
        protected = any(row["label"] == label for row in tx.protected_labels())
        if protected and not allow_protected:
            raise ProtectedLabel(label)
        return protected

    def _ledger(
        self,
        tx: Transaction,
        who: str,
        now: str,
        agent: Mapping[str, Any],
        label: str,
        current: Mapping[str, Any] | None,
        target: Mapping[str, Any] | None,
        reason: str,
    ) -> None:
        """One ledger entry and one audit event for a label that changed."""
        entry = {
            "at": now,
            "actor": who,
            "agent_id": agent["id"],
            "label": label,
            "from_version_id": current["version_id"] if current else None,
            "from_version_number": current["version_number"] if current else None,
            "to_version_id": target["id"] if target else None,
            "to_version_number": target["version_number"] if target else None,
            "reason": reason,
        }
        tx.insert_label_event(entry)
        action = _action(entry)
        detail = {
            "label": label,
            "from_version": entry["from_version_number"],
            "to_version": entry["to_version_number"],
            "reason": reason,
        }
        self._audit(tx, who, f"label.{action}", agent["id"], target["id"] if target else None, detail)

    def _remove_labels_of(self, tx: Transaction, who: str, agent: Mapping[str, Any], reason: str) -> None:
        """Before an agent is deleted: every label goes, each with its ledger entry."""
        now = self.clock()
        for current in tx.labels(agent["id"]):
            tx.delete_label(agent["id"], current["label"])
            self._ledger(tx, who, now, agent, current["label"], current, None, reason)


def _copied(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer a caller may change without changing the cache (the config's nested values included)."""
    import copy

    return {**answer, "config": copy.deepcopy(answer["config"])}


def _action(entry: Mapping[str, Any]) -> str:
    if entry["to_version_id"] is None:
        return "remove"
    return "set" if entry["from_version_id"] is None else "move"


def _ledger_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": row["at"],
        "actor": row["actor"],
        "label": row["label"],
        "action": _action(row),
        "from_version": row["from_version_number"],
        "from_version_id": row["from_version_id"],
        "to_version": row["to_version_number"],
        "to_version_id": row["to_version_id"],
        "reason": row["reason"],
    }


def _brief(version: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if version is None:
        return None
    keys = ("id", "version_number", "changelog", "created_by", "created_at")
    return {key: version[key] for key in keys}


def _live_config(agent: Mapping[str, Any]) -> dict[str, Any]:
    from kaizen_tui.core.schema import CONFIG_FIELDS

    return {key: agent[key] for key in CONFIG_FIELDS}


def _config_answer(
    agent: Mapping[str, Any],
    label: str | None,
    version: Mapping[str, Any] | None,
    digest: str,
    config: dict[str, Any],
) -> dict[str, Any]:
    return {
        "agent_id": agent["id"],
        "name": agent["name"],
        "label": label,
        "version_id": version["id"] if version else None,
        "version_number": version["version_number"] if version else None,
        "content_hash": digest,
        "config": config,
    }
