"""Label names and the times the ledger is asked about. Pure: no I/O.

A label names one version of one agent (``production``, ``staging``,
``canary-eu``). Names are lower-case letters, digits, ``-`` and ``_``, and
not only digits: ``7`` would read as a version number. ``latest`` is
reserved: it always means the newest version and is never stored; so is
``history``, the ledger's place in the HTTP API.

A label is also a version reference (``diff AGENT production staging``), after
the version numbers, ids, ``latest`` and ``live``: so a new label may not be
named like one of those (``v7``, ``live``, ``previous``), which would never
reach it. A label of such a name from before keeps working by its name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kaizen_tui.core.errors import InvalidValue

#: The label every agent has without setting it: its newest version.
LATEST = "latest"
#: Names no label may have, and why.
RESERVED = {
    LATEST: "it always means the newest version",
    "history": "it names the ledger in the HTTP API (/labels/history)",
}
#: Words that name something else where a version is taken; a new label may not take them.
REFERENCE_WORDS = {
    "live": "it means the live config where a version is taken (diff AGENT v3 live)",
    "previous": "it means the version before another in a comparison",
}
LABEL_MAX_LENGTH = 63
_LABEL = re.compile(r"[a-z0-9_-]+")
_VERSION_NUMBER = re.compile(r"v[0-9]+")


def check_label(value: object, *, field: str = "label") -> str:
    """A label name as given, or :class:`InvalidValue` saying what is wrong with it."""
    if not isinstance(value, str):
        raise InvalidValue(field, f"must be text, not {type(value).__name__}")
    if not value:
        raise InvalidValue(field, "must not be empty")
    if len(value) > LABEL_MAX_LENGTH:
        raise InvalidValue(field, f"must be at most {LABEL_MAX_LENGTH} characters, not {len(value)}")
    if not _LABEL.fullmatch(value):
        raise InvalidValue(
            field, f"{value!r}: use lower-case letters, digits, '-' and '_' only (such as production or canary-eu)"
        )
    if value.isdigit():
        raise InvalidValue(field, f"{value!r} is only digits, which reads as a version number; add a letter")
    if value in RESERVED:
        raise InvalidValue(field, f"{value!r} is reserved: {RESERVED[value]}")
    return value


def check_new_label(value: object, *, field: str = "label") -> str:
    """A name for a label that is not set yet: as :func:`check_label`, and not read as another reference.

    ``v7`` is version 7 and ``live`` the live config wherever a version is
    taken, before any label: a label of that name could never be named there.
    """
    name = check_label(value, field=field)
    if _VERSION_NUMBER.fullmatch(name):
        raise InvalidValue(field, f"{name!r} reads as a version number; add a letter (such as {name}-fix)")
    if name in REFERENCE_WORDS:
        raise InvalidValue(field, f"{name!r} is reserved: {REFERENCE_WORDS[name]}")
    return name


def check_label_or_latest(value: object, *, field: str = "label") -> str:
    """A label to read by: any valid label, or ``latest``."""
    if value == LATEST:
        return LATEST
    return check_label(value, field=field)


def parse_instant(text: object, *, field: str = "at") -> str:
    """A time as the database stores them (``2026-11-30T10:00:00Z``), from ISO 8601 a person types.

    ``2026-11-30`` (the start of the day, UTC), ``2026-11-30T10:00``,
    ``2026-11-30 10:00:00Z`` or with an offset (``+01:00``); a time without
    an offset is UTC, as every time kaizen-tui shows.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidValue(field, "give a time such as 2026-11-30T10:00:00Z")
    cleaned = text.strip().replace(" ", "T", 1)
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidValue(field, f"{text!r} is not a time; give one such as 2026-11-30T10:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
