"""Three-way merge of an agent's fields: what an editor writes when others wrote meanwhile.

A person opens the fields as they were (``base``), edits them (``mine``), and
meanwhile someone else may have changed the agent (``theirs``). Only the
fields the person changed are written; a field only they changed is kept as
they set it; a field both changed to different values is a conflict that the
person must settle. Nothing here touches a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kaizen_tui.core.diff import same_value


@dataclass(frozen=True)
class Merge:
    """The outcome of :func:`merge_fields`."""

    #: Fields to write, with the person's values.
    changes: dict[str, Any] = field(default_factory=dict)
    #: Fields both changed, differently: ``{"field", "base", "mine", "theirs"}``.
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    #: Fields someone else changed that the person did not touch: kept as they are.
    kept: list[str] = field(default_factory=list)


def merge_fields(base: Mapping[str, Any], mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> Merge:
    """Merge the person's edit (``base`` -> ``mine``) into ``theirs``.

    ``mine`` may hold only some fields: a field left out is not a change.
    Both sides setting a field to the same value is no conflict.
    """
    merge = Merge()
    for key, value in mine.items():
        if key in base and same_value(base[key], value):
            continue  # not changed by the person
        if key in theirs and same_value(theirs[key], value):
            continue  # already so
        if key in base and key in theirs and not same_value(base[key], theirs[key]):
            merge.conflicts.append({"field": key, "base": base[key], "mine": value, "theirs": theirs[key]})
            continue
        merge.changes[key] = value
    for key in theirs:
        untouched = key not in mine or (key in base and same_value(base[key], mine[key]))
        if key in base and untouched and not same_value(base[key], theirs[key]):
            merge.kept.append(key)
    return merge
