"""Printing for the command line: safe text, plain tables, coloured text diffs.

Text that comes from the database is data. Human output never lets it drive
the terminal: control characters and escape sequences are shown as visible
escapes (``\\x1b``), so a stored prompt cannot recolour, retitle or rewrite
the user's terminal. ``--json`` output keeps the data exact (JSON escapes).

No Rich, no Textual: nothing here interprets markup. ``kaizen_tui.core.diff``
(and with it deepdiff) is imported only when a diff is printed, so
``kaizen-tui --help`` stays quick.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from kaizen_tui.core.columns import display_width
from kaizen_tui.core.columns import truncate as cut_to_width

if TYPE_CHECKING:
    from kaizen_tui.core.diff import DiffLine

PROG = "kaizen-tui"

#: C0 and C1 controls, DEL, bidirectional overrides and line/paragraph
#: separators: characters that can move the cursor, start an escape sequence
#: or reorder what is shown. Newline and tab are handled by the callers.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES = {"\r": "\\r", "\n": "\\n", "\t": "\\t"}
#: The same characters, which json.dumps(ensure_ascii=False) leaves raw.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

RESET = "\x1b[0m"
STYLES = {
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "red": "\x1b[31m",
    "green": "\x1b[32m",
    "yellow": "\x1b[33m",
    "cyan": "\x1b[36m",
}
MARK_ON, MARK_OFF = "\x1b[7m", "\x1b[27m"
#: Table cells holding data longer than this are cut with an ellipsis.
CELL_WIDTH = 60


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """Text safe to print on a terminal: control characters become visible escapes.

    Newlines and tabs are kept (a prompt keeps its layout); everything else
    that a terminal would interpret is shown as ``\\x1b``, ``\\r``, ``\\u202e``.
    """
    return _UNSAFE.sub(_escape, text)


def one_line(text: str) -> str:
    """Like :func:`visible`, and newlines and tabs are escaped too (for cells and headers)."""
    return _UNSAFE.sub(_escape, text).replace("\n", "\\n").replace("\t", "\\t")


def truncate(text: str, width: int = CELL_WIDTH) -> str:
    """Cut text to ``width`` columns (:data:`CELL_WIDTH` by default), ending with an ellipsis when cut."""
    return cut_to_width(text, width)


def to_json(data: Any, *, compact: bool = False) -> str:
    """JSON for ``--json``: exact data, with the characters a terminal would act on escaped.

    ``json.dumps`` already escapes C0 controls (ESC becomes ``\\u001b``); C1
    controls and bidi overrides are escaped here too. Only strings can hold
    them, so the result is the same JSON value. ``compact``: on one line.
    """
    text = json.dumps(data, ensure_ascii=False) if compact else json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def wants_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set or ``TERM=dumb``."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Printer:
    """Where the command line writes: stdout for results, stderr for messages.

    The streams are looked up when the printer is made (not at import), so
    tests that capture ``sys.stdout`` see everything. With ``json_mode``
    (``--json``) every message on stderr is one line of JSON too
    (``{"warning": {"message": ...}}``), so a script can read stderr as JSON.
    """

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self.colour = wants_colour(self.stdout)
        self.json_mode = False

    def to_stderr(self) -> Printer:
        """A printer whose results go to stderr: for what a person reads while stdout carries JSON."""
        printer = Printer(self.stderr, self.stderr)
        printer.json_mode = self.json_mode
        return printer

    def style(self, text: str, *names: str) -> str:
        """``text`` wrapped in the named styles when colour is on."""
        if not self.colour or not names:
            return text
        return "".join(STYLES[name] for name in names) + text + RESET

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def lines(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.line(text)

    def json(self, data: Any) -> None:
        self.line(to_json(data))

    def warn(self, message: str) -> None:
        if self.json_mode:
            self.message_json("warning", {"message": message})
        else:
            self.stderr.write(f"{PROG}: warning: {one_line(message)}\n")

    def note(self, message: str) -> None:
        """A message for the person, not a result: on stderr, so pipes stay clean."""
        if self.json_mode:
            self.message_json("note", {"message": message})
        else:
            self.stderr.write(f"{message}\n")

    def error(self, code: str, message: str) -> None:
        """The one line that says why the command failed: ``kaizen-tui: error: ...``, or with
        ``--json`` the object ``{"error": {"code": ..., "message": ...}}``."""
        if self.json_mode:
            self.message_json("error", {"code": code, "message": message})
        else:
            self.stderr.write(f"{PROG}: error: {one_line(message)}\n")

    def message_json(self, kind: str, body: dict[str, Any]) -> None:
        self.stderr.write(to_json({kind: body}, compact=True) + "\n")


#: A table cell: safe text, or (safe text, style name) to colour it.
Cell = str | tuple[str, str]


def table(printer: Printer, headers: Sequence[str], rows: Iterable[Sequence[Cell]]) -> list[str]:
    """A plain left-aligned table. Cell text must already be made safe (:func:`cell`).

    Styles are applied after padding, so colour never shifts the columns.
    """
    grid = [[value if isinstance(value, tuple) else (value, "") for value in row] for row in rows]
    widths = [display_width(header) for header in headers]
    for row in grid:
        for index, (text, _) in enumerate(row):
            widths[index] = max(widths[index], display_width(text))

    def render(cells: Sequence[tuple[str, str]]) -> str:
        padded = []
        for index, (text, style) in enumerate(cells):
            padding = "" if index == len(cells) - 1 else " " * (widths[index] - display_width(text))
            padded.append((printer.style(text, style) if style and text else text) + padding)
        return "  ".join(padded).rstrip()

    out = [render([(header, "bold") for header in headers])]
    out.extend(render(row) for row in grid)
    return out


def cell(value: object, width: int = CELL_WIDTH) -> str:
    """Any value as one safe, bounded table cell."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return truncate(one_line(text), width)


def first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def count_lines(text: str) -> int:
    return max(1, len(text.splitlines()))


def summarise_value(value: object, absent: bool = False) -> str:
    """A value for the diff table: long text as ``(text, N lines)``, else a safe cell."""
    from kaizen_tui.core.diff import is_long_text

    if absent:
        return "(absent)"
    if isinstance(value, str):
        if is_long_text(value):
            lines = count_lines(value)
            return f"(text, {lines} line{'s' if lines != 1 else ''})"
        if not value or value != value.strip():
            # Quote what would otherwise be invisible: empty text, edge spaces.
            return cell(json.dumps(value, ensure_ascii=False))
    return cell(value)


def text_diff_lines(printer: Printer, old: str, new: str, old_label: str, new_label: str) -> list[str]:
    """A unified diff of two texts; with colour, changed words are marked inside lines."""
    from kaizen_tui.core.diff import text_hunks

    out = [
        printer.style(f"--- {one_line(old_label)}", "bold"),
        printer.style(f"+++ {one_line(new_label)}", "bold"),
    ]
    hunks = text_hunks(old, new)
    for hunk in hunks:
        out.append(printer.style(hunk.header, "cyan"))
        out.extend(_diff_line(printer, line) for line in hunk.lines)
    if not hunks:
        # The line diff splits as str.splitlines does: "\r\n" and "\n" look alike.
        out.append("(the texts differ only in their line breaks)")
    return out


def _diff_line(printer: Printer, line: DiffLine) -> str:
    if not printer.colour:
        return line.tag + visible(line.text)
    colour = {"-": STYLES["red"], "+": STYLES["green"]}.get(line.tag)
    if colour is None:
        return " " + visible(line.text)
    parts, position = [], 0
    for start, end in line.marks:
        parts.append(visible(line.text[position:start]))
        parts.append(MARK_ON + visible(line.text[start:end]) + MARK_OFF)
        position = end
    parts.append(visible(line.text[position:]))
    return colour + line.tag + "".join(parts) + RESET
