"""How many terminal columns text takes, and cutting it to a width: for every face that prints tables."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Columns a string takes on a terminal: wide East Asian characters take two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def truncate(text: str, width: int) -> str:
    """Cut text to ``width`` columns, ending with an ellipsis when cut."""
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        char_width = display_width(char)
        if used + char_width > width - 1:
            break
        kept.append(char)
        used += char_width
    return "".join(kept) + "…"
