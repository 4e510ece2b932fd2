"""The diff pane: a comparison of two configurations, drawn line by line.

It shows a comparison dict made by the service: a headline, a table of the
fields that changed (field, old, new) and, for the system prompt and other
long text, a line diff with the changed words marked, side by side when the
pane is wide enough and unified otherwise.

Only the visible lines are painted (the Line API), so a long prompt costs
nothing to scroll. Every string from the database goes through
:func:`visible`: it is data, never markup.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, Literal

from rich import box
from rich.console import Console, RenderableType
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.content import Content
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kaizen_tui.core.diff import DiffLine, Hunk, is_long_text, line_hunks, split_lines
from kaizen_tui.tui.widgets.text import MISSING, foreground, format_value, visible

SplitMode = Literal["auto", "split", "unified"]
#: The pane shows the text diff side by side from this many columns on.
SPLIT_MIN_WIDTH = 90

# What is drawn of a huge value is capped (a 1 MB prompt would be 14,000
# rows): the rest is summed up in a note. ``kaizen-tui diff`` prints it all.
#: Rows drawn of one text diff.
MAX_TEXT_ROWS = 3000
#: Characters drawn of one line of a text diff, or of one value in the field table.
MAX_LINE_CHARS = 8000
#: Line pairs above which lines are matched without looking for the best match (it is quadratic).
EXACT_MATCH_LIMIT = 4_000_000
#: Text this long (all changed text of a comparison) is laid out in a thread, not on the UI's loop.
BACKGROUND_LAYOUT_CHARS = 50_000


def diff_hunks(old: str, new: str, context: int = 3) -> list[Hunk]:
    """:func:`kaizen_tui.core.diff.text_hunks`, quick on huge texts.

    The lines both texts start and end with are left out of the matching
    (all but ``context`` of them), so editing a line of a 1 MB prompt costs
    what editing a short one does; and when what is left is still huge, the
    lines are matched the quick way (difflib's heuristics), which can give a
    longer diff but never takes minutes.
    """
    old_lines, new_lines = split_lines(old), split_lines(new)
    prefix = 0
    for a, b in zip(old_lines, new_lines):
        if a != b:
            break
        prefix += 1
    suffix = 0
    limit = min(len(old_lines), len(new_lines)) - prefix
    while suffix < limit and old_lines[-1 - suffix] == new_lines[-1 - suffix]:
        suffix += 1
    skip = max(0, prefix - context)
    keep_end = max(0, suffix - context)
    old_mid = old_lines[skip : len(old_lines) - keep_end]
    new_mid = new_lines[skip : len(new_lines) - keep_end]
    hunks = line_hunks(old_mid, new_mid, context, quick=len(old_mid) * len(new_mid) > EXACT_MATCH_LIMIT)
    if skip:
        for hunk in hunks:
            hunk.old_start += skip
            hunk.new_start += skip
            for line in hunk.lines:
                line.old_number = line.old_number + skip if line.old_number else None
                line.new_number = line.new_number + skip if line.new_number else None
    return hunks


@dataclass
class DiffStyles:
    """Rich styles for each part of a diff, taken from the app's CSS (theme colours)."""

    added: Style
    removed: Style
    added_word: Style
    removed_word: Style
    sign_added: Style
    sign_removed: Style
    gutter: Style
    hunk: Style
    title: Style
    muted: Style
    warning: Style
    field: Style
    same: Style

    @classmethod
    def plain(cls) -> DiffStyles:
        """Styles without colour (for tests and as a fallback)."""
        null = Style()
        return cls(
            added=null,
            removed=null,
            added_word=Style(bold=True, underline=True),
            removed_word=Style(bold=True, underline=True),
            sign_added=Style(bold=True),
            sign_removed=Style(bold=True),
            gutter=Style(dim=True),
            hunk=Style(dim=True),
            title=Style(bold=True),
            muted=Style(dim=True),
            warning=Style(bold=True),
            field=Style(bold=True),
            same=Style(bold=True),
        )


def _unreadable_side(comparison: dict[str, Any], changes: list[dict[str, Any]]) -> str | None:
    """The label of a damaged side none of whose fields could be read, if any."""
    for side, key in (("to", "new"), ("from", "old")):
        info = comparison[side]
        if info.get("damaged") and changes and all(change[key] is None for change in changes):
            return visible(info["label"])
    return None


def comparison_label(comparison: dict[str, Any]) -> str:
    """``v3 → v4``, ``v2 → live``, ``v1 (first version)``, or ``v491 (oldest kept; v1–v490 deleted)``.

    Nothing before a version other than v1: the ones before it were pruned or deleted.
    """
    old = visible(comparison["from"]["label"])
    new = visible(comparison["to"]["label"])
    if old == "nothing":
        number = comparison["to"].get("version_number")
        if isinstance(number, int) and number > 1:
            gone = "v1" if number == 2 else f"v1–v{number - 1}"
            return f"{new} (oldest kept; {gone} deleted)"
        return f"{new} (first version)"
    return f"{old} → {new}"


def _count_lines(text: Any) -> int:
    return len(text.splitlines()) if isinstance(text, str) else 0


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def is_text_change(change: dict[str, Any]) -> bool:
    """A change shown as a line diff rather than in the field table."""
    old, new = change.get("old"), change.get("new")
    if not isinstance(old, (str, type(None))) or not isinstance(new, (str, type(None))):
        return False
    return is_long_text(old) or is_long_text(new)


class DiffRenderer:
    """Lays out a comparison as lines of a given width."""

    def __init__(self, console: Console, styles: DiffStyles, width: int, split: bool) -> None:
        self.console = console
        self.styles = styles
        self.width = max(20, width)
        self.split = split
        self.lines: list[Text] = []

    # -- output -------------------------------------------------------------

    def add(self, text: Text | str = "", style: Style | None = None) -> None:
        """Add text wrapped to the width (one or more lines)."""
        if isinstance(text, str):
            text = Text(text)
        if style is not None:
            text.stylize_before(style)
        if not text.plain:
            self.lines.append(Text(""))
            return
        for line in text.wrap(self.console, self.width, overflow="fold"):
            self.lines.append(line)

    def add_renderable(self, renderable: RenderableType) -> None:
        options = self.console.options.update_width(self.width)
        for line in self.console.render_lines(renderable, options, pad=False):
            text = Text()
            for segment in line:
                if not segment.control:
                    text.append(segment.text, segment.style)
            self.lines.append(text)

    def _wrap(self, text: Text, width: int) -> list[Text]:
        width = max(1, width)
        if not text.plain:
            return [Text(" " * width)]
        out = []
        for line in text.wrap(self.console, width, overflow="fold"):
            line.rstrip()
            if line.cell_len < width:
                line.pad_right(width - line.cell_len)
            out.append(line)
        return out

    # -- comparison ---------------------------------------------------------

    def comparison(self, comparison: dict[str, Any], heading: str | None = None) -> list[Text]:
        styles = self.styles
        old_label = visible(comparison["from"]["label"])
        new_label = visible(comparison["to"]["label"])
        changes = comparison["changes"]
        title = Text()
        title.append(visible(heading) if heading else comparison_label(comparison), styles.title)
        fields: list[str] = []
        for change in changes:
            if change["field"] not in fields:
                fields.append(change["field"])
        unreadable = _unreadable_side(comparison, changes)
        if comparison["identical"] or unreadable is not None:
            pass
        elif old_label == "nothing":
            title.append("  every field is new", styles.muted)
        else:
            title.append(
                f"  {_plural(len(fields), 'field')} changed: {', '.join(visible(f) for f in fields)}", styles.muted
            )
        self.add(title)
        for warning in comparison.get("warnings", []):
            self.add(Text("✗ " + visible(warning), styles.warning))
        if unreadable is not None:
            self.add()
            self.add(
                Text(
                    f"The snapshot of {unreadable} cannot be read, so there is nothing to compare. "
                    f"Rolling back to {unreadable} is refused; deleting it (x) is safe.",
                    styles.muted,
                )
            )
            return self.lines
        if comparison["identical"]:
            self.add()
            self.add(Text(f"= {new_label} is identical to {old_label}: nothing changed.", styles.same))
            return self.lines
        self.add()
        # The field table goes first when it is short; a long one (a big
        # structured value) goes after the text diffs, so the prompt diff is
        # on the first screen.
        head = self.lines
        self.lines = []
        self._field_table(changes, old_label, new_label)
        table, self.lines = self.lines, []
        for change in changes:
            if is_text_change(change):
                self.add()
                self._text_diff(change, old_label, new_label)
        texts = self.lines
        if len(table) <= self.SHORT_TABLE or not texts:
            self.lines = head + table + texts
        else:
            self.lines = head + texts[1:] + [Text("")] + table
        return self.lines

    #: A field table at most this many lines long comes before the text diffs.
    SHORT_TABLE = 10

    #: Narrower than this, the changed fields are listed one under the other.
    TABLE_MIN_WIDTH = 60

    def _field_table(self, changes: list[dict[str, Any]], old_label: str, new_label: str) -> None:
        if self.width < self.TABLE_MIN_WIDTH:
            self._field_list(changes, old_label, new_label)
            return
        styles = self.styles
        table = Table(
            box=box.SIMPLE_HEAD,
            expand=True,
            show_edge=False,
            pad_edge=False,
            header_style=styles.muted,
            border_style=styles.muted,
        )
        field_width = min(24, max([5] + [len(visible(change["path"])) for change in changes]))
        table.add_column("field", style=styles.field, no_wrap=False, width=field_width)
        table.add_column(Text(old_label), ratio=3)
        table.add_column(Text(new_label), ratio=3)
        for change in changes:
            path = Text(visible(change["path"]))
            if is_text_change(change):
                old_lines, new_lines = _count_lines(change["old"]), _count_lines(change["new"])
                table.add_row(
                    path,
                    Text(_text_summary(change["old"], old_lines), styles.muted),
                    Text(_text_summary(change["new"], new_lines) + " (line diff)", styles.muted),
                )
                continue
            table.add_row(path, self._value(change["old"], "removed"), self._value(change["new"], "added"))
        self.add_renderable(table)

    def _field_list(self, changes: list[dict[str, Any]], old_label: str, new_label: str) -> None:
        """Each changed field with its old value (``-``) and new value (``+``) below it."""
        styles = self.styles
        label_width = max(len(old_label), len(new_label))
        for change in changes:
            self.add(Text(visible(change["path"]), styles.field))
            if is_text_change(change):
                old_lines, new_lines = _count_lines(change["old"]), _count_lines(change["new"])
                summary = f"{_text_summary(change['old'], old_lines)} → {_text_summary(change['new'], new_lines)}"
                self.add(Text(f"  {summary} (line diff)", styles.muted))
                continue
            for sign, label, value, side in (
                ("-", old_label, change["old"], "removed"),
                ("+", new_label, change["new"], "added"),
            ):
                if (side == "removed" and change["kind"] == "added") or (
                    side == "added" and change["kind"] == "removed"
                ):
                    continue
                prefix = Text("  ")
                prefix.append_text(self._sign(sign))
                prefix.append(f" {label.ljust(label_width)} ", styles.gutter)
                indent = prefix.cell_len
                for index, part in enumerate(self._wrap(self._value(value, side), self.width - indent)):
                    row = (prefix if index == 0 else Text(" " * indent)).copy()
                    row.append_text(part)
                    self.lines.append(row)

    def _value(self, value: Any, side: str) -> Text:
        if value is None:
            return Text(MISSING, self.styles.muted)
        shown = format_value(value)
        more = len(shown) - MAX_LINE_CHARS
        text = Text(visible(shown[:MAX_LINE_CHARS]))
        text.stylize(self.styles.removed_word if side == "removed" else self.styles.added_word)
        if more > 0:
            text.append(f" … {more:,} more characters", self.styles.muted)
        return text

    def _text_diff(self, change: dict[str, Any], old_label: str, new_label: str) -> None:
        styles = self.styles
        old = change["old"] if isinstance(change["old"], str) else ""
        new = change["new"] if isinstance(change["new"], str) else ""
        hunks = diff_hunks(old, new)
        added = sum(1 for hunk in hunks for line in hunk.lines if line.tag == "+")
        removed = sum(1 for hunk in hunks for line in hunk.lines if line.tag == "-")
        header = Text()
        header.append(visible(change["path"]), styles.field)
        header.append("  ")
        header.append(f"-{removed}", styles.sign_removed)
        header.append(" ")
        header.append(f"+{added}", styles.sign_added)
        header.append(
            f"  {old_label} → {new_label}" if old_label != "nothing" else f"  new in {new_label}", styles.muted
        )
        self.add(header)
        if not hunks:
            self.add(Text("(only line endings or trailing spaces differ)", styles.muted))
            return
        digits = max(
            len(str(number))
            for hunk in hunks
            for line in hunk.lines
            for number in (line.old_number or 0, line.new_number or 0)
        )
        first_row = len(self.lines)
        for number, hunk in enumerate(hunks):
            drawn = len(self.lines) - first_row
            if drawn >= MAX_TEXT_ROWS:
                left = sum(len(later.lines) for later in hunks[number:])
                self.add(
                    Text(
                        f"… {left:,} more lines of this diff are not shown here; `kaizen-tui diff` prints them all.",
                        styles.muted,
                    )
                )
                return
            self.lines.append(Text(hunk.header, styles.hunk))
            if self.split:
                left_out = self._split_hunk(hunk.lines, digits, MAX_TEXT_ROWS - drawn)
            else:
                left_out = self._unified_hunk(hunk.lines, digits, MAX_TEXT_ROWS - drawn)
            if left_out:
                left = left_out + sum(len(later.lines) for later in hunks[number + 1 :])
                self.add(
                    Text(
                        f"… {left:,} more lines of this diff are not shown here; `kaizen-tui diff` prints them all.",
                        styles.muted,
                    )
                )
                return

    def _line_text(self, line: DiffLine) -> Text:
        """The text of one diff line, changed words marked, control characters visible.

        When most of a line changed, marking words says nothing more than the
        line's colour does, so the marks are left out.
        """
        styles = self.styles
        word_style = styles.added_word if line.tag == "+" else styles.removed_word
        text = Text()
        position = 0
        source = line.text[:MAX_LINE_CHARS]
        marked = sum(end - start for start, end in line.marks)
        marks = line.marks if line.text.strip() and marked <= 0.6 * len(line.text) else []
        for start, end in marks:
            start, end = min(start, len(source)), min(end, len(source))
            if start > position:
                text.append(visible(source[position:start]))
            if end > start:
                text.append(visible(source[start:end]), word_style)
            position = max(position, end)
        text.append(visible(source[position:]))
        if len(line.text) > len(source):
            text.append(f" … the line goes on for {len(line.text) - len(source):,} more characters", styles.muted)
        return text

    def _row_style(self, tag: str) -> Style | None:
        if tag == "+":
            return self.styles.added
        if tag == "-":
            return self.styles.removed
        return None

    def _sign(self, tag: str) -> Text:
        if tag == "+":
            return Text("+", self.styles.sign_added)
        if tag == "-":
            return Text("-", self.styles.sign_removed)
        return Text(" ")

    def _unified_hunk(self, lines: list[DiffLine], digits: int, budget: int) -> int:
        """Draw the lines of a hunk in at most ``budget`` rows; returns how many lines were left out."""
        styles = self.styles
        gutter_width = digits * 2 + 4
        text_width = self.width - gutter_width
        start = len(self.lines)
        for index, line in enumerate(lines):
            if len(self.lines) - start >= budget:
                return len(lines) - index
            old = str(line.old_number) if line.old_number else ""
            new = str(line.new_number) if line.new_number else ""
            gutter = Text.assemble((old.rjust(digits), styles.gutter), " ", (new.rjust(digits), styles.gutter), " ")
            gutter.append_text(self._sign(line.tag))
            gutter.append(" ")
            row_style = self._row_style(line.tag)
            for index, part in enumerate(self._wrap(self._line_text(line), text_width)):
                row = (gutter if index == 0 else Text(" " * gutter_width)).copy()
                row.append_text(part)
                if row_style is not None:
                    row.stylize_before(row_style)
                self.lines.append(row)
        return 0

    def _split_hunk(self, lines: list[DiffLine], digits: int, budget: int) -> int:
        """Draw the lines of a hunk side by side in at most ``budget`` rows; returns how many lines were left out."""
        rows: list[tuple[DiffLine | None, DiffLine | None]] = []
        removed: list[DiffLine] = []
        added: list[DiffLine] = []

        def flush() -> None:
            rows.extend(zip_longest(removed, added))
            removed.clear()
            added.clear()

        for line in lines:
            if line.tag == "-":
                if added:
                    flush()
                removed.append(line)
            elif line.tag == "+":
                added.append(line)
            else:
                flush()
                rows.append((line, line))
        flush()
        left_width = (self.width - 1) // 2
        right_width = self.width - 1 - left_width
        separator = Text("│", self.styles.muted)
        start = len(self.lines)
        for number, (left, right) in enumerate(rows):
            if len(self.lines) - start >= budget:
                return sum(1 if old is new else (old is not None) + (new is not None) for old, new in rows[number:])
            left_lines = self._side(left, "old", left_width, digits)
            right_lines = self._side(right, "new", right_width, digits)
            height = max(len(left_lines), len(right_lines))
            left_lines += [self._filler(left, left_width)] * (height - len(left_lines))
            right_lines += [self._filler(right, right_width)] * (height - len(right_lines))
            for left_part, right_part in zip(left_lines, right_lines):
                self.lines.append(Text.assemble(left_part, separator, right_part))
        return 0

    def _filler(self, line: DiffLine | None, width: int) -> Text:
        """Padding under a side whose line is shorter (or missing: hatched)."""
        if line is None:
            return Text("╱" * width, self.styles.muted)
        filler = Text(" " * width)
        row_style = self._row_style(line.tag)
        if row_style is not None:
            filler.stylize_before(row_style)
        return filler

    def _side(self, line: DiffLine | None, side: str, width: int, digits: int) -> list[Text]:
        if line is None:
            return [Text("╱" * width, self.styles.muted)]
        number = line.old_number if side == "old" else line.new_number
        gutter = Text.assemble((str(number or "").rjust(digits), self.styles.gutter), " ")
        gutter.append_text(self._sign(line.tag))
        gutter.append(" ")
        gutter_width = digits + 3
        row_style = self._row_style(line.tag)
        out = []
        for index, part in enumerate(self._wrap(self._line_text(line), width - gutter_width)):
            row = (gutter if index == 0 else Text(" " * gutter_width)).copy()
            row.append_text(part)
            if row_style is not None:
                row.stylize_before(row_style)
            out.append(row)
        return out


def _changed_text(comparison: dict[str, Any]) -> int:
    """How much text the changes of a comparison hold (what laying it out costs)."""
    total = 0
    for change in comparison.get("changes", []):
        for side in ("old", "new"):
            value = change.get(side)
            total += len(value) if isinstance(value, str) else len(str(value)) if isinstance(value, (dict, list)) else 0
    return total


def _layout(job: tuple, styles: DiffStyles, base: Style, console: Console) -> list[Strip]:
    """The strips of a comparison or a message, ``job`` being (number, comparison, heading, message, width, split)."""
    _number, comparison, heading, message, width, split = job
    renderer = DiffRenderer(console, styles, width, split)
    if comparison is not None:
        lines = renderer.comparison(comparison, heading)
    else:
        for line in message:
            renderer.add(line.copy())
        lines = renderer.lines
    return [Strip(list(line.render(console))).adjust_cell_length(width).apply_style(base) for line in lines]


def comparison_text(comparison: dict[str, Any], heading: str | None = None, title: str | None = None) -> str:
    """A comparison as plain text, as the pane shows it but unified and not wrapped: what ``y`` copies.

    The headline (after ``title``, the agent's name), the changed fields one
    a line (``temperature: 0.7 → 0.2``), then the line diff of each long
    text, hunk by hunk, ``-``/``+`` before the lines, as ``diff -u`` writes
    them. Every string from the database goes through :func:`visible`, as
    on the screen: pasted elsewhere, nothing in it drives a terminal.
    """
    old_label = visible(comparison["from"]["label"])
    new_label = visible(comparison["to"]["label"])
    changes = comparison["changes"]
    headline = visible(heading) if heading else comparison_label(comparison)
    lines = [f"{visible(title)}: {headline}" if title else headline]
    fields = list(dict.fromkeys(visible(change["field"]) for change in changes))
    unreadable = _unreadable_side(comparison, changes)
    lines += [f"✗ {visible(warning)}" for warning in comparison.get("warnings", [])]
    if unreadable is not None:
        lines.append(f"The snapshot of {unreadable} cannot be read, so there is nothing to compare.")
        return "\n".join(lines) + "\n"
    if comparison["identical"]:
        lines.append(f"= {new_label} is identical to {old_label}: nothing changed.")
        return "\n".join(lines) + "\n"
    lines.append(
        "every field is new"
        if old_label == "nothing"
        else f"{_plural(len(fields), 'field')} changed: {', '.join(fields)}"
    )
    lines.append("")
    texts = []
    for change in changes:
        path = visible(change["path"])
        if is_text_change(change):
            old_lines, new_lines = _count_lines(change["old"]), _count_lines(change["new"])
            summary = f"{_text_summary(change['old'], old_lines)} → {_text_summary(change['new'], new_lines)}"
            lines.append(f"{path}: {summary} (line diff below)")
            texts.append(change)
            continue
        lines.append(f"{path}: {visible(format_value(change['old']))} → {visible(format_value(change['new']))}")
    for change in texts:
        old = change["old"] if isinstance(change["old"], str) else ""
        new = change["new"] if isinstance(change["new"], str) else ""
        lines += ["", f"--- {visible(change['path'])} ({old_label})", f"+++ {visible(change['path'])} ({new_label})"]
        hunks = diff_hunks(old, new)
        if not hunks:
            lines.append("(only line endings or trailing spaces differ)")
        for hunk in hunks:
            lines.append(hunk.header)
            lines += [f"{line.tag}{visible(line.text)}" for line in hunk.lines]
    return "\n".join(lines) + "\n"


def _text_summary(value: Any, lines: int) -> str:
    if value is None:
        return MISSING
    if not value:
        return "(empty)"
    return _plural(lines, "line")


class DiffBody(ScrollView, can_focus=True):
    """A scrollable comparison (or a message when there is nothing to compare)."""

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    COMPONENT_CLASSES = {
        "diff--added",
        "diff--removed",
        "diff--added-word",
        "diff--removed-word",
        "diff--sign-added",
        "diff--sign-removed",
        "diff--gutter",
        "diff--hunk",
        "diff--title",
        "diff--muted",
        "diff--warning",
        "diff--field",
        "diff--same",
    }

    DEFAULT_CSS = """
    DiffBody {
        overflow-x: hidden;
        overflow-y: auto;
        scrollbar-gutter: stable;
        padding: 0 0 0 1;
    }
    """

    split_mode: reactive[SplitMode] = reactive("auto")

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._comparison: dict[str, Any] | None = None
        self._heading: str | None = None
        self._message: list[Text] = []
        self._strips: list[Strip] = []
        self._built_for: tuple[int, bool] | None = None
        self._layout_number = 0

    # -- what to show -------------------------------------------------------

    @property
    def comparison(self) -> dict[str, Any] | None:
        return self._comparison

    def show_comparison(self, comparison: dict[str, Any], heading: str | None = None) -> None:
        self._comparison = comparison
        self._heading = heading
        self._message = []
        self._rebuild()
        self.scroll_home(animate=False)

    def show_message(self, *lines: Text | Content | str) -> None:
        """Show lines of text instead of a comparison (loading, empty, an error)."""
        self._comparison = None
        self._message = [self._to_text(line) for line in lines]
        self._rebuild()
        self.scroll_home(animate=False)

    def _to_text(self, line: Text | Content | str) -> Text:
        if isinstance(line, Text):
            return line
        if isinstance(line, str):
            return Text(line)
        text = Text()
        for part, style in line.render(end=""):
            text.append(part, style.rich_style)
        return text

    @property
    def is_split(self) -> bool:
        if self.split_mode == "auto":
            return self.scrollable_content_region.width >= SPLIT_MIN_WIDTH
        return self.split_mode == "split"

    def watch_split_mode(self) -> None:
        self._rebuild()

    # -- rendering ------------------------------------------------------------

    def _styles(self) -> DiffStyles:
        """Rich styles from the CSS, with translucent theme colours blended over the pane."""

        def full(name: str) -> Style:
            return self.get_visual_style(f"diff--{name}").rich_style

        def fg(name: str) -> Style:
            return foreground(full(name))

        styles = DiffStyles(
            added=full("added"),
            removed=full("removed"),
            added_word=full("added-word"),
            removed_word=full("removed-word"),
            sign_added=fg("sign-added"),
            sign_removed=fg("sign-removed"),
            gutter=fg("gutter"),
            hunk=fg("hunk"),
            title=fg("title"),
            muted=fg("muted"),
            warning=fg("warning"),
            field=fg("field"),
            same=fg("same"),
        )
        if self.app.no_color:
            # Without colour the changed words still stand out.
            styles.added_word += Style(underline=True)
            styles.removed_word += Style(underline=True, strike=True)
        elif getattr(self.app.current_theme, "ansi", False):
            # 16 colours: tinted backgrounds would all round to black, so the
            # lines take the terminal's own red and green instead.
            styles = DiffStyles(
                added=Style(color="green"),
                removed=Style(color="red"),
                added_word=Style(color="green", bold=True, reverse=True),
                removed_word=Style(color="red", bold=True, reverse=True),
                sign_added=Style(color="green", bold=True),
                sign_removed=Style(color="red", bold=True),
                gutter=Style(color="bright_black"),
                hunk=Style(color="cyan"),
                title=Style(bold=True),
                muted=Style(color="bright_black"),
                warning=Style(color="red", bold=True),
                field=Style(bold=True),
                same=Style(color="green", bold=True),
            )
        return styles

    def _rebuild(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0 or not self.is_mounted:
            self._strips = []
            self._built_for = None  # hidden: built again once it has a width (on_resize)
            return
        split = self.is_split
        self._built_for = (width, split)
        self._layout_number += 1
        job = (self._layout_number, self._comparison, self._heading, list(self._message), width, split)
        styles, base, console = self._styles(), self.rich_style, self.app.console
        if self._comparison is None or _changed_text(self._comparison) < BACKGROUND_LAYOUT_CHARS:
            self._show_strips(job[0], _layout(job, styles, base, console), width)
            return
        # A huge value: lay it out in a thread, so keys keep working meanwhile.
        waiting = [Text("Laying out a long diff…", styles.muted)]
        self._show_strips(job[0], _layout((job[0], None, None, waiting, width, split), styles, base, console), width)
        self._layout_in_thread(job, styles, base, console.color_system)

    @work(exclusive=True, group="diff-layout")
    async def _layout_in_thread(self, job: tuple, styles: DiffStyles, base: Style, color_system: str | None) -> None:
        def layout() -> list[Strip]:
            console = Console(width=job[4], color_system=color_system, force_terminal=True, legacy_windows=False)  # type: ignore[arg-type]
            return _layout(job, styles, base, console)

        strips = await asyncio.to_thread(layout)
        self._show_strips(job[0], strips, job[4])

    def _show_strips(self, number: int, strips: list[Strip], width: int) -> None:
        if number != self._layout_number:
            return  # another comparison (or width) came meanwhile
        self._strips = strips
        self.virtual_size = Size(width, len(strips))
        self.refresh()

    @property
    def laying_out(self) -> bool:
        """Is a huge comparison still being laid out in the background?"""
        return any(worker.group == "diff-layout" and worker.is_running for worker in self.workers)

    def on_resize(self) -> None:
        if self._built_for != (self.scrollable_content_region.width, self.is_split):
            self._rebuild()

    def on_mount(self) -> None:
        self._rebuild()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.call_later(self._rebuild)

    def render_line(self, y: int) -> Strip:
        scroll_y = self.scroll_offset.y
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index < len(self._strips):
            return self._strips[index]
        return Strip.blank(width, self.rich_style)

    @property
    def heading(self) -> str | None:
        """The heading shown over the comparison (None: its label, ``v3 → v4``)."""
        return self._heading

    # -- for tests and the clipboard ---------------------------------------

    @property
    def text(self) -> str:
        """Everything shown, as plain text."""
        return "\n".join(strip.text.rstrip() for strip in self._strips)


__all__ = [
    "SPLIT_MIN_WIDTH",
    "DiffBody",
    "DiffRenderer",
    "DiffStyles",
    "comparison_label",
    "comparison_text",
    "is_text_change",
]
