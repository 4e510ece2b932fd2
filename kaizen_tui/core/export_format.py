"""The export file: agents, their versions and their audit events, as JSON Lines (``docs/export-format.md``).

One JSON object per line, UTF-8, ``\\n`` line ends, keys sorted, text kept as
it is (no ``\\u`` escapes but those JSON requires), so two exports of the same
data are the same bytes and ``diff`` of two exports says what changed:

* a ``header`` (the format's name and version; no time, on purpose),
* per agent, by id: the ``agent``, its ``version`` records by number, its
  ``audit`` events oldest first, its ``label`` records by name and its
  ``label_event`` records (the ledger) oldest first,
* in a whole-database export, the ``protected_label`` records by name, then
  the ``database_audit`` events (those of no agent in the file: protecting a
  label name, API tokens, the events of deleted agents) oldest first,
* an ``end`` record with the counts, so a file cut short is refused.

Pure: :class:`ExportWriter` turns rows into lines and hands them to a
``write`` function; :func:`read_export` checks lines (kinds, keys, types,
order) and yields the records, raising :class:`InvalidExportFile` with the
line number. What the records mean for a database is the service's business.

To add a kind: a writer method, an entry in
:data:`KINDS` (its keys and their types), and, if it belongs to an agent,
nothing else: the reader checks its ``agent_id`` like a version's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from kaizen_tui.core.errors import InvalidExportFile, InvalidValue
from kaizen_tui.core.labels import check_label
from kaizen_tui.core.numbers import MAX_COUNT, is_digit_limit, long_number
from kaizen_tui.core.schema import EDITABLE_FIELDS, check_text, validate_fields

FORMAT = "kaizen-tui-export"
#: The newest version this kaizen-tui reads and writes. A reader ignores keys it
#: does not know; a kind it does not know is refused (a newer format's, or damage).
FORMAT_VERSION = 2
#: The format version that brought each kind after version 1. A file says the
#: lowest version that has every kind it holds, so a file without those kinds
#: is what a kaizen-tui before them wrote, byte for byte, and reads there.
KIND_SINCE = {"database_audit": 2}

#: The keys of each record kind (besides ``kind``), in the order the documentation lists them.
AGENT_KEYS = (
    "id", "name", "description", "agent_type", "status", "system_prompt", "model_id", "temperature",
    "max_tokens", "extra", "created_by", "created_at", "updated_at", "revision", "last_version_number",
    "content_hash",
)  # fmt: skip
VERSION_KEYS = (
    "id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at", "content_hash",
)  # fmt: skip
AUDIT_KEYS = ("at", "actor", "action", "agent_id", "version_id", "detail")
LABEL_KEYS = ("agent_id", "label", "version_id", "updated_by", "updated_at")
LABEL_EVENT_KEYS = (
    "at", "actor", "agent_id", "label", "from_version_id", "from_version_number", "to_version_id",
    "to_version_number", "reason",
)  # fmt: skip
PROTECTED_LABEL_KEYS = ("label", "protected_by", "protected_at")
COUNT_KEYS = (
    "agents", "versions", "audit_events", "labels", "label_events", "protected_labels", "database_audit_events",
)  # fmt: skip
_ALWAYS_COUNTED = ("agents", "versions", "audit_events")
#: The record kinds that belong to the agent declared before them (their ``agent_id`` must be its id).
AGENT_PARTS = ("version", "audit", "label", "label_event")


#: One encoder for every line (``json.dumps`` with options would build one per call).
_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False)


def encode(record: Mapping[str, Any]) -> str:
    """One record as one line of the file (with its ``\\n``)."""
    return _ENCODER.encode(record) + "\n"


def header_record(format_version: int = 1) -> dict[str, Any]:
    return {"kind": "header", "format": FORMAT, "format_version": format_version}


def agent_record(row: Mapping[str, Any]) -> dict[str, Any]:
    record = {key: row[key] for key in AGENT_KEYS}
    record["kind"] = "agent"
    return record


def version_record(row: Mapping[str, Any]) -> dict[str, Any]:
    record = {key: row[key] for key in VERSION_KEYS}
    record["kind"] = "version"
    return record


def audit_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """An audit event without its database-local id (another database numbers its events itself)."""
    record = {key: row[key] for key in AUDIT_KEYS}
    record["kind"] = "audit"
    return record


def _record(kind: str, keys: tuple[str, ...], row: Mapping[str, Any]) -> dict[str, Any]:
    record = {key: row[key] for key in keys}
    record["kind"] = kind
    return record


class ExportWriter:
    """Writes one export through ``write`` (a file's ``write``), counting the records for the end record.

    Call :meth:`header`, then per agent :meth:`agent`, its :meth:`version`\\ s
    and its :meth:`audit` events, then :meth:`end`. The caller gives the rows
    in the documented order.
    """

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self.agents = 0
        self.versions = 0
        self.audit_events = 0
        self.labels = 0
        self.label_events = 0
        self.protected_labels = 0
        self.database_audit_events = 0

    def _put(self, record: Mapping[str, Any], what: str) -> None:
        try:
            line = encode(record)
        except ValueError as error:  # NaN or Infinity in extra, written by another tool
            raise InvalidValue(what, f"cannot be exported: {error}") from None
        self._write(line)

    def header(self, kinds: Iterable[str] = ()) -> None:
        """The header of a file that will hold records of ``kinds`` besides those of version 1
        (it names the lowest format version that has them all)."""
        self._put(header_record(max((KIND_SINCE.get(kind, 1) for kind in kinds), default=1)), "header")

    def agent(self, row: Mapping[str, Any]) -> None:
        self._put(agent_record(row), f"agent {row['id']}")
        self.agents += 1

    def version(self, row: Mapping[str, Any]) -> None:
        self._put(version_record(row), f"version {row['id']}")
        self.versions += 1

    def audit(self, row: Mapping[str, Any]) -> None:
        self._put(audit_record(row), f"audit event {row['id']}")
        self.audit_events += 1

    def label(self, row: Mapping[str, Any]) -> None:
        self._put(_record("label", LABEL_KEYS, row), f"label {row['label']}")
        self.labels += 1

    def label_event(self, row: Mapping[str, Any]) -> None:
        """An entry of the ledger, without its database-local id."""
        self._put(_record("label_event", LABEL_EVENT_KEYS, row), f"ledger entry of {row['label']}")
        self.label_events += 1

    def protected_label(self, row: Mapping[str, Any]) -> None:
        self._put(_record("protected_label", PROTECTED_LABEL_KEYS, row), f"protected label {row['label']}")
        self.protected_labels += 1

    def database_audit(self, row: Mapping[str, Any]) -> None:
        """An audit event of no agent in the file, without its database-local id (the header must say so)."""
        self._put(_record("database_audit", AUDIT_KEYS, row), f"audit event {row['id']}")
        self.database_audit_events += 1

    def counts(self) -> dict[str, int]:
        """The counts of the end record: of labels, ledger entries, protected labels and database audit
        events only when there are some, so a file without them is what a kaizen-tui before them wrote."""
        counts = {key: getattr(self, key) for key in COUNT_KEYS}
        return {key: value for key, value in counts.items() if value or key in _ALWAYS_COUNTED}

    def end(self) -> None:
        self._put({"kind": "end", **self.counts()}, "end")


# -- reading ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    """One checked record of an export: ``agent``, ``version`` or ``audit``, with its line number."""

    kind: str
    line: int
    fields: dict[str, Any]


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_optional_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_count(value: object) -> bool:
    # No larger: PostgreSQL keeps these numbers as INTEGER, and a file moves between the backends.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def _is_optional_count(value: object) -> bool:
    return value is None or _is_count(value)


def _is_positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_COUNT


class KeyType(NamedTuple):
    """What a key's value must be: ``check`` says if it is, ``says`` how a message puts it."""

    check: Callable[[object], bool]
    says: str
    required: bool = True


#: Stands for a key a record does not have.
_MISSING = object()


TEXT = KeyType(_is_text, "text")
OPTIONAL_TEXT = KeyType(_is_optional_text, "text or null", required=False)
NULLABLE_TEXT = KeyType(_is_optional_text, "text or null")
COUNT = KeyType(_is_count, f"a whole number from 0 to {MAX_COUNT:,}")
#: A count an older file of the same format version does not have (read as 0).
NEW_COUNT = KeyType(_is_count, f"a whole number from 0 to {MAX_COUNT:,}", required=False)
NULLABLE_NUMBER = KeyType(_is_optional_count, f"a whole number from 0 to {MAX_COUNT:,} or null")
POSITIVE = KeyType(_is_positive, f"a whole number from 1 to {MAX_COUNT:,}")
ANY = KeyType(lambda value: True, "any value")

#: Every kind a reader of this version knows, and the keys it needs (others are ignored).
KINDS: dict[str, dict[str, KeyType]] = {
    "header": {"format": TEXT, "format_version": POSITIVE},
    "agent": {
        "id": TEXT, "name": ANY, "description": ANY, "agent_type": ANY, "status": ANY, "system_prompt": ANY,
        "model_id": ANY, "temperature": ANY, "max_tokens": ANY, "extra": ANY,
        "created_by": TEXT, "created_at": TEXT, "updated_at": TEXT,
        "revision": COUNT, "last_version_number": COUNT, "content_hash": OPTIONAL_TEXT,
    },
    "version": {
        "id": TEXT, "agent_id": TEXT, "version_number": POSITIVE, "config_snapshot": TEXT,
        "changelog": NULLABLE_TEXT, "created_by": TEXT, "created_at": TEXT, "content_hash": OPTIONAL_TEXT,
    },
    "audit": {
        "at": TEXT, "actor": TEXT, "action": TEXT, "agent_id": TEXT, "version_id": NULLABLE_TEXT, "detail": TEXT,
    },
    "label": {"agent_id": TEXT, "label": TEXT, "version_id": TEXT, "updated_by": TEXT, "updated_at": TEXT},
    "label_event": {
        "at": TEXT, "actor": TEXT, "agent_id": TEXT, "label": TEXT, "from_version_id": NULLABLE_TEXT,
        "from_version_number": NULLABLE_NUMBER, "to_version_id": NULLABLE_TEXT, "to_version_number": NULLABLE_NUMBER,
        "reason": TEXT,
    },
    "protected_label": {"label": TEXT, "protected_by": TEXT, "protected_at": TEXT},
    "database_audit": {
        "at": TEXT, "actor": TEXT, "action": TEXT, "agent_id": NULLABLE_TEXT, "version_id": NULLABLE_TEXT,
        "detail": TEXT,
    },
    "end": {
        "agents": COUNT, "versions": COUNT, "audit_events": COUNT,
        "labels": NEW_COUNT, "label_events": NEW_COUNT, "protected_labels": NEW_COUNT,
        "database_audit_events": NEW_COUNT,
    },
}  # fmt: skip


class _Problem(Exception):
    """A problem with one line, raised inside the reader and reported with the line number."""


def _decode(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except RecursionError:
        raise _Problem("nested too deeply to read") from None
    except ValueError as error:
        too_long = long_number(text) if is_digit_limit(error) else None
        raise _Problem(too_long[1] if too_long else f"not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise _Problem("not a JSON object")
    return value


def _checked(kind: str, record: dict[str, Any], escaped: bool = True) -> dict[str, Any]:
    """The record's known keys, each of the type its kind needs; an agent's config also valid.

    ``escaped``: the line holds a ``\\u`` escape. Only an escape can spell
    text no database stores (a lone surrogate, a NUL), so text of a line
    without one is not checked again, character by character.
    """
    fields: dict[str, Any] = {}
    for key, (check, says, required) in KINDS[kind].items():
        value = record.get(key, _MISSING)
        if value is _MISSING:
            if required:
                raise _Problem(f"the {kind} record has no {key!r}")
            fields[key] = None
            continue
        if not check(value):
            raise _Problem(f"the {kind} record's {key!r} must be {says}, not {json.dumps(value)[:40]}")
        if escaped and isinstance(value, str):
            try:
                check_text(key, value)  # JSON can spell text no database stores (a lone surrogate)
            except InvalidValue as error:
                raise _Problem(f"the {kind} record's {key!r} {error.problem}") from None
        fields[key] = value
    if kind == "agent":
        try:
            fields.update(validate_fields({key: record[key] for key in EDITABLE_FIELDS}))
        except InvalidValue as error:
            raise _Problem(f"agent {fields['id']}: {error}") from None
    elif kind in ("label", "label_event", "protected_label"):
        try:
            check_label(fields["label"])  # an import may set it
        except InvalidValue as error:
            raise _Problem(f"the {kind} record's {error}") from None
    return fields


class _Reading:
    """What the reader has seen so far: the structure the next record must fit."""

    def __init__(self) -> None:
        self.format_version = 0
        self.agent_id: str | None = None
        self.agent_ids: set[str] = set()
        self.version_ids: set[str] = set()
        self.last_number = 0
        self.counts = dict.fromkeys(COUNT_KEYS, 0)
        self.ended = False

    def header(self, fields: dict[str, Any]) -> None:
        if fields["format"] != FORMAT:
            raise _Problem(f"the header names the format {fields['format']!r}, not {FORMAT!r}")
        self.format_version = fields["format_version"]

    def fits(self, kind: str, fields: dict[str, Any]) -> None:
        """Check that a record of ``kind`` may come here, and note it."""
        if kind == "agent":
            agent_id = fields["id"]
            if agent_id in self.agent_ids:
                raise _Problem(f"agent {agent_id} comes a second time")
            self.agent_ids.add(agent_id)
            self.agent_id, self.last_number = agent_id, 0
            self.counts["agents"] += 1
            return
        if kind in AGENT_PARTS:
            if self.agent_id is None:
                raise _Problem(f"{_a(kind)} record before any agent record")
            if fields["agent_id"] != self.agent_id:
                raise _Problem(
                    f"{_a(kind)} record of agent {fields['agent_id']} under agent {self.agent_id} "
                    "(each agent's records follow it)"
                )
        if kind == "version":
            number = fields["version_number"]
            if number <= self.last_number:
                raise _Problem(
                    f"version v{number} of agent {self.agent_id} comes after v{self.last_number} "
                    "(versions go in ascending order of number)"
                )
            if fields["id"] in self.version_ids:
                raise _Problem(f"version {fields['id']} comes a second time")
            self.version_ids.add(fields["id"])
            self.last_number = number
            self.counts["versions"] += 1
        elif kind == "audit":
            self.counts["audit_events"] += 1
        elif kind in ("label", "label_event", "protected_label"):
            self.counts[f"{kind}s"] += 1
        elif kind == "database_audit":
            self.counts["database_audit_events"] += 1

    def end(self, fields: dict[str, Any]) -> None:
        for key in COUNT_KEYS:
            if (fields[key] or 0) != self.counts[key]:
                raise _Problem(
                    f"the end record counts {fields[key]:,} {key.replace('_', ' ')} but the file holds "
                    f"{self.counts[key]:,}: part of the file is missing or was added"
                )
        self.ended = True


def read_export(lines: Iterable[str], source: str) -> Iterator[Record]:
    """The agent, version and audit records of an export, checked, in the file's order.

    ``lines`` are the file's lines (a text file opened for reading); ``source``
    names it in messages. Raises :class:`InvalidExportFile` naming the line and
    what is wrong: a file that is not an export, a record of the wrong shape or
    in the wrong place, a file cut short (no end record, or counts that
    differ). The last check comes after the last record: a caller that writes
    as it reads does so in a transaction it can roll back.
    """
    reading = _Reading()
    number = 0
    line = ""
    iterator = iter(lines)
    while True:
        try:
            line = next(iterator)
        except StopIteration:
            break
        except UnicodeDecodeError:
            raise InvalidExportFile(source, "not UTF-8 text", number + 1) from None
        number += 1
        if line[:1] != "{" and not line.strip():
            continue  # a blank line
        try:
            record = _decode(line)
        except _Problem as problem:
            if number == 1 or reading.format_version == 0:
                raise InvalidExportFile(
                    source, "not a kaizen-tui export (its first line is not an export header)"
                ) from None
            if not line.endswith("\n"):
                raise InvalidExportFile(source, f"the last line is cut short ({problem})", number) from None
            raise InvalidExportFile(source, str(problem), number) from None
        kind = record.get("kind")
        try:
            if reading.format_version == 0:
                if kind != "header":
                    raise InvalidExportFile(source, "not a kaizen-tui export (its first line is not an export header)")
                reading.header(_checked("header", record))
                continue
            if reading.ended:
                raise _Problem("a record after the end record")
            if kind not in KINDS or kind == "header":
                raise _Problem(_unknown_kind(kind, reading.format_version))
            fields = _checked(kind, record, "\\u" in line)
            if kind == "end":
                reading.end(fields)
                continue
            reading.fits(kind, fields)
        except _Problem as problem:
            raise InvalidExportFile(source, str(problem), number) from None
        yield Record(kind, number, fields)
    if reading.format_version == 0:
        raise InvalidExportFile(source, "empty: not a kaizen-tui export")
    if not reading.ended:
        raise InvalidExportFile(
            source,
            f"it ends at line {number:,} without its end record: the file is cut short "
            "(an export that did not finish, or part of a copy)",
        )


def _a(word: str) -> str:
    """``a version``, ``an audit``."""
    return f"an {word}" if word[:1] in ("a", "e", "i", "o", "u") else f"a {word}"


def _unknown_kind(kind: object, format_version: int) -> str:
    if not isinstance(kind, str):
        return f"a record without a kind ({json.dumps(kind)[:40]})" if kind is not None else "a record without a kind"
    if kind == "header":
        return "a second header (two exports joined into one file?)"
    if format_version > FORMAT_VERSION:
        return (
            f"a {kind!r} record, which this kaizen-tui does not know: the file has format version "
            f"{format_version} and this kaizen-tui reads version {FORMAT_VERSION}; upgrade kaizen-tui to import it"
        )
    return f"a record of unknown kind {kind!r}"
