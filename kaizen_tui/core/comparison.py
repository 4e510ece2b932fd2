"""A comparison of two sides (a version, the live config, or nothing): the dict every face shows.

Pure: the service reads the sides, this builds what changed between them.
A side is ``{"label", "version_id", "version_number", "config", "damaged"}``;
``config`` is None when the snapshot cannot be read at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kaizen_tui.core.diff import compare_configs, is_long_text, unified_text_diff
from kaizen_tui.core.errors import DamagedSnapshot
from kaizen_tui.core.schema import CONFIG_FIELDS, loose_snapshot, parse_snapshot

LIVE = "live"


def version_side(version: Mapping[str, Any]) -> dict[str, Any]:
    """A stored version as a side: read with defaults when sound, as far as it goes when damaged."""
    label = f"v{version['version_number']}"
    damaged: str | None = None
    config: dict[str, Any] | None
    try:
        config = parse_snapshot(version["config_snapshot"], label)
    except DamagedSnapshot as error:
        damaged = error.reason
        try:
            config = loose_snapshot(version["config_snapshot"], label)
        except DamagedSnapshot:
            config = None  # unreadable: nothing to compare
    return {
        "label": label,
        "version_id": version["id"],
        "version_number": version["version_number"],
        "config": config,
        "damaged": damaged,
    }


def live_side(agent: Mapping[str, Any]) -> dict[str, Any]:
    """The agent's live config as a side."""
    config = {key: agent[key] for key in CONFIG_FIELDS}
    return {"label": LIVE, "version_id": None, "version_number": None, "config": config, "damaged": None}


def nothing_side() -> dict[str, Any]:
    """The side before a first version: every field is new."""
    return {"label": "nothing", "version_id": None, "version_number": None, "config": {}, "damaged": None}


def comparison(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The comparison dict: both sides' labels, the field changes, text diffs, warnings."""
    old, new = dict(old), dict(new)
    old_config, new_config = old.pop("config"), new.pop("config")
    # An unreadable side compares as empty, but is never "identical".
    unreadable = old_config is None or new_config is None
    old_config, new_config = dict(old_config or {}), dict(new_config or {})
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
