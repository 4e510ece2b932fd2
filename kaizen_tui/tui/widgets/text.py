"""Turning data into text a person can read safely: no markup, no escape codes.

Everything shown in the TUI that came from the database (names, changelogs,
prompts, authors) passes through :func:`visible`, so a prompt holding
``[bold]`` is shown as those characters and an ESC byte is shown as ``␛``
instead of being sent to the terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.style import Style
from textual.content import Content

TAB = "    "
#: Characters that would reorder or hide text (bidi overrides, zero width).
INVISIBLE = _INVISIBLE = {
    0x200B,
    0x200C,
    0x200D,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    0x202A,
    0x202B,
    0x202C,
    0x202D,
    0x202E,
    0x2060,
    0x2066,
    0x2067,
    0x2068,
    0x2069,
    0xFEFF,
}
MISSING = "—"


def _visible_char(char: str) -> str:
    code = ord(char)
    if code == 0x09:
        return TAB
    if code == 0x1B:
        return "␛"
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ … ␟
    if code == 0x7F:
        return "␡"
    if 0x80 <= code <= 0x9F:
        return f"\\x{code:02x}"
    if code in _INVISIBLE:
        return f"<U+{code:04X}>"
    return char


def visible(text: object) -> str:
    """A one-line-safe string: control characters and invisible ones made visible.

    Line breaks become ``␊`` too; callers that show several lines split first.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if text.isprintable() and not any(ord(char) in _INVISIBLE for char in text):
        return text
    return "".join(_visible_char(char) if _needs_escape(char) else char for char in text)


def _needs_escape(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F or code in _INVISIBLE


def error_line(message: object, hint: str = "") -> Content:
    """``✗ message`` in the error colour (the message made visible, never markup), then ``— hint``, muted."""
    parts: list[tuple[str, str]] = [("✗ ", "bold $text-error"), (visible(str(message)), "$text-error")]
    if hint:
        parts.append((f"  — {hint}", "$text-muted"))
    return Content.assemble(*parts)


def foreground(style: Style) -> Style:
    """The colour and text attributes of ``style``, without its background.

    Component styles (``diff--added``, ``timeline--muted``...) are drawn on
    rows that have a background of their own (the cursor, a tinted diff
    line): a background from the component would paint over it.
    """
    return Style(
        color=style.color,
        bold=style.bold,
        dim=style.dim,
        italic=style.italic,
        underline=style.underline,
        strike=style.strike,
    )


def fit_cells(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` terminal cells (wide characters count twice), with an ellipsis."""
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    return set_cell_size(text, width - 1) + "…"


def pad_cells(text: str, width: int) -> str:
    """``text`` cut with an ellipsis or padded to exactly ``width`` cells: a column of a list."""
    fitted = fit_cells(text, width)
    return fitted + " " * (width - cell_len(fitted))


def first_line(text: object, limit: int | None = None) -> str:
    """The first non-empty line of a text, made visible; ``…`` when cut."""
    if not isinstance(text, str) or not text.strip():
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    line = visible(lines[0].strip()) if lines else ""
    more = len(lines) > 1
    if limit is not None and len(line) > limit:
        return line[: max(0, limit - 1)] + "…"
    return line + (" …" if more else "")


def format_value(value: Any) -> str:
    """A config value as a person reads it (strings as they are, JSON for structures)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def parse_time(stamp: object) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def relative_time(stamp: object, now: datetime) -> str:
    """``just now``, ``5m ago``, ``3h ago``, ``4d ago``, ``6w ago``, ``5mo ago``, ``2y ago``."""
    when = parse_time(stamp)
    if when is None:
        return "?"
    seconds = (now - when).total_seconds()
    if seconds < -60:
        return when.strftime("%Y-%m-%d")
    if seconds < 60:
        return "just now"
    minutes = seconds / 60
    if minutes < 60:
        return f"{int(minutes)}m ago"
    hours = minutes / 60
    if hours < 24:
        return f"{int(hours)}h ago"
    days = hours / 24
    if days < 14:
        return f"{int(days)}d ago"
    if days < 60:
        return f"{int(days // 7)}w ago"
    if days < 365:
        return f"{int(days // 30)}mo ago"
    return f"{int(days // 365)}y ago"


def exact_time(stamp: object) -> str:
    """``2026-11-03 10:30 UTC``."""
    when = parse_time(stamp)
    if when is None:
        return visible(stamp) or "unknown time"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def default_now() -> datetime:
    return datetime.now(UTC)


Clock = Callable[[], datetime]


LINE_NUMBER = re.compile(r"\bline (\d+)")


def renumbered(message: str, shift: int) -> str:
    """``message`` with each "line N" moved by ``shift`` lines."""
    return LINE_NUMBER.sub(lambda match: f"line {int(match.group(1)) + shift}", message)


def named_line(message: str) -> int | None:
    """The first line number ``message`` names ("line 18": 18), or None."""
    match = LINE_NUMBER.search(message)
    return int(match.group(1)) if match else None
