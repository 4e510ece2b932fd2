"""Whole numbers from outside (a command line, a URL, a header, a file): read once, bounded, named clearly.

Two limits meet every number a person or a program sends: Python turns at
most 4,300 digits into an ``int`` (a guard against slow conversions: more
is a ``ValueError``), and the databases store at most :data:`MAX_INTEGER`
(SQLite's INTEGER, PostgreSQL's BIGINT); version numbers, revisions and
the ledger's numbers are PostgreSQL INTEGERs (:data:`MAX_COUNT`). A number
past a limit names nothing stored: a version reference past it is "not
found", any other value "invalid", never a traceback. These functions
never convert more digits than a stored number can have, so no length of
input reaches Python's limit.
"""

from __future__ import annotations

import re
import sys

from kaizen_tui.core.errors import VersionNotFound

#: The largest whole number either database stores (SQLite INTEGER, PostgreSQL BIGINT).
MAX_INTEGER = 2**63 - 1
#: The largest version number, revision or ledger number: PostgreSQL stores them as INTEGER,
#: and an export file moves between the backends.
MAX_COUNT = 2**31 - 1
#: What :func:`whole_number` gives for any number past :data:`MAX_INTEGER`: out of every range.
TOO_LARGE = MAX_INTEGER + 1
_DIGITS_OF_MAX = len(str(MAX_INTEGER))
#: How many characters of a person's input a message quotes before it elides the middle.
SHOWN_CHARACTERS = 24


def whole_number(text: str, *, signed: bool = False) -> int | None:
    """The whole number ``text`` spells (decimal digits, spaces around allowed), or None when it spells none.

    Any number past :data:`MAX_INTEGER` comes back as :data:`TOO_LARGE`,
    however many digits it has (they are never converted), so a range
    check refuses it and a lookup finds nothing. ``signed``: a leading
    ``-`` or ``+`` is read too (past ``-MAX_INTEGER``, ``-TOO_LARGE``).
    """
    digits = text.strip()
    if signed and digits[:1] in ("-", "+") and len(digits) > 1:
        number = whole_number(digits[1:])
        return None if number is None else -number if digits[0] == "-" else number
    if not digits.isdecimal():  # the digits int() takes: no sign, no "_", no "²"
        return None
    significant = digits.lstrip("0") or "0"
    if len(significant) > _DIGITS_OF_MAX:
        return TOO_LARGE
    return min(int(significant), TOO_LARGE)


def version_number(digits: str, agent_name: str | None = None) -> int:
    """The version number ``digits`` spells (of a reference such as ``v3``); past any stored number, not found."""
    number = whole_number(digits)
    if number is None or number > MAX_INTEGER:
        raise VersionNotFound(f"v{shortened(digits)}", agent_name)
    return number


def shortened(text: str, *, quoted: bool = False, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` for a message: whole when short, else its ends and its length (``99999…99999 (4,400 characters)``).

    ``quoted``: in quotes as ``repr`` puts them (the length after them).
    """
    if len(text) <= limit:
        return repr(text) if quoted else text
    half = max(1, (limit - 1) // 2)
    ends = f"{text[:half]}…{text[-half:]}"
    return f"{ends!r} ({len(text):,} characters)" if quoted else f"{ends} ({len(text):,} characters)"


_LONG_DIGITS = re.compile(r"\d+")


def long_number(text: str) -> tuple[int, str] | None:
    """The line of ``text`` holding a number of more digits than Python reads, and what it is; None if none does.

    For the message of a parser (JSON, YAML) that failed with Python's
    ``ValueError`` about integer conversion: the line is what a person can fix.
    """
    limit = sys.get_int_max_str_digits()
    if not limit:
        return None
    for match in _LONG_DIGITS.finditer(text):
        if len(match.group()) > limit:
            line = text.count("\n", 0, match.start()) + 1
            return line, f"a number of {len(match.group()):,} digits (at most {limit:,} are read)"
    return None


def is_digit_limit(error: BaseException | None) -> bool:
    """Is this the ``ValueError`` of Python's limit on digits (a parser met a number longer than it reads)?

    JSON and YAML parsers let it out as it is; only its words tell it from
    their other errors (a test sends such a number through each face).
    """
    return isinstance(error, ValueError) and "integer string conversion" in str(error)
