"""The audit log as a person reads it: a few words for each event (the CLI's ``log`` and the TUI's view).

The events come from :meth:`AgentService.audit_trail` (newest first, with the
agent's name even when it was deleted); this module only words them. The
sentences are raw text from the database: each face makes them safe to show
(the CLI through ``one_line``, the TUI through ``visible``), so nothing in
them drives the terminal. Pure functions: no face, no Textual.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from kaizen_tui.core.columns import truncate

#: Values in a summary are cut to this many columns: the line is about what changed, not the text.
VALUE_WIDTH = 40
ARROW = "→"


def short_value(value: object) -> str:
    """A field's value in a summary: text as it is (quoted when empty or spaced at an edge),
    several lines as ``(N lines)``, anything else as compact JSON; cut to :data:`VALUE_WIDTH`."""
    if isinstance(value, str):
        if "\n" in value.rstrip("\n"):
            return f"({len(value.splitlines())} lines)"
        if not value or value != value.strip():
            return truncate(json.dumps(value, ensure_ascii=False), VALUE_WIDTH)
        return truncate(value, VALUE_WIDTH)
    return truncate(json.dumps(value, ensure_ascii=False, separators=(",", ":")), VALUE_WIDTH)


def _number(value: object) -> str:
    return f"v{value}" if isinstance(value, int) and not isinstance(value, bool) else "v?"


def _plural(count: object, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _update(detail: Mapping[str, Any]) -> str:
    changes = detail.get("changes")
    fields = detail.get("fields")
    if isinstance(changes, Mapping) and changes:
        # In the order of the fields (the detail's keys are sorted).
        order = [field for field in fields if field in changes] if isinstance(fields, list) else []
        order += [field for field in changes if field not in order]
        parts = []
        for field in order:
            change = changes[field]
            if isinstance(change, Mapping) and "old" in change and "new" in change:
                parts.append(f"{field} {short_value(change['old'])} {ARROW} {short_value(change['new'])}")
            else:
                parts.append(str(field))
        return "set " + ", ".join(parts)
    if isinstance(fields, list) and fields:
        return "set " + ", ".join(str(field) for field in fields)
    return "set (no change)"


def _rollback(detail: Mapping[str, Any]) -> str:
    text = f"rolled back to {_number(detail.get('to_version'))}"
    saved = detail.get("saved_as_version")
    if saved is not None:
        text += f" (saved {_number(saved)} first)"
    if detail.get("fields") == []:
        text += " (no change)"
    return text


def _prune(detail: Mapping[str, Any]) -> str:
    count = detail.get("deleted")
    oldest, newest = detail.get("oldest_deleted"), detail.get("newest_deleted")
    text = f"pruned {_plural(count, 'version')}"
    if oldest is not None and newest is not None:
        text += f" {_number(oldest)}" if oldest == newest else f" {_number(oldest)}–{_number(newest)}"
    keep = detail.get("keep")
    if keep is not None:
        text += f" (kept the newest {keep})"
    archive = detail.get("archive")
    if isinstance(archive, str):
        text += f", archived to {archive}"
    return text


#: What an import's detail counts besides its versions: the key, the word (one, several), what happened.
_IMPORTED = (
    ("labels_added", ("label", "labels"), "added"),
    ("labels_moved", ("label", "labels"), "moved"),
    ("labels_removed", ("label", "labels"), "removed"),
    ("label_events_added", ("ledger entry", "ledger entries"), "added"),
    ("protected_labels_added", ("protected label name", "protected label names"), "added"),
    ("protected_labels_removed", ("protected label name", "protected label names"), "removed"),
)


def _imported(detail: Mapping[str, Any]) -> str:
    """``imported 2 versions from f.jsonl``, with what changed in labels (``; 1 label removed``); an
    import's event of no agent: ``imported from f.jsonl: 2 audit events added, 1 protected label name removed``."""
    source = detail.get("file", "?")
    others = []
    for key, (one, several), done in _IMPORTED:
        count = detail.get(key)
        if isinstance(count, int) and count:
            others.append(f"{count} {one if count == 1 else several} {done}")
    if "versions_added" not in detail:
        events = detail.get("audit_events_added")
        if isinstance(events, int) and events:
            others.insert(0, f"{_plural(events, 'audit event')} added")
        return f"imported from {source}" + (f": {', '.join(others)}" if others else "")
    versions = _plural(detail.get("versions_added"), "version")
    what = f"the agent and {versions}" if detail.get("agent_added") else versions
    return f"imported {what} from {source}" + (f"; {', '.join(others)}" if others else "")


def _deleted_agent(detail: Mapping[str, Any]) -> str:
    count = detail.get("versions_deleted")
    return "deleted the agent" + (f" and {_plural(count, 'version')}" if count is not None else "")


def _deleted_version(detail: Mapping[str, Any]) -> str:
    changelog = detail.get("changelog")
    text = f"deleted {_number(detail.get('version_number'))}"
    if isinstance(changelog, str) and changelog.strip():
        text += f" ({short_value(changelog.strip().splitlines()[0])})"
    return text


def _reason(detail: Mapping[str, Any]) -> str:
    """`` (why)`` after a label's change, when a reason was given: its first line, cut short."""
    reason = detail.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return ""
    return f" ({short_value(reason.strip().splitlines()[0])})"


def _label_name(detail: Mapping[str, Any]) -> str:
    label = detail.get("label")
    return label if isinstance(label, str) else "?"


def _label_set(detail: Mapping[str, Any]) -> str:
    return f"set {_label_name(detail)} {ARROW} {_number(detail.get('to_version'))}{_reason(detail)}"


def _label_move(detail: Mapping[str, Any]) -> str:
    moved = f"{_number(detail.get('from_version'))} {ARROW} {_number(detail.get('to_version'))}"
    return f"moved {_label_name(detail)} {moved}{_reason(detail)}"


def _label_remove(detail: Mapping[str, Any]) -> str:
    was = detail.get("from_version")
    pointed = f" (was {_number(was)})" if was is not None else ""
    return f"removed {_label_name(detail)}{pointed}{_reason(detail)}"


SUMMARIES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "agent.create": lambda detail: "created",
    "agent.update": _update,
    "agent.delete": _deleted_agent,
    "version.create": lambda detail: f"snapshot {_number(detail.get('version_number'))}",
    "version.rollback": _rollback,
    "version.delete": _deleted_version,
    "version.prune": _prune,
    "import": _imported,
    "token.create": lambda detail: f"created the {detail.get('role', '?')} token {detail.get('name', '?')}",
    "token.revoke": lambda detail: f"revoked the token {detail.get('name', '?')}",
    "label.set": _label_set,
    "label.move": _label_move,
    "label.remove": _label_remove,
    "label.protect": lambda detail: f"protected the label {_label_name(detail)} (for every agent)",
    "label.unprotect": lambda detail: f"unprotected the label {_label_name(detail)}",
}


def event_summary(event: Mapping[str, Any]) -> str:
    """What an audit event did, in a few words: ``set temperature 0.7 → 0.2``, ``snapshot v5``,
    ``rolled back to v3 (saved v6 first)``, ``pruned 12 versions v1–v12 (kept the newest 10)``,
    ``moved production v1 → v3 (better answers)``."""
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        detail = {}
    summarise = SUMMARIES.get(event.get("action", ""))
    if summarise is None:
        # An action of a newer kaizen-tui: its detail as it is.
        return short_value(dict(detail)) if detail else ""
    try:
        return summarise(detail)
    except (TypeError, ValueError, AttributeError):
        # A detail written by another tool, not shaped as ours: say what we can.
        return short_value(dict(detail))


def agent_label(event: Mapping[str, Any]) -> str:
    """The agent an event is about: its name (``(deleted)`` after it when it is gone), or ``-``."""
    name = event.get("agent_name")
    if event.get("agent_id") is None:
        return "-"
    if name is None:
        name = event["agent_id"]
    return f"{name} (deleted)" if event.get("agent_deleted") else str(name)
