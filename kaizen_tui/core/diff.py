"""Comparing two agent configurations. Pure functions: no I/O, no Textual.

``compare_configs`` says which fields changed, were added or removed, with
their old and new values; deepdiff walks the structure, so a change deep in
``extra`` is reported with its path. Numbers compare by value: ``0.7`` and
``0.70``, ``1`` and ``1.0`` are not changes.

``text_hunks`` (``line_hunks`` for texts already split) gives a line diff of
two texts with the changed words inside changed lines marked, for renderers
that draw it themselves.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kaizen_tui.core.schema import CONFIG_FIELDS

ChangeKind = Literal["changed", "added", "removed"]
#: A string longer than this, or with a line break, also gets a line diff.
LONG_TEXT = 80
#: Word marks are computed for a pair of lines up to this many word pairs
#: (about 1,000 words and spaces on each side); longer lines are marked whole.
WORD_DIFF_LIMIT = 1_000_000

_PATH_PART = re.compile(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+)\]")
_WORD = re.compile(r"\w+|\s+|[^\w\s]")


def _path_parts(deep_path: str) -> list[str | int]:
    """``root['extra']['tools'][0]`` -> ``['extra', 'tools', 0]``."""
    parts: list[str | int] = []
    for token in _PATH_PART.findall(deep_path):
        if token[0] in "'\"":
            parts.append(token[1:-1].replace("\\" + token[0], token[0]).replace("\\\\", "\\"))
        else:
            parts.append(int(token))
    return parts


def _dotted(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _field_order(field_name: str) -> tuple[int, str]:
    """Config fields in reading order, then any other key alphabetically."""
    try:
        return (CONFIG_FIELDS.index(field_name), "")
    except ValueError:
        return (len(CONFIG_FIELDS), field_name)


def is_long_text(value: object) -> bool:
    return isinstance(value, str) and ("\n" in value or len(value) > LONG_TEXT)


def same_value(old: object, new: object) -> bool:
    """Equal as config values: numbers by value (1 == 1.0), but True is not 1."""
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new) and old == new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return old == new
    if isinstance(old, dict) and isinstance(new, dict):
        return old.keys() == new.keys() and all(same_value(old[key], new[key]) for key in old)
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(map(same_value, old, new))
    return type(old) is type(new) and old == new


def _change(field_name: str, path: str, kind: ChangeKind, old: Any, new: Any) -> dict[str, Any]:
    return {
        "field": field_name,
        "path": path,
        "kind": kind,
        "old": None if kind == "added" else old,
        "new": None if kind == "removed" else new,
    }


def _nested_changes(field_name: str, old: Any, new: Any) -> list[dict[str, Any]]:
    """Changes inside a list or object (``extra``), each with its full path."""
    from deepdiff import DeepDiff  # only structured values need it; it is slow to import

    # Not ignore_numeric_type_changes: it would take True for 1. Equal
    # numbers of different types are dropped below instead.
    found = DeepDiff({field_name: old}, {field_name: new}, view="tree")
    changes = []
    for report, kind in _DEEPDIFF_KINDS.items():
        for item in found.get(report, []):
            if report == "type_changes" and same_value(item.t1, item.t2):
                continue
            parts = _path_parts(item.path())
            changes.append(_change(field_name, _dotted(parts), kind, item.t1, item.t2))
    # deepdiff can miss what it takes as equal (True in a list against 1):
    # the values differ, so report the field as a whole rather than nothing.
    return changes or [_change(field_name, field_name, "changed", old, new)]


_DEEPDIFF_KINDS: dict[str, ChangeKind] = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "set_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
    "set_item_removed": "removed",
}


def compare_configs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every difference between two configs, ordered as the fields are.

    Each change is ``{"field", "path", "kind", "old", "new"}``: ``field`` is
    the top-level key, ``path`` the full path (``extra.tools[0].name``), and a
    side that has no value is ``None``. Top-level values are compared
    directly (a long prompt is diffed once, by the text diff, not again by
    deepdiff); deepdiff walks only nested objects and lists.
    """
    changes: list[dict[str, Any]] = []
    for key in sorted({*old, *new}, key=_field_order):
        if key not in new:
            changes.append(_change(key, key, "removed", old[key], None))
        elif key not in old:
            changes.append(_change(key, key, "added", None, new[key]))
        elif same_value(old[key], new[key]):
            continue
        elif isinstance(old[key], (dict, list)) and type(old[key]) is type(new[key]):
            changes.extend(_nested_changes(key, old[key], new[key]))
        else:
            changes.append(_change(key, key, "changed", old[key], new[key]))
    changes.sort(key=lambda change: (_field_order(change["field"]), change["path"]))
    return changes


def split_lines(text: str) -> list[str]:
    """Lines split at ``\n`` only: a ``\r`` or form feed stays in its line,
    so a change of line endings alone still shows as a changed line."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def unified_text_diff(old: str, new: str, old_label: str, new_label: str, context: int = 3) -> str:
    """A plain unified diff of two texts, as ``diff -u`` would print it."""
    lines = difflib.unified_diff(
        split_lines(old), split_lines(new), fromfile=old_label, tofile=new_label, lineterm="", n=context
    )
    return "\n".join(lines)


@dataclass
class DiffLine:
    """One line of a text diff. ``marks`` are (start, end) spans of changed words."""

    tag: Literal[" ", "-", "+"]
    text: str
    old_number: int | None
    new_number: int | None
    marks: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: list[DiffLine]

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"


def _word_marks(old_line: str, new_line: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The spans of words that differ between two versions of one line."""
    old_words, new_words = _WORD.findall(old_line), _WORD.findall(new_line)
    if len(old_words) * len(new_words) > WORD_DIFF_LIMIT:
        # Matching words is quadratic: past this, mark the whole lines.
        return [(0, len(old_line))], [(0, len(new_line))]
    matcher = difflib.SequenceMatcher(None, old_words, new_words, autojunk=False)
    old_offsets = _offsets(old_words)
    new_offsets = _offsets(new_words)
    old_marks: list[tuple[int, int]] = []
    new_marks: list[tuple[int, int]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            old_marks.append((old_offsets[i1], old_offsets[i2]))
        if j2 > j1:
            new_marks.append((new_offsets[j1], new_offsets[j2]))
    return old_marks, new_marks


def _offsets(words: list[str]) -> list[int]:
    offsets = [0]
    for word in words:
        offsets.append(offsets[-1] + len(word))
    return offsets


def text_hunks(old: str, new: str, context: int = 3) -> list[Hunk]:
    """A line diff of two texts in hunks; changed lines carry word marks."""
    return line_hunks(split_lines(old), split_lines(new), context)


def line_hunks(old_lines: list[str], new_lines: list[str], context: int = 3, *, quick: bool = False) -> list[Hunk]:
    """:func:`text_hunks` of texts already split into lines.

    ``quick`` lets difflib skip lines that repeat everywhere (its autojunk
    heuristic): the diff may come out longer, but matching huge texts no
    longer takes minutes.
    """
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=quick)
    hunks: list[Hunk] = []
    for group in matcher.get_grouped_opcodes(context):
        lines: list[DiffLine] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                lines.extend(DiffLine(" ", old_lines[i], i + 1, j + 1) for i, j in zip(range(i1, i2), range(j1, j2)))
                continue
            removed = [DiffLine("-", old_lines[i], i + 1, None) for i in range(i1, i2)]
            added = [DiffLine("+", new_lines[j], None, j + 1) for j in range(j1, j2)]
            if tag == "replace":
                for old_line, new_line in zip(removed, added):
                    old_line.marks, new_line.marks = _word_marks(old_line.text, new_line.text)
            lines.extend(removed)
            lines.extend(added)
        first, last = group[0], group[-1]
        hunks.append(
            Hunk(
                old_start=first[1] + 1,
                old_count=last[2] - first[1],
                new_start=first[3] + 1,
                new_count=last[4] - first[3],
                lines=lines,
            )
        )
    return hunks
