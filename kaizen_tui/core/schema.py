"""The agent configuration schema: the one definition of the fields (:data:`FIELDS`), validation, the snapshot format.

Pure functions, no I/O. Everything that turns outside data (CLI flags, YAML
files, stored snapshots written by any tool) into a configuration passes
through here, so every error names the field and what it may be.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kaizen_tui.core.errors import DamagedSnapshot, InvalidValue
from kaizen_tui.core.numbers import is_digit_limit

AGENT_TYPES = ("chat", "task", "pipeline", "custom")
STATUSES = ("draft", "active", "archived")

TEMPERATURE_RANGE = (0.0, 2.0)
MAX_TOKENS_LIMIT = 100_000_000
NAME_MAX_LENGTH = 200
#: Deeper ``extra`` values are refused: no real agent setting nests this far,
#: and comparing very deep values would exhaust Python's recursion limit.
EXTRA_MAX_DEPTH = 32


@dataclass(frozen=True)
class ConfigField:
    """One field of an agent that a person sets: the one definition, from which the rest derive.

    The field lists below, the validation (:data:`VALIDATORS`), the store's
    agent columns (``store/base.py``) and the defaults a snapshot written
    before a field existed is read with all come from :data:`FIELDS`; the
    SQLModel table (``store/models.py``) is declared statically, and a test
    checks it agrees. A new field is one entry here, its column in
    ``models.py`` and a migration per backend.
    """

    name: str
    #: The type of its value, and so of its column: str, float, int or dict (a JSON object).
    type: type
    #: The value of a new agent that was not given one, and of a snapshot written before the field existed.
    default: Any = None
    #: A new agent must be given it (and a snapshot must hold it): no default.
    required: bool = False
    #: One of the spec's seven keys: in every version's snapshot.
    in_snapshot: bool = True
    #: Captured by a version (the seven keys, and ``extra`` when not empty); ``status`` is lifecycle, not config.
    versioned: bool = True
    #: The values a text field may take (none: any text).
    choices: tuple[str, ...] = ()
    #: The most characters a text field may hold (0: no limit).
    max_length: int = 0
    #: The lowest and highest value of a number.
    bounds: tuple[float, float] | None = None
    #: What a person should know about the value, said with its range (``0 means no limit``).
    note: str = ""


#: Every field a person sets, in the order an agent's columns and records list them.
FIELDS = (
    ConfigField("name", str, required=True, max_length=NAME_MAX_LENGTH),
    ConfigField("description", str, default=""),
    ConfigField("agent_type", str, default="chat", choices=AGENT_TYPES),
    ConfigField("status", str, default="draft", choices=STATUSES, in_snapshot=False, versioned=False),
    ConfigField("system_prompt", str, default=""),
    ConfigField("model_id", str, required=True),
    ConfigField("temperature", float, default=0.7, bounds=TEMPERATURE_RANGE),
    ConfigField("max_tokens", int, default=0, bounds=(0, MAX_TOKENS_LIMIT), note="0 means no limit"),
    ConfigField("extra", dict, default={}, in_snapshot=False),
)
FIELD_NAMES = tuple(field.name for field in FIELDS)

#: The seven keys of the spec's config snapshot, in the order people read them.
SNAPSHOT_FIELDS = tuple(field.name for field in FIELDS if field.in_snapshot)
#: Everything a version captures: the spec's seven keys plus ``extra``.
CONFIG_FIELDS = tuple(field.name for field in FIELDS if field.versioned)
#: What ``update`` accepts: the config, then the lifecycle status.
EDITABLE_FIELDS = (*CONFIG_FIELDS, *(field.name for field in FIELDS if not field.versioned))
REQUIRED_FOR_CREATE = tuple(field.name for field in FIELDS if field.required)
#: A snapshot must hold these; any other field missing from it (a snapshot
#: written before that field existed) is read with its default.
REQUIRED_IN_SNAPSHOT = REQUIRED_FOR_CREATE

DEFAULTS: dict[str, Any] = {field.name: field.default for field in FIELDS if not field.required}


def _type_name(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def shown_number(value: float) -> str:
    """A number as a message shows it: ``5`` for 5 and 5.0 alike (however it was typed), ``0.25``, ``inf``.

    Every face validates through here, so the CLI (which reads ``5`` as 5.0)
    and the TUI (whose YAML reads it as 5) say the same.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, int) and abs(value) > 10**30:  # too long to read (and past 4,300 digits, to convert)
        return f"a {'negative ' if value < 0 else ''}number of {math.floor(math.log10(abs(value))) + 1:,} digits"
    return repr(value)


def _check_encodable(field: str, text: str) -> None:
    """Refuse text that cannot be stored as UTF-8 (lone surrogates), or in PostgreSQL (NUL).

    NUL is refused on SQLite too, so that every database can move to the
    other backend by export and import.
    """
    position = text.find("\x00")
    if position >= 0:
        raise InvalidValue(field, f"contains the NUL character (\\x00) at position {position}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidValue(field, f"contains a character that is not valid Unicode at position {error.start}") from None


def check_text(field: str, value: object, *, required: bool = False) -> str:
    """Text that can be stored: a string, valid Unicode, and not blank if required."""
    return _text(field, value, required=required)


def _text(field: str, value: object, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidValue(field, f"must be text, not {_type_name(value)}")
    _check_encodable(field, value)
    if required and not value.strip():
        raise InvalidValue(field, "must not be empty")
    return value


#: Characters a new name may not hold besides "/": control characters (C0, DEL, C1), the
#: separators of lines and paragraphs, and the controls of bidirectional text (U+202E shows
#: "abc" as "cba"): none can be typed in a name, and some hide or reorder what a name shows.
_NAME_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def check_new_name(name: str) -> str:
    """A name a new or renamed agent may take: no "/", no control characters, not "." or "..".

    A name is a segment of the API's URLs (``/api/v1/agents/NAME``): with
    "/" in it, or as a dot segment, no URL reaches the agent. Names from
    before this rule stay (a rollback may restore one, an import brings
    one in), and their agents are reached by id.
    """
    if "/" in name:
        raise InvalidValue("name", "must not contain '/' (the API's URLs could not name the agent)")
    control = _NAME_CONTROLS.search(name)
    if control is not None:
        raise InvalidValue(
            "name", f"must not contain control characters (U+{ord(control.group()):04X} at position {control.start()})"
        )
    if name.strip() in (".", ".."):
        raise InvalidValue("name", f"must not be {name.strip()!r} (the API's URLs could not name the agent)")
    return name


def _text_check(field: ConfigField) -> Callable[[object], str]:
    def check(value: object) -> str:
        if field.choices and (value not in field.choices or not isinstance(value, str)):
            raise InvalidValue(field.name, f"must be one of {', '.join(field.choices)}; got {value!r}")
        text = _text(field.name, value, required=field.required)
        if field.max_length and len(text) > field.max_length:
            raise InvalidValue(field.name, f"must be at most {field.max_length} characters, not {len(text)}")
        return text

    return check


def _float_check(field: ConfigField) -> Callable[[object], float]:
    assert field.bounds is not None
    low, high = field.bounds

    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(field.name, f"must be a number from {low} to {high}, not {_type_name(value)}")
        if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
            raise InvalidValue(field.name, f"must be from {low} to {high}; got {shown_number(value)}")
        return float(value)

    return check


def _int_check(field: ConfigField) -> Callable[[object], int]:
    assert field.bounds is not None
    low, high = field.bounds
    what = f"must be a whole number from {low:,} to {high:,}" + (f" ({field.note})" if field.note else "")

    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(field.name, f"{what}, not {_type_name(value)}")
        if isinstance(value, float):
            if not value.is_integer():
                raise InvalidValue(field.name, f"{what}; got {shown_number(value)}")
            value = int(value)
        if not low <= value <= high:
            raise InvalidValue(field.name, f"{what}; got {shown_number(value)}")
        return value

    return check


def _depth(value: object, limit: int) -> int:
    """How deeply lists and objects nest in ``value`` (stops counting past ``limit``)."""
    # dict and list first: an isinstance check against the Mapping ABC is slow,
    # and parsing a page of snapshots calls this for every value in them.
    if limit < 0:
        return 0
    children: Iterable[object]
    if isinstance(value, dict):
        children = value.values()
    elif isinstance(value, (list, tuple)):
        children = value
    elif isinstance(value, Mapping):
        children = value.values()
    else:
        return 0
    return 1 + max((_depth(child, limit - 1) for child in children), default=0)


def _extra(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue("extra", f"must be an object (key: value pairs), not {_type_name(value)}")
    if _depth(value, EXTRA_MAX_DEPTH) > EXTRA_MAX_DEPTH:
        raise InvalidValue("extra", f"nests lists and objects more than {EXTRA_MAX_DEPTH} levels deep")
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as error:
        if is_digit_limit(error):
            raise InvalidValue("extra", "holds a number of more digits than can be written out") from None
        raise InvalidValue("extra", f"must hold only JSON values ({error})") from None
    _check_encodable("extra", text)
    # A round trip gives plain dicts/lists and a copy the caller cannot mutate.
    return json.loads(text)


def _check_of(field: ConfigField) -> Callable[[object], Any]:
    """The validation of a field, from its definition: its type, then its choices, length or bounds."""
    if field.type is str:
        return _text_check(field)
    if field.type is float:
        return _float_check(field)
    if field.type is int:
        return _int_check(field)
    if field.type is dict:
        return _extra
    raise TypeError(f"no validation for fields of type {field.type.__name__} ({field.name})")


#: Each field's validation: a value from outside in, the value to store out (or :class:`InvalidValue`).
VALIDATORS: dict[str, Callable[[object], Any]] = {field.name: _check_of(field) for field in FIELDS}


def validate_fields(data: Mapping[str, Any], allowed: tuple[str, ...] = EDITABLE_FIELDS) -> dict[str, Any]:
    """Validate and normalise a partial set of fields.

    Unknown keys are refused (naming them and the fields there are), so a typo
    never silently does nothing.
    """
    if not isinstance(data, Mapping):
        raise InvalidValue("config", f"must be an object of fields, not {_type_name(data)}")
    unknown = sorted(str(key) for key in data if key not in allowed)
    if unknown:
        raise InvalidValue(
            unknown[0],
            f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; the fields are {', '.join(allowed)}",
        )
    return {key: VALIDATORS[key](value) for key, value in data.items()}


def validate_new_agent(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the fields of a new agent and fill in the defaults."""
    fields = validate_fields(data)
    for key in REQUIRED_FOR_CREATE:
        if key not in fields:
            raise InvalidValue(key, "is required for a new agent")
    check_new_name(fields["name"])
    return {**DEFAULTS, **fields}


def snapshot_dict(config: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot of a config: the seven keys, plus ``extra`` when not empty."""
    snapshot = {key: config[key] for key in SNAPSHOT_FIELDS}
    if config.get("extra"):
        snapshot["extra"] = config["extra"]
    return snapshot


def snapshot_json(config: Mapping[str, Any]) -> str:
    """The canonical snapshot text: sorted keys, so equal configs give equal text."""
    return json.dumps(snapshot_dict(config), sort_keys=True, ensure_ascii=False, separators=(", ", ": "))


def content_hash(config: Mapping[str, Any]) -> str:
    """The content hash of a config: the first 128 bits of SHA-256 of its canonical snapshot, in hex.

    Equal configs have equal hashes whatever text stored them (key order,
    spacing, a field left out for its default), so "is this config saved?"
    is one indexed lookup.
    """
    return text_hash(snapshot_json(config))


def text_hash(text: str) -> str:
    """The hash :func:`content_hash` gives a config whose canonical snapshot is ``text``.

    A snapshot kaizen-tui wrote is canonical text, so its content hash is
    this hash of the text itself: a stored hash can be checked against the
    text without parsing it (an import of many versions relies on that).
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def parse_snapshot(text: str, version_label: str | None = None) -> dict[str, Any]:
    """Parse and validate a stored snapshot into a full config (defaults filled in).

    Raises :class:`DamagedSnapshot` with the reason when the text is not JSON,
    not an object, misses the name or model, has unknown keys or holds invalid
    values. A field missing for another reason (the snapshot predates it) is
    read with its default, never as damage.
    """
    data = loose_snapshot(text, version_label)
    missing = [key for key in REQUIRED_IN_SNAPSHOT if key not in data]
    if missing:
        raise DamagedSnapshot(f"missing {', '.join(missing)}", version_label)
    unknown = sorted(str(key) for key in data if key not in CONFIG_FIELDS)
    if unknown:
        raise DamagedSnapshot(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}", version_label)
    extra = data.pop("extra", {})
    try:
        config = validate_fields(data, SNAPSHOT_FIELDS)
        # Parsed from JSON, so already plain JSON values: only the shape matters.
        if not isinstance(extra, dict):
            raise InvalidValue("extra", f"must be an object (key: value pairs), not {_type_name(extra)}")
        if _depth(extra, EXTRA_MAX_DEPTH) > EXTRA_MAX_DEPTH:
            raise InvalidValue("extra", f"nests more than {EXTRA_MAX_DEPTH} levels deep")
        if extra:
            # JSON escapes can spell lone surrogates, which cannot be stored again.
            _check_encodable("extra", json.dumps(extra, ensure_ascii=False))
    except InvalidValue as error:
        raise DamagedSnapshot(str(error), version_label) from None
    for key in SNAPSHOT_FIELDS:
        if key not in config:
            config[key] = DEFAULTS[key]
    config["extra"] = extra
    return {key: config[key] for key in CONFIG_FIELDS}


def _refuse_constant(name: str) -> float:
    """``json.loads`` takes NaN and Infinity, which JSON does not have."""
    raise ValueError(f"{name} is not a JSON value")


_SNAPSHOT_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def loose_snapshot(text: object, version_label: str | None = None) -> dict[str, Any]:
    """Read a snapshot as a JSON object without validating its fields.

    Comparing uses this, so a damaged version can still be compared as far as
    it can be read.
    """
    if not isinstance(text, str):
        raise DamagedSnapshot(f"it is {_type_name(text)}, not JSON text", version_label)
    try:
        data = _SNAPSHOT_DECODER.decode(text)
    except RecursionError:
        raise DamagedSnapshot("nested too deeply to read", version_label) from None
    except ValueError as error:
        raise DamagedSnapshot(f"not valid JSON ({error})", version_label) from None
    if not isinstance(data, dict):
        raise DamagedSnapshot(f"JSON {_type_name(data)}, not an object", version_label)
    return data


def snapshot_problem(text: object) -> str | None:
    """Why a stored snapshot is damaged, or None when it is sound."""
    try:
        parse_snapshot(text)  # type: ignore[arg-type]
    except DamagedSnapshot as error:
        return error.reason
    return None
