"""The command line: ``kaizen-tui [PROGRAM OPTIONS] [COMMAND ...]``.

Without a command it opens the TUI; with one it runs a single operation of
:class:`~kaizen_tui.service.AgentService` and prints the result for a person,
or as JSON with ``--json``. Exit codes: 0 done, 1 failed (or cancelled),
2 the command line is wrong (also: a confirmation is needed and there is no
terminal to ask on, and no ``--yes``), 130 interrupted, 141 output pipe closed.

Textual is imported only when the TUI opens, and the service (SQLModel,
deepdiff) only when a command runs, so scripts and ``--help`` stay quick.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from kaizen_tui import __version__
from kaizen_tui.agent_file import load_agent_file, parse_agent_text
from kaizen_tui.cli.output import (
    PROG,
    Cell,
    Printer,
    cell,
    first_line,
    one_line,
    summarise_value,
    table,
    text_diff_lines,
    visible,
)
from kaizen_tui.core.errors import (
    AgentNotArchived,
    ArchiveExists,
    DamagedSnapshot,
    InvalidValue,
    KaizenError,
    ProtectedLabel,
    ReadOnlyDatabase,
    VersionLabelled,
)
from kaizen_tui.core.numbers import MAX_INTEGER, shortened, whole_number
from kaizen_tui.core.schema import AGENT_TYPES, EDITABLE_FIELDS, MAX_TOKENS_LIMIT, STATUSES, TEMPERATURE_RANGE

if TYPE_CHECKING:
    from kaizen_tui.service import AgentService

LIVE = "live"
#: Short names accepted by ``set`` (the ``create`` flags use the same words).
FIELD_ALIASES = {"model": "model_id", "type": "agent_type", "prompt": "system_prompt"}
#: Keys of ``show --json`` output that kaizen-tui sets itself; ``create -f``
#: skips them, so a shown agent can be fed back in to make a copy.
GENERATED_KEYS = (
    "id",
    "revision",
    "created_by",
    "created_at",
    "updated_at",
    "version_count",
    "latest_version",
    "unsaved_changes",
)
#: Exit code after a broken pipe (``kaizen-tui agents | head``): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141
EXIT_INTERRUPTED = 130
#: A command line that cannot be run as given, as argparse's own errors exit; also a confirmation that
#: cannot be asked for (no terminal, no --yes).
EXIT_USAGE = 2


class UsageError(KaizenError):
    """The command line cannot be run as given; exits 2, as argparse's own errors do."""

    code = "usage"


class ArgumentsError(UsageError):
    """argparse's own complaint (a missing argument, an unknown option), with the usage it prints."""

    def __init__(self, message: str, prog: str, usage: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage


class ConfirmationNeeded(UsageError):
    """A command that asks ``Proceed? [y/N]`` has no terminal to ask on, and no ``--yes``: exits 2
    (:data:`EXIT_USAGE`), the same for every such command, before anything is shown or changed."""

    code = "confirmation_needed"

    def __init__(self, command: str, why: str = "") -> None:
        super().__init__(
            f"{command} asks for confirmation{why}, but stdin is not a terminal; pass --yes to proceed. "
            "Nothing was changed."
        )


class Cancelled(KaizenError):
    """The person answered no (or nothing) to ``Proceed?``: exits 1, nothing changed."""

    code = "cancelled"

    def __init__(self) -> None:
        super().__init__("Cancelled; nothing was changed.")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is raised (:class:`ArgumentsError`) rather than printed and
    exited on, so that ``--json`` can report it as JSON. Subparsers are made of the same class."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentsError(message, self.prog, self.format_usage())


@dataclass
class Context:
    """What a command needs: the parsed arguments, the service and where to print."""

    args: argparse.Namespace
    service: AgentService
    out: Printer

    @property
    def json(self) -> bool:
        """``--json``: stdout carries only the JSON result."""
        return bool(getattr(self.args, "json", False))

    @property
    def shown(self) -> Printer | None:
        """Where a change is previewed before it is made: stdout for a person; with ``--json``
        stderr (stdout is for the result), and nowhere with ``--json --yes`` (nobody is asked)."""
        if not self.json:
            return self.out
        return None if self.args.yes else self.out.to_stderr()


# -- parsing values -----------------------------------------------------------


def read_text_argument(field: str, path: str) -> str:
    """The text of a file (``-`` is stdin), without the one final newline editors add."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidValue(field, f"cannot read {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InvalidValue(field, f"cannot read {path}: {reason}") from None
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")


def whole_argument(raw: str) -> int:
    """An option's whole number (``--limit``, ``--keep``, ``--port``...), as argparse's ``type``.

    A sign is allowed (the command says what a negative number means); any
    length is read without Python's limit on digits, and a number past what
    the databases store is refused here, in one line.
    """
    number = whole_number(raw, signed=True)
    if number is None:
        raise argparse.ArgumentTypeError(f"invalid int value: {shortened(raw, quoted=True)}")  # argparse's words
    if abs(number) > MAX_INTEGER:
        raise argparse.ArgumentTypeError(f"{shortened(raw.strip())} is too large (at most {MAX_INTEGER:,})")
    return number


def parse_temperature(raw: str) -> float:
    low, high = TEMPERATURE_RANGE
    try:
        return float(raw)
    except ValueError:
        raise InvalidValue(
            "temperature", f"must be a number from {low} to {high}; got {shortened(raw, quoted=True)}"
        ) from None


def parse_max_tokens(raw: str) -> int:
    number = whole_number(raw, signed=True)
    if number is None or abs(number) > MAX_INTEGER:
        raise InvalidValue(
            "max_tokens",
            f"must be a whole number from 0 to {MAX_TOKENS_LIMIT:,} (0 means no limit); got {shortened(raw, quoted=True)}",
        )
    return number  # its range is the schema's to check, in the words every face uses


def parse_extra(raw: str) -> dict[str, Any]:
    text = read_text_argument("extra", raw[1:]) if raw.startswith("@") else raw
    example = """extra='{"top_p": 0.9}'"""
    try:
        value = json.loads(text)
    except RecursionError:
        raise InvalidValue("extra", "nests lists and objects too deeply") from None
    except ValueError as error:
        problem = getattr(error, "msg", str(error))
        raise InvalidValue("extra", f"is not valid JSON ({problem}); write a JSON object, e.g. {example}") from None
    if not isinstance(value, dict):
        raise InvalidValue("extra", f"must be a JSON object, e.g. {example}; got {json_kind(value)}")
    return value


def json_kind(value: object) -> str:
    """What a parsed JSON value is, in words: for messages."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return "a number"


def parse_prompt(raw: str) -> str:
    """``@FILE`` reads a file (``@-`` stdin); ``@@`` starts a prompt with a literal ``@``."""
    if raw.startswith("@@"):
        return raw[1:]
    if raw.startswith("@"):
        return read_text_argument("system_prompt", raw[1:])
    return raw


VALUE_PARSERS: dict[str, Callable[[str], Any]] = {
    "temperature": parse_temperature,
    "max_tokens": parse_max_tokens,
    "extra": parse_extra,
    "system_prompt": parse_prompt,
}


def parse_field_value(field: str, raw: str) -> Any:
    """The value of one field from command-line text; the service validates ranges."""
    parser = VALUE_PARSERS.get(field)
    return parser(raw) if parser else raw


def parse_assignments(assignments: Sequence[str]) -> dict[str, Any]:
    """``["temperature=0.3", "prompt=@p.txt"]`` -> ``{"temperature": 0.3, "system_prompt": ...}``."""
    fields: dict[str, Any] = {}
    for assignment in assignments:
        name, equals, raw = assignment.partition("=")
        name = name.strip()
        if not equals or not name:
            raise UsageError(f"expected FIELD=VALUE, got {assignment!r} (for example temperature=0.3)")
        field = FIELD_ALIASES.get(name, name)
        if field not in EDITABLE_FIELDS:
            raise InvalidValue(name, f"unknown field; the fields are {', '.join(EDITABLE_FIELDS)}")
        if field in fields:
            raise UsageError(f"{field} is given twice")
        fields[field] = parse_field_value(field, raw)
    return fields


# -- resolving what the user named -------------------------------------------------


def find_agent(ctx: Context) -> dict[str, Any]:
    return ctx.service.find_agent(ctx.args.agent)


def is_live(ref: str | None) -> bool:
    return ref is None or ref.strip().lower() == LIVE


def hint_ref(ctx: Context, agent: dict[str, Any]) -> str:
    """How the user named the agent, quoted for a shell: for the commands we suggest.

    After a rename the old name names no agent, so the new one is suggested.
    """
    ref = ctx.args.agent
    still_names_it = ref == agent["id"] or ref.casefold() == agent["name"].casefold()
    return shell_ref(ref if still_names_it else agent["name"], agent["id"])


def shell_ref(name: str, agent_id: str) -> str:
    """``name`` quoted for a shell, or the agent's id when the name holds characters we print
    escaped (``\\x1b``): pasted back, the escaped name would name no agent."""
    quoted = shlex.quote(name)
    return quoted if one_line(quoted) == quoted else agent_id


def prog(ctx: Context) -> str:
    """``kaizen-tui`` with the options given that reach the same database (``--db``, ``--demo``), quoted for a
    shell: the start of every command we suggest, so that it acts on the data the person is looking at."""
    words = [PROG]
    if getattr(ctx.args, "demo", False):
        words.append("--demo")
    if getattr(ctx.args, "db", None):
        words += ["--db", shlex.quote(without_password(ctx.args.db))]
    return " ".join(words)


def without_password(target: str) -> str:
    """A PostgreSQL URL without its password (a hint is printed, and logged; libpq finds the password in
    ``~/.pgpass`` or ``PGPASSWORD``); any other database target as it is."""
    scheme, separator, _ = target.partition("://")
    if not separator or scheme.lower().split("+", 1)[0] not in ("postgresql", "postgres"):
        return target
    parts = urlsplit(target)
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _ in pairs):
        query = urlencode([(key, value) for key, value in pairs if key != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def name_of(agent: dict[str, Any]) -> str:
    return one_line(agent["name"])


def require_writable(ctx: Context) -> None:
    """Refuse before showing a preview and asking, rather than after."""
    if ctx.service.read_only:
        raise ReadOnlyDatabase(ctx.service.read_only_reason)


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def require_confirmation_possible(ctx: Context, why: str = "") -> None:
    """Without a terminal to ask on, only ``--yes`` proceeds: refuse (:class:`ConfirmationNeeded`) before any
    preview. ``why``: what makes this one ask, for the message (`` ('production' is a protected label)``)."""
    if not ctx.args.yes and not stdin_is_terminal():
        raise ConfirmationNeeded(command_name(ctx), why)


def command_name(ctx: Context) -> str:
    """The command as typed: ``rollback``, ``label set``."""
    action = getattr(ctx.args, "label_command", None)
    return f"{ctx.args.command} {action}" if action else str(ctx.args.command)


def confirm(ctx: Context) -> None:
    """Ask ``Proceed? [y/N]`` (unless ``--yes``) where the preview was shown; raise
    :class:`Cancelled` unless the answer is yes."""
    if ctx.args.yes:
        return
    require_confirmation_possible(ctx)
    asked = ctx.shown or ctx.out
    asked.stdout.write("Proceed? [y/N] ")
    asked.stdout.flush()
    answer = sys.stdin.readline()
    if not answer or not _is_terminal(asked.stdout):
        # A terminal echoed the answer's newline; a file or pipe (or no answer) did not.
        asked.line()
    if answer.strip().lower() in ("y", "yes"):
        return
    raise Cancelled


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- describing things -----------------------------------------------------------


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def version_label(version: dict[str, Any]) -> str:
    return f"v{version['version_number']}"


def versions_summary(agent: dict[str, Any]) -> str:
    count, latest = agent["version_count"], agent["latest_version"]
    if not count:
        return "none yet"
    saved = "unsaved changes (no version holds the live config)" if agent["unsaved_changes"] else "live config saved"
    return f"{count} (latest v{latest}), {saved}"


def describe_agent(out: Printer, agent: dict[str, Any]) -> list[str]:
    """``show``: the fields one per line, then the system prompt in full as block text."""
    max_tokens = agent["max_tokens"]
    rows = [
        ("id", agent["id"]),
        ("type", agent["agent_type"]),
        ("status", agent["status"]),
        ("model", agent["model_id"]),
        ("temperature", agent["temperature"]),
        ("max tokens", f"{max_tokens} (no limit)" if max_tokens == 0 else max_tokens),
        ("description", agent["description"]),
        ("extra", agent["extra"]),
        ("created", f"{agent['created_at']} by {agent['created_by']}"),
        ("updated", agent["updated_at"]),
        ("versions", versions_summary(agent)),
    ]
    lines = [out.style(name_of(agent), "bold")]
    lines.extend(f"  {label:<12} {one_line(_as_text(value))}".rstrip() for label, value in rows)
    prompt = agent["system_prompt"]
    lines.append("")
    if not prompt:
        lines.append(out.style("system prompt: (empty)", "bold"))
        return lines
    # Split on \n only: a \r or form feed in the prompt is shown, not obeyed.
    prompt_lines = prompt.removesuffix("\n").split("\n")
    count = len(prompt_lines)
    lines.append(out.style(f"system prompt ({plural(count, 'line')}):", "bold"))
    lines.extend(f"  {visible(line)}".rstrip() for line in prompt_lines)
    return lines


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def side_label(side: dict[str, Any]) -> str:
    return one_line(str(side["label"]))


def describe_comparison(out: Printer, agent: dict[str, Any], comparison: dict[str, Any]) -> list[str]:
    """A table of changed fields, then a unified diff of each long text."""
    old_label, new_label = side_label(comparison["from"]), side_label(comparison["to"])
    if comparison["identical"]:
        return [f"{name_of(agent)}: {old_label} and {new_label} are identical."]
    lines = [out.style(f"{name_of(agent)}: {old_label} -> {new_label}", "bold")]
    rows = [
        [
            cell(change["path"]),
            summarise_value(change["old"], absent=change["kind"] == "added"),
            summarise_value(change["new"], absent=change["kind"] == "removed"),
        ]
        for change in comparison["changes"]
    ]
    lines.extend(table(out, ["FIELD", old_label.upper(), new_label.upper()], rows))
    changes_by_path = {change["path"]: change for change in comparison["changes"]}
    for text_diff in comparison["text_diffs"]:
        change = changes_by_path[text_diff["field"]]
        lines.append("")
        lines.append(out.style(f"{one_line(change['path'])}:", "bold"))
        lines.extend(text_diff_lines(out, change["old"] or "", change["new"] or "", old_label, new_label))
    return lines


def print_warnings(out: Printer, comparison: dict[str, Any]) -> None:
    for warning in comparison["warnings"]:
        out.warn(warning)


# -- commands ------------------------------------------------------------------


def cmd_agents(ctx: Context) -> int:
    agents = ctx.service.list_agents()
    if ctx.args.json:
        ctx.out.json(agents)
        return 0
    if not agents:
        ctx.out.line(f"No agents in {one_line(ctx.service.display_name)} yet.")
        ctx.out.line(f"Create one with: {prog(ctx)} create --name NAME --model MODEL")
        return 0
    rows = [
        [
            cell(agent["name"]),
            cell(agent["agent_type"]),
            cell(agent["status"]),
            f"{agent['version_count']}{'*' if agent['unsaved_changes'] else ''}",
            cell(agent["model_id"]),
            agent["id"],
        ]
        for agent in agents
    ]
    ctx.out.lines(table(ctx.out, ["NAME", "TYPE", "STATUS", "VERSIONS", "MODEL", "ID"], rows))
    if any(agent["unsaved_changes"] for agent in agents):
        ctx.out.line()
        ctx.out.line("* unsaved changes: no version holds the live config")
    warn_name_clashes(ctx)
    return 0


def cmd_show(ctx: Context) -> int:
    agent = find_agent(ctx)
    if ctx.args.json:
        ctx.out.json(agent)
    else:
        ctx.out.lines(describe_agent(ctx.out, agent))
    return 0


def new_agent_fields(ctx: Context) -> dict[str, Any]:
    """The fields of ``create``: the file's (if any), then the flags on top."""
    args = ctx.args
    fields: dict[str, Any] = {}
    if args.file:
        fields = read_agent_file(ctx, args.file)
    flags = {
        "name": args.name,
        "model_id": args.model,
        "agent_type": args.type,
        "description": args.description,
        "status": args.status,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "extra": args.extra,
    }
    for field, raw in flags.items():
        if raw is not None:
            fields[field] = parse_field_value(field, raw)
    if args.prompt is not None:
        fields["system_prompt"] = args.prompt
    if args.prompt_file is not None:
        fields["system_prompt"] = read_text_argument("system_prompt", args.prompt_file)
    missing = [flag for flag, field in (("--name", "name"), ("--model", "model_id")) if field not in fields]
    if missing and not args.file:
        raise UsageError(f"create needs {' and '.join(missing)} (or -f FILE); see {PROG} create --help")
    return fields


def read_agent_file(ctx: Context, path: str) -> dict[str, Any]:
    data = parse_agent_text(sys.stdin.read(), "stdin") if path == "-" else load_agent_file(path)
    skipped = [key for key in GENERATED_KEYS if key in data]
    if skipped:
        ctx.out.note(f"Ignoring {', '.join(skipped)} from {one_line(path)}: kaizen-tui sets them.")
    return {key: value for key, value in data.items() if key not in GENERATED_KEYS}


def cmd_create(ctx: Context) -> int:
    require_writable(ctx)
    fields = new_agent_fields(ctx)
    agent = ctx.service.create_agent(fields)
    if ctx.args.json:
        ctx.out.json(agent)
        return 0
    ctx.out.line(f"Created {name_of(agent)} ({agent['id']}).")
    ctx.out.line(
        f"Save its first version with: {prog(ctx)} snapshot {shell_ref(agent['name'], agent['id'])} -m 'First version'"
    )
    return 0


def warn_name_clashes(ctx: Context) -> None:
    """Names are unique ignoring case; a file from before may still hold clashing ones: say which."""
    for group in ctx.service.name_clashes():
        names = ", ".join(f"{one_line(agent['name'])} ({agent['id']})" for agent in group)
        ctx.out.warn(
            f"these agents' names clash (ignoring case): {names}; rename all but one with {prog(ctx)} set ID name=NEW"
        )


def cmd_set(ctx: Context) -> int:
    fields = parse_assignments(ctx.args.assignments)
    reason = ctx.args.snapshot_first
    if reason is not None and not reason.strip():
        raise UsageError("--snapshot-first needs a reason, e.g. --snapshot-first 'before prompt rewrite'")
    expected = ctx.args.if_revision
    before = find_agent(ctx)
    if reason is None:
        after = ctx.service.update(before["id"], fields, expected_revision=expected)
    else:
        after = ctx.service.update_agent_with_version(before["id"], fields, reason, expected_revision=expected)
    changed = [] if after["revision"] == before["revision"] else [f for f in fields if before[f] != after[f]]
    saved_as, held_by = after.pop("saved_as_version", None), after.pop("held_by_version", None)
    if ctx.json:
        # The agent as show --json gives it, and what this did: the fields changed, the version saved first
        # (null when a version held the live config already: it is never saved twice) and with
        # --snapshot-first the version that holds the config as it was before (saved first or already).
        extra = {} if reason is None else {"held_by_version": held_by}
        ctx.out.json({**after, "changed": changed, "saved_as_version": saved_as, **extra})
        return 0
    if saved_as is not None:
        ctx.out.line(f"Saved v{saved_as} of {name_of(before)} first ({one_line(reason or '')}).")
    elif reason is not None:
        ctx.out.line(f"Nothing saved first: v{held_by} holds the live config already.")
    if not changed:
        ctx.out.line(f"No change: {name_of(after)} already has {'that value' if len(fields) == 1 else 'those values'}.")
        return 0
    ctx.out.line(f"Updated {name_of(after)}: {', '.join(changed)}.")
    if after["unsaved_changes"]:
        ctx.out.line(
            f"Not saved as a version yet; save it with: {prog(ctx)} snapshot {hint_ref(ctx, after)} -m 'what changed'"
        )
    return 0


def same_as_latest(ctx: Context, agent: dict[str, Any]) -> str:
    """A note for a snapshot of a config that a version already holds: which one (among the newest)."""
    if agent["unsaved_changes"]:
        return ""
    holders = [entry for entry in ctx.service.get_timeline(agent["id"], limit=50) if entry["matches_live"]]
    return f", the same config as {version_label(holders[0])}" if holders else ", a config an older version holds"


def cmd_snapshot(ctx: Context) -> int:
    agent = find_agent(ctx)
    if ctx.args.if_changed:
        # Decided in the snapshot's own transaction: nobody can save it in between.
        result = ctx.service.create_version_if_changed(agent["id"], ctx.args.message)
        if ctx.json:
            ctx.out.json(result)
        elif result["created"]:
            ctx.out.line(f"Saved {version_label(result)} of {name_of(agent)}.")
        else:
            ctx.out.line(f"Nothing to save: {version_label(result)} of {name_of(agent)} holds the live config already.")
        return 0
    same = "" if ctx.json else same_as_latest(ctx, agent)
    version = ctx.service.create_version(agent["id"], ctx.args.message)
    if ctx.json:
        ctx.out.json({**version, "created": True})
        return 0
    ctx.out.line(f"Saved {version_label(version)} of {name_of(agent)}{same}.")
    return 0


def cmd_versions(ctx: Context) -> int:
    limit, before = ctx.args.limit, ctx.args.before
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    agent = find_agent(ctx)
    # One more than shown: to say whether there are older ones.
    asked = None if limit is None else limit + 1
    if ctx.json:
        # The spec's keys (config_snapshot stays the stored text), plus the snapshot as the service reads it.
        ctx.out.json(ctx.service.get_versions_with_config(agent["id"], limit=asked, before=before)[:limit])
        return 0
    timeline = ctx.service.get_timeline(agent["id"], limit=asked, before=before)
    more = limit is not None and len(timeline) > limit
    timeline = timeline[:limit]
    if not timeline and before is not None:
        ctx.out.line(f"{name_of(agent)} has no versions older than {one_line(before)}.")
        return 0
    if not timeline:
        ctx.out.line(f"{name_of(agent)} has no versions yet.")
        ctx.out.line(
            f"Save the live config as a version with: {prog(ctx)} snapshot {hint_ref(ctx, agent)} -m 'First version'"
        )
        return 0
    count = plural(agent["version_count"], "version")
    if limit is not None or before is not None:
        newest, oldest = version_label(timeline[0]), version_label(timeline[-1])
        count += f", showing {newest}" if newest == oldest else f", showing {newest} to {oldest}"
    unsaved = "; the live config has unsaved changes" if agent["unsaved_changes"] else ""
    ctx.out.line(ctx.out.style(f"{name_of(agent)}: {count}{unsaved}", "bold"))
    if any(entry.get("labels") for entry in timeline):
        rows = [[*version_cells(entry), labels_cell(entry), version_marker(entry)] for entry in timeline]
        ctx.out.lines(table(ctx.out, [*VERSION_HEADERS, "LABELS", ""], rows))
    else:
        # No label on any version: no empty column.
        rows = [[*version_cells(entry), version_marker(entry)] for entry in timeline]
        ctx.out.lines(table(ctx.out, [*VERSION_HEADERS, ""], rows))
    if more:
        older = f"{prog(ctx)} versions {hint_ref(ctx, agent)} --limit {limit} --before {version_label(timeline[-1])}"
        ctx.out.note(f"Older versions: {one_line(older)}")
    return 0


def labels_cell(entry: dict[str, Any]) -> Cell:
    """The labels that name a version (``production, staging``), or nothing."""
    names = entry.get("labels") or []
    return (cell(", ".join(names), 40), "cyan") if names else ""


def labelled_versions(kept: list[dict[str, Any]]) -> str:
    """``v2 (production), v1 (staging)``: the versions a prune keeps because labels name them."""
    return ", ".join(f"v{entry['version_number']} ({one_line(', '.join(entry['labels']))})" for entry in kept)


VERSION_HEADERS = ("VERSION", "CREATED", "BY", "CHANGELOG")


def version_cells(version: dict[str, Any]) -> list[Cell]:
    """A version as table cells: number, time, author and the changelog's first line."""
    return [
        version_label(version),
        cell(version["created_at"]),
        cell(version["created_by"], 24),
        cell(first_line(version["changelog"]), 50),
    ]


def version_table(out: Printer, versions: list[dict[str, Any]]) -> list[str]:
    return table(out, VERSION_HEADERS, [version_cells(version) for version in versions])


def version_marker(entry: dict[str, Any]) -> Cell:
    """``= live`` or ``damaged: why``: what a person should know about a version at a glance."""
    if entry["damaged"]:
        return cell(f"damaged: {entry['damaged']}"), "red"
    if entry["matches_live"]:
        return "= live", "green"
    return "", ""


def named_version(ref: str, version: dict[str, Any]) -> str:
    """``v3``, or ``v3 (production)`` when the person named it by a label (or ``latest``)."""
    number = version_label(version)
    word = ref.strip()
    if word.lower().removeprefix("v") == str(version["version_number"]) or word == version["id"]:
        return number
    return f"{number} ({one_line(word)})"


def resolve_version(ctx: Context, agent: dict[str, Any], ref: str) -> dict[str, Any]:
    return ctx.service.find_version(agent["id"], ref)


def cmd_diff(ctx: Context) -> int:
    agent = find_agent(ctx)
    comparison = compare(ctx, agent, ctx.args.a, ctx.args.b)
    if ctx.json:
        ctx.out.json(comparison)  # its "warnings" say what print_warnings would
    else:
        print_warnings(ctx.out, comparison)
        ctx.out.lines(describe_comparison(ctx.out, agent, comparison))
    return 0


def compare(ctx: Context, agent: dict[str, Any], a: str, b: str | None) -> dict[str, Any]:
    """Compare two sides, each a version or ``live``; B defaults to the live config."""
    if is_live(a) and is_live(b):
        raise UsageError("compare the live config with a version: diff AGENT VERSION [VERSION|live]")
    return ctx.service.compare(agent["id"], a, LIVE if b is None else b)


def cmd_rollback(ctx: Context) -> int:
    agent = find_agent(ctx)
    # A label is resolved here, once: what is shown, and then done, is the version it named at that moment.
    plan = ctx.service.plan_rollback(agent["id"], ctx.args.version)
    version, comparison = plan["version"], plan["comparison"]
    label = named_version(ctx.args.version, version)
    require_writable(ctx)
    if plan["refused"]:
        raise DamagedSnapshot(comparison["to"]["damaged"], label)
    if plan["identical"]:
        if ctx.json:
            ctx.out.json(rollback_result(plan["agent"], version, None, []))
        else:
            ctx.out.line(f"{name_of(agent)} already has the config of {label}; nothing to do.")
        return 0
    require_confirmation_possible(ctx)
    shown = ctx.shown
    if shown is not None:
        shown.line(f"Rolling back {name_of(agent)} to {label}:")
        shown.lines(version_table(shown, [version]))
        shown.line()
        shown.lines(describe_comparison(shown, agent, comparison))
        shown.line()
        if plan["auto_save"]:
            shown.line(
                "The live config has unsaved changes: they are saved as a new version first "
                f"('{one_line(plan['auto_save_changelog'])}'), so nothing is lost."
            )
        shown.line("The status is not changed.")
    confirm(ctx)
    # Only what was shown: if the agent changed meanwhile, this is refused and nothing changes.
    result = ctx.service.rollback_to_version(agent["id"], version["id"], expected_revision=plan["revision"])
    saved = result.pop("saved_as_version")
    changed = result.pop("changed")
    if ctx.json:
        ctx.out.json(rollback_result(result, version, saved, changed))
        return 0
    note = f" (unsaved changes saved as v{saved})" if saved else ""
    ctx.out.line(f"Rolled back {name_of(agent)} to {label}{note}.")
    return 0


def rollback_result(
    agent: dict[str, Any], version: dict[str, Any], saved: int | None, changed: list[str]
) -> dict[str, Any]:
    """``rollback --json``: the agent after it, the version rolled back to, the version the
    unsaved live config was saved as first (or null) and the fields that changed."""
    return {"agent": agent, "rolled_back_to": version, "saved_as_version": saved, "changed": changed}


def cmd_delete_version(ctx: Context) -> int:
    agent = find_agent(ctx)
    version = resolve_version(ctx, agent, ctx.args.version)
    label = version_label(version)
    require_writable(ctx)
    # Refused before asking (the service refuses it too): a label names it.
    names = [row["label"] for row in ctx.service.list_labels(agent["id"]) if row["version_id"] == version["id"]]
    if names:
        raise VersionLabelled(version["version_number"], names)
    require_confirmation_possible(ctx)
    shown = ctx.shown
    if shown is not None:
        shown.line(f"Deleting {label} of {name_of(agent)}:")
        shown.lines(version_table(shown, [version]))
        if version["version_number"] == agent["latest_version"]:
            shown.line("It is the newest version; its number is never reused.")
    confirm(ctx)
    ctx.service.delete_version(version["id"])
    if ctx.json:
        ctx.out.json({"agent_id": agent["id"], "name": agent["name"], "deleted_version": version})
        return 0
    ctx.out.line(f"Deleted {label} of {name_of(agent)}.")
    return 0


def cmd_prune(ctx: Context) -> int:
    agent = find_agent(ctx)
    keep = ctx.args.keep
    if ctx.args.overwrite and ctx.args.archive is None:
        raise UsageError("--overwrite is for the --archive FILE: give --archive too")
    plan = ctx.service.plan_prune(agent["id"], keep)
    doomed = plan["delete"]
    kept_labelled = plan["kept_labelled"]
    if not doomed:
        if ctx.json:
            ctx.out.json(prune_result(ctx, agent, keep, [], None, kept_labelled))
            return 0
        versions = plural(agent["version_count"], "version")
        archived = "; no archive written" if ctx.args.archive is not None else ""
        if kept_labelled:
            ctx.out.line(
                f"Nothing to prune: {name_of(agent)} has {versions}; --keep {keep} keeps the newest and "
                f"labels name the others ({labelled_versions(kept_labelled)}){archived}."
            )
            return 0
        ctx.out.line(f"Nothing to prune: {name_of(agent)} has {versions}, and --keep {keep} keeps them all{archived}.")
        return 0
    require_writable(ctx)
    # Refused before asking: a file that is there already, a folder that is not.
    archive = None
    if ctx.args.archive is not None:
        archive = ctx.service.check_archive(ctx.args.archive, overwrite=ctx.args.overwrite)
    require_confirmation_possible(ctx)
    shown = ctx.shown
    if shown is not None:
        kept = f"the {keep} newest versions" if keep != 1 else "the newest version"
        doomed_count = f"these {len(doomed)} versions" if len(doomed) != 1 else "this version"
        shown.line(f"Pruning {name_of(agent)} keeps {kept} and deletes {doomed_count}:")
        shown.lines(version_table(shown, doomed))
        if kept_labelled:
            shown.line(f"It keeps these older ones because labels name them: {labelled_versions(kept_labelled)}.")
        if plan["live_loses_version"]:
            held = ", ".join(version_label(version) for version in doomed if version["matches_live"])
            shown.line(
                f"Note: the live config equals {held}, which this deletes; afterwards no "
                f"version holds it. Snapshot it first to keep it: {prog(ctx)} snapshot {hint_ref(ctx, agent)}"
            )
    elif plan["live_loses_version"]:
        held = ", ".join(version_label(version) for version in doomed if version["matches_live"])
        ctx.out.warn(f"the live config equals {held}, which this prune deletes; afterwards no version holds it")
    if shown is not None and archive is not None:
        replaced = " (replacing the file there)" if ctx.args.overwrite and Path(archive).exists() else ""
        shown.line(f"They are written to {one_line(archive)} first{replaced}; {PROG} import brings them back.")
    confirm(ctx)
    # Only what was shown: if versions were added or deleted meanwhile, nothing is deleted.
    result = ctx.service.prune(
        agent["id"], keep, plan_id=plan["plan_id"], archive=archive, overwrite_archive=ctx.args.overwrite
    )
    kept_labelled = result["kept_labelled"]
    if ctx.json:
        ctx.out.json(prune_result(ctx, agent, keep, doomed, result.get("archive"), kept_labelled))
        return 0
    labelled = f" and {labelled_versions(kept_labelled)}, which labels name" if kept_labelled else ""
    ctx.out.line(
        f"Deleted {plural(result['deleted'], 'version')} of {name_of(agent)}; kept the {keep} newest{labelled}."
    )
    if result.get("archive") is not None:
        written = result["archive"]
        ctx.out.line(f"Archived them first to {one_line(written['file'])} ({plural(written['versions'], 'version')}).")
    return 0


def prune_result(
    ctx: Context,
    agent: dict[str, Any],
    keep: int,
    deleted: list[dict[str, Any]],
    archive: dict[str, Any] | None,
    kept_labelled: list[dict[str, Any]],
) -> dict[str, Any]:
    """``prune --json``: how many versions went and which (newest first, as the preview listed
    them: the service deletes exactly what the plan said, or nothing), the older versions kept
    because labels name them (``kept_labelled``: ``{"version_number", "id", "labels"}``); with
    ``--archive``, the archive written first (``{"file", "versions", "audit_events"}``, or null
    when nothing went)."""
    result = {
        "agent_id": agent["id"],
        "name": agent["name"],
        "keep": keep,
        "deleted": len(deleted),
        "deleted_versions": deleted,
        "kept_labelled": kept_labelled,
    }
    if ctx.args.archive is not None:
        result["archive"] = archive
    return result


def cmd_export(ctx: Context) -> int:
    """Agents with their versions and audit events, as an export file (or on stdout)."""
    agents = ctx.args.agents or None
    output = ctx.args.output
    if output is None or output == "-":
        # stdout carries the export itself, and nothing else.
        export_to_stdout(ctx, agents)
        return 0
    result = ctx.service.export_file(output, agents)
    if ctx.json:
        ctx.out.json(result)
        return 0
    events = result["audit_events"] + result.get("database_audit_events", 0)
    counts = [plural(result["agents"], "agent"), plural(result["versions"], "version"), plural(events, "audit event")]
    for key, word in (
        ("labels", "label"),
        ("label_events", "ledger entry"),
        ("protected_labels", "protected label name"),
    ):
        if result.get(key):
            counts.append(plural_of(result[key], word))
    ctx.out.line(f"Exported {', '.join(counts[:-1])} and {counts[-1]} to {one_line(result['file'])}.")
    return 0


def export_to_stdout(ctx: Context, agents: list[str] | None) -> dict[str, int]:
    """Stream the export to stdout as UTF-8 with ``\n`` line ends, whatever the locale says."""
    stream = ctx.out.stdout
    stream.flush()
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        return ctx.service.export_agents(stream.write, agents)
    counts = ctx.service.export_agents(lambda line: buffer.write(line.encode("utf-8")), agents)
    buffer.flush()
    return counts


def cmd_import(ctx: Context) -> int:
    """Restore an export into the database: what it lacks is added, what it has is checked."""
    path = ctx.args.file
    if path == "-":
        result = import_from_stdin(ctx)
    else:
        result = ctx.service.import_file(path)
    if ctx.json:
        ctx.out.json(result)
        return 0
    ctx.out.lines(describe_import(ctx, result))
    return 0


def import_from_stdin(ctx: Context) -> dict[str, Any]:
    """``import -``: stdin read as UTF-8 (a byte order mark is skipped), line by line."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:
        return ctx.service.import_lines(sys.stdin, "stdin")
    lines = io.TextIOWrapper(buffer, encoding="utf-8-sig")
    try:
        return ctx.service.import_lines(lines, "stdin")
    finally:
        lines.detach()  # stdin stays open


#: The counts of an import's report (``import --json``) that say it changed something, and their words.
IMPORT_CHANGES = (
    ("labels_added", "label", "added"),
    ("labels_moved", "label", "moved"),
    ("labels_removed", "label", "removed"),
    ("label_events_added", "ledger entry", "added"),
    ("protected_labels_added", "protected label name", "added"),
    ("protected_labels_removed", "protected label name", "removed"),
)


def describe_import(ctx: Context, result: dict[str, Any]) -> list[str]:
    """What an import did: a sentence with every count ``--json`` gives that is not 0, then a line per
    agent that was added, gained versions or whose labels changed."""
    source = one_line(result["file"])
    database = one_line(ctx.service.display_name)
    kinds = (("agents", "agent"), ("versions", "version"), ("audit_events", "audit event"))
    changed = [(result[key], word, done) for key, word, done in IMPORT_CHANGES if result[key]]
    if not any(result[f"{key}_added"] for key, _ in kinds) and not changed:
        if not result["agents_already_there"]:
            return [f"{source} holds no agents; nothing was imported."]
        held = ", ".join(plural(result[f"{key}_already_there"], word) for key, word in kinds)
        return [f"Nothing to import: {database} has all of {source} already ({held})."]
    parts = []
    for key, word in kinds:
        there = result[f"{key}_already_there"]
        parts.append(f"{plural(result[f'{key}_added'], word)} added" + (f" ({there} already there)" if there else ""))
    parts += [f"{plural_of(count, word)} {done}" for count, word, done in changed]
    lines = [f"Imported {source} into {database}: {', '.join(parts)}."]
    for agent in result["agents"]:
        what = []
        if agent["added"]:
            what.append(f"added, with {plural(agent['versions_added'], 'version')}")
        elif agent["versions_added"]:
            what.append(f"gained {plural(agent['versions_added'], 'version')}")
        what += [describe_label_change(change) for change in agent["label_changes"]]
        if what:
            lines.append(f"  {name_of(agent)} ({agent['id']}): {', '.join(what)}")
    return lines


def plural_of(count: int, word: str) -> str:
    """``1 ledger entry``, ``2 ledger entries``, ``3 labels``."""
    if count == 1:
        return f"1 {word}"
    return f"{count} {word[:-1]}ies" if word.endswith("y") else f"{count} {word}s"


def describe_label_change(change: dict[str, Any]) -> str:
    """How an import changed a label, as the ledger it followed says: ``staging removed (was v1)``."""
    label, before, after = one_line(change["label"]), change["from_version"], change["to_version"]
    if after is None:
        return f"{label} removed (was v{before})"
    if before is None:
        return f"{label} set → v{after}"
    return f"{label} moved v{before} → v{after}"


def cmd_delete_agent(ctx: Context) -> int:
    agent = find_agent(ctx)
    plan = ctx.service.plan_delete_agent(agent["id"])
    require_writable(ctx)
    if plan["refused"]:
        raise AgentNotArchived(agent["name"], agent["status"])
    require_confirmation_possible(ctx)
    shown = ctx.shown
    if shown is not None:
        count = plan["version_count"]
        shown.line(f"Deleting the agent {name_of(agent)} ({agent['id']}) and its {plural(count, 'version')}.")
        shown.line("This cannot be undone; the audit log keeps its name, id and how many versions went.")
    confirm(ctx)
    result = ctx.service.delete_agent(agent["id"], expected_revision=agent["revision"])
    if ctx.json:
        ctx.out.json(result)
        return 0
    ctx.out.line(f"Deleted {name_of(agent)} and {plural(result['versions_deleted'], 'version')}.")
    return 0


def cmd_serve(ctx: Context) -> int:
    """Serve the HTTP API until interrupted (FastAPI and uvicorn are imported only here)."""
    try:
        from kaizen_tui.api.server import serve
    except ModuleNotFoundError as error:
        raise KaizenError(f"serve needs {error.name}, which is not installed: pip install kaizen-tui") from None
    if not 0 < ctx.args.port < 65536:
        raise UsageError(f"--port must be from 1 to 65535, not {ctx.args.port}")
    if not ctx.service.list_tokens():
        ctx.out.warn(
            f"no API tokens yet: every request but /healthz is refused; make one with {prog(ctx)} token create NAME"
        )
    archive_dir = archive_folder(ctx.args.archive_dir)
    try:
        serve(ctx.service, ctx.args.host, ctx.args.port, archive_dir=archive_dir)
    except OSError as error:
        raise KaizenError(f"cannot serve on {ctx.args.host}:{ctx.args.port}: {error.strerror or error}") from None
    return 0


def archive_folder(given: str | None) -> Path | None:
    """``serve --archive-dir``: a folder that exists, as an absolute path (prunes over HTTP archive into it)."""
    if given is None:
        return None
    folder = Path(given).expanduser().absolute()
    if not folder.is_dir():
        raise UsageError(f"--archive-dir {one_line(str(folder))}: no such folder (make it first)")
    return folder


def cmd_token_create(ctx: Context) -> int:
    token = ctx.service.create_token(ctx.args.name, ctx.args.role)
    if ctx.args.json:
        ctx.out.json({key: token[key] for key in ("name", "role", "token")})
        return 0
    ctx.out.line(f"Created the {token['role']} token {one_line(token['name'])}. Its secret, shown this once:")
    ctx.out.line()
    ctx.out.line(f"  {token['token']}")
    ctx.out.line()
    ctx.out.line("Send it as: Authorization: Bearer <secret>. Only a hash of it is kept.")
    return 0


def cmd_token_list(ctx: Context) -> int:
    tokens = ctx.service.list_tokens()
    if ctx.args.json:
        ctx.out.json(tokens)
        return 0
    if not tokens:
        ctx.out.line(f"No API tokens. Make one with: {prog(ctx)} token create NAME --role read|write|admin")
        return 0
    rows = [[cell(t["name"]), t["role"], cell(t["created_at"]), cell(t["created_by"])] for t in tokens]
    ctx.out.lines(table(ctx.out, ["NAME", "ROLE", "CREATED", "BY"], rows))
    return 0


def cmd_token_revoke(ctx: Context) -> int:
    ctx.service.revoke_token(ctx.args.name)
    if ctx.json:
        ctx.out.json({"revoked": ctx.args.name})
        return 0
    ctx.out.line(f"Revoked the token {one_line(ctx.args.name)}; servers refuse it within a few seconds.")
    return 0


LOG_HEADERS = ("TIME", "BY", "ACTION", "AGENT", "WHAT")


def cmd_log(ctx: Context) -> int:
    """The audit log, newest first: who did what, when."""
    from kaizen_tui.cli.audit import agent_label, event_summary

    limit = ctx.args.limit
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    # One more than shown: to say whether there are older ones.
    events = ctx.service.audit_trail(ctx.args.agent, limit + 1, before=ctx.args.before)
    more = len(events) > limit
    events = events[:limit]
    if ctx.json:
        ctx.out.json(events)
        return 0
    if not events:
        where = f"for {one_line(ctx.args.agent)} " if ctx.args.agent is not None else ""
        ctx.out.line(f"No events {where}in the audit log{' before that one' if ctx.args.before else ''}.")
        return 0
    rows = [
        [
            cell(event["at"]),
            cell(event["actor"], 24),
            cell(event["action"]),
            cell(agent_label(event), 40),
            one_line(event_summary(event)),
        ]
        for event in events
    ]
    ctx.out.lines(table(ctx.out, LOG_HEADERS, rows))
    if more:
        older = (
            f"{prog(ctx)} log{' ' + shlex.quote(ctx.args.agent) if ctx.args.agent else ''} --before {events[-1]['id']}"
        )
        ctx.out.note(f"Older events: {one_line(older)}")
    return 0


# -- the program -----------------------------------------------------------------


DESCRIPTION = """\
Keep every configuration of an AI agent as a numbered version: snapshot,
list, diff, roll back and prune, from scripts or (with no command) in a
keyboard-driven terminal app."""

EPILOG = f"""\
examples:
  {PROG}                                  open the TUI on your database
  {PROG} --demo                           open the TUI on a demo database
  {PROG} agents
  {PROG} create --name 'Support Agent' --model gpt-4 --prompt-file prompt.txt
  {PROG} set 'Support Agent' temperature=0.3 --snapshot-first 'before tuning'
  {PROG} diff 'Support Agent' v2            v2 against the live config
  {PROG} rollback 'Support Agent' v2
  {PROG} label set 'Support Agent' production v3 --expect v2    move production from v2 to v3
  {PROG} config 'Support Agent' --label production --json       what the agent loads

Agents are named by id or by name. A version is named by number (3 or v3), id,
latest (the newest version) or a label (production: the version it names now),
tried in that order.
Program options come before the command (like git -C); they work after it too.

exit codes:
  0    done (also when there was nothing to do)
  1    failed, or the answer to Proceed? was not yes (nothing was changed)
  2    wrong usage; also a confirmation needed with no terminal to ask on
       (rollback, delete-version, prune, delete-agent, a protected label):
       pass --yes. With --json the error's code says which: usage or
       confirmation_needed
  130  interrupted (Ctrl+C)
  141  the output was closed early (kaizen-tui ... | head)

environment:
  KAIZEN_DB     database path, sqlite:/// URL or postgresql://user@host:port/dbname
                URL (instead of --db)
  KAIZEN_USER   who is recorded as created_by (instead of --user)
  NO_COLOR      no colour in the output
  KAIZEN_DEBUG  set to 1 to see a traceback when something unexpected fails"""


SET_DETAILS = f"""\
fields: {", ".join(EDITABLE_FIELDS[:5])},
        {", ".join(EDITABLE_FIELDS[5:])} (model, type and prompt work too)
values:
  temperature=0.3         a number from {TEMPERATURE_RANGE[0]} to {TEMPERATURE_RANGE[1]}
  max_tokens=2048         a whole number, 0 for no limit
  extra='{{"top_p": 0.9}}'  a JSON object; it replaces all of extra
  extra=@FILE             the JSON object in a file
  system_prompt=@FILE     the prompt in a file (@- reads stdin); one final
                          newline is dropped; @@ starts a literal @
  anything else           text, as given
The change is not a version until you snapshot, unless --snapshot-first
saves the current config as a version before changing it."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' layout, and lists the commands without a ``COMMAND`` line above them."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28)

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        if isinstance(action, argparse._SubParsersAction):
            text = text.split("\n", 1)[1]
        return text

    def _iter_indented_subactions(self, action: argparse.Action):
        # The commands sit at the same depth as options, not one level in.
        if isinstance(action, argparse._SubParsersAction):
            yield from action._get_subactions()
        else:
            yield from super()._iter_indented_subactions(action)


def add_program_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """--db, --user, --read-only, --demo: on the program, and again on each command.

    On a command they default to SUPPRESS, so one given before the command is
    not reset by the command's parser.
    """
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    group = parser.add_argument_group(
        "program options" + (" (may also come before the command)" if after_command else "")
    )
    group.add_argument(
        "--db",
        metavar="PATH|URL",
        help="database file, sqlite:/// URL or postgresql://user@host:port/dbname URL "
        "(default: $KAIZEN_DB, else your per-user database)",
        **default,
    )
    group.add_argument(
        "--user",
        metavar="NAME",
        help="who is recorded as created_by (default: $KAIZEN_USER, else your login)",
        **default,
    )
    group.add_argument(
        "--read-only", action="store_true", help="open the database read-only: nothing can change", **default
    )
    group.add_argument(
        "--demo", action="store_true", help="use the demo database (filled with demo agents on first use)", **default
    )


def command_parser(
    commands: argparse._SubParsersAction,
    name: str,
    summary: str,
    example: str,
    handler: Callable[[Context], int],
    details: str = "",
) -> argparse.ArgumentParser:
    description = summary + (f"\n\n{details}" if details else "")
    parser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=f"example:\n  {example}",
        formatter_class=HelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def add_agent_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("agent", metavar="AGENT", help="agent id or name")


#: How a version is named, for the help of arguments that take one.
VERSION_HELP = "version number (3, v3), id, latest or a label (the version it names now)"


def add_version_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", metavar="VERSION", help=VERSION_HELP)


def add_json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def add_yes_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-y", "--yes", action="store_true", help="do it without asking (needed when stdin is not a terminal)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [--db PATH|URL] [--user NAME] [--read-only] [--demo] [COMMAND [ARGS...]]",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    add_program_options(parser, after_command=False)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", prog=PROG)

    agents = command_parser(
        commands,
        "agents",
        "List the agents.",
        f"{PROG} agents --json",
        cmd_agents,
        "A * after the version count marks unsaved changes: no version holds the live config.",
    )
    add_json_flag(agents, "every agent")

    create = command_parser(
        commands,
        "create",
        "Create an agent (its live config; save a version with snapshot).",
        f"{PROG} create --name 'Support Agent' --model gpt-4 --prompt-file prompt.txt",
        cmd_create,
        "Give --name and --model, or -f with a YAML or JSON file of fields (flags then override the file's).\n"
        f"A file from `{PROG} show --json` works too: its id, dates and counts are skipped.",
    )
    create.add_argument("-f", "--file", metavar="FILE", help="YAML or JSON file of fields (- for stdin)")
    create.add_argument("--name", help="the agent's name")
    create.add_argument("--model", metavar="MODEL", help="model id, e.g. gpt-4")
    create.add_argument("--type", metavar="TYPE", help=f"one of {', '.join(AGENT_TYPES)} (default: chat)")
    create.add_argument("--description", help="what the agent is for")
    prompt = create.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEXT", help="the system prompt")
    prompt.add_argument("--prompt-file", metavar="FILE", help="read the system prompt from a file (- for stdin)")
    low, high = TEMPERATURE_RANGE
    create.add_argument("--temperature", metavar="X", help=f"{low} to {high} (default: 0.7)")
    create.add_argument("--max-tokens", metavar="N", help="0 for no limit (default: 0)")
    create.add_argument("--status", metavar="STATUS", help=f"one of {', '.join(STATUSES)} (default: draft)")
    create.add_argument(
        "--extra", metavar="JSON", help="a JSON object of other settings (tools, top_p...); @FILE reads a file"
    )
    add_json_flag(create, "the new agent")
    create.set_defaults(creates_database=True)

    show = command_parser(
        commands,
        "show",
        "Show an agent: its fields, full system prompt and versions.",
        f"{PROG} show 'Support Agent'",
        cmd_show,
    )
    add_agent_argument(show)
    add_json_flag(show, "the agent")

    set_ = command_parser(
        commands,
        "set",
        "Change fields of an agent's live config.",
        f"{PROG} set 'Support Agent' temperature=0.3 system_prompt=@prompt.txt",
        cmd_set,
        SET_DETAILS,
    )
    add_agent_argument(set_)
    set_.add_argument("assignments", metavar="FIELD=VALUE", nargs="+", help="the fields to change")
    set_.add_argument(
        "--snapshot-first",
        metavar="REASON",
        help="first save the current config as a version, REASON its changelog (unless a version holds it)",
    )
    set_.add_argument(
        "--if-revision",
        metavar="N",
        type=whole_argument,
        help="change only if the agent is still at revision N (see show); else fail and change nothing",
    )
    add_json_flag(set_, "the updated agent, with the fields changed (changed) and the version saved first")

    snapshot = command_parser(
        commands,
        "snapshot",
        "Save the agent's live config as the next version.",
        f"{PROG} snapshot 'Support Agent' -m 'Shorter answers'",
        cmd_snapshot,
    )
    add_agent_argument(snapshot)
    snapshot.add_argument("-m", "--message", metavar="CHANGELOG", help="what changed and why")
    snapshot.add_argument(
        "--if-changed",
        action="store_true",
        help="only if no version holds the live config yet; else create nothing, say which does, exit 0",
    )
    add_json_flag(
        snapshot,
        "the version with created: the new one (true), or with --if-changed the one that holds the live config (false)",
    )

    versions = command_parser(
        commands,
        "versions",
        "List an agent's versions, newest first.",
        f"{PROG} versions 'Support Agent' --limit 20",
        cmd_versions,
        "'= live' marks versions equal to the live config; 'damaged' ones cannot be read or rolled back to.\n"
        f"LABELS (when there are any) names the labels on each version ({PROG} label).",
    )
    add_agent_argument(versions)
    versions.add_argument(
        "--limit", metavar="N", type=whole_argument, help="only the N newest (of those --before asks for)"
    )
    versions.add_argument(
        "--before", metavar="VERSION", help=f"only versions older than VERSION ({VERSION_HELP}): the next page"
    )
    add_json_flag(
        versions, "the versions: their snapshots as stored and decoded (config), damaged, matches_live, labels"
    )

    diff = command_parser(
        commands,
        "diff",
        "Show what changed between two versions, or a version and the live config.",
        f"{PROG} diff 'Support Agent' v2 v3",
        cmd_diff,
        "B defaults to the live config; either side may be the word 'live'. A label (production) is the\n"
        "version it names now.",
    )
    add_agent_argument(diff)
    diff.add_argument("a", metavar="A", help=f"the older side: {VERSION_HELP}")
    diff.add_argument("b", metavar="B", nargs="?", help="the newer side (default: live)")
    add_json_flag(diff, "the comparison")

    rollback = command_parser(
        commands,
        "rollback",
        "Make the live config equal a version (unsaved changes are saved first).",
        f"{PROG} rollback 'Support Agent' v3",
        cmd_rollback,
        "Shows what will change and asks before doing it. The status is not changed.",
    )
    add_agent_argument(rollback)
    add_version_argument(rollback)
    add_yes_flag(rollback)
    add_json_flag(rollback, "what was done (agent, rolled_back_to, saved_as_version, changed); previews go to stderr")

    delete = command_parser(
        commands,
        "delete-version",
        "Delete one version (its number is never reused).",
        f"{PROG} delete-version 'Support Agent' v2",
        cmd_delete_version,
    )
    add_agent_argument(delete)
    add_version_argument(delete)
    add_yes_flag(delete)
    add_json_flag(delete, "the deleted version; previews go to stderr")

    prune = command_parser(
        commands,
        "prune",
        "Delete all but the newest N versions of an agent.",
        f"{PROG} prune 'Support Agent' --keep 10",
        cmd_prune,
        "Lists the versions it will delete and asks first.",
    )
    add_agent_argument(prune)
    prune.add_argument(
        "--keep",
        metavar="N",
        type=whole_argument,
        required=True,
        help="how many of the newest versions to keep (at least 1)",
    )
    prune.add_argument(
        "--archive",
        metavar="FILE",
        help=f"first write the versions it deletes to FILE, an export that {PROG} import brings back",
    )
    prune.add_argument("--overwrite", action="store_true", help="let --archive replace a FILE that exists")
    add_yes_flag(prune)
    add_json_flag(prune, "how many versions were deleted and which, and the archive; previews go to stderr")

    from kaizen_tui.cli import labels  # here: it imports this module's helpers

    label_commands = labels.add_commands(commands)

    export = command_parser(
        commands,
        "export",
        "Write agents, their versions and audit events to an export file.",
        f"{PROG} export -o team.jsonl",
        cmd_export,
        "Without AGENT, every agent. The file is JSON Lines in a documented, versioned format\n"
        "(docs/export-format.md): the same data gives the same bytes, so two exports diff well.\n"
        "Without -o it goes to stdout. Labels and their ledger go with their agents; without AGENT,\n"
        "protected label names and every other audit event too. API tokens are never exported.\n"
        f"To move to another database: {PROG} export -o all.jsonl, then {PROG} --db NEW import all.jsonl.",
    )
    export.add_argument("agents", metavar="AGENT", nargs="*", help="agent id or name (default: every agent)")
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write FILE (whole or not at all; replaces it) instead of stdout"
    )
    add_json_flag(export, "the file written and its counts (with -o; stdout is the export otherwise)")

    import_ = command_parser(
        commands,
        "import",
        "Restore an export file into the database (SQLite or PostgreSQL).",
        f"{PROG} --db new.db import team.jsonl",
        cmd_import,
        "Keeps ids, numbers, snapshot text byte for byte, changelogs, authors and times. An agent that\n"
        "is there already keeps its live config and gains the versions it lacks; importing a file twice\n"
        "changes nothing. Labels and protected names follow the newest decision of the merged ledgers:\n"
        "an import never undoes a move, removal or unprotect recorded after the file was made.\n"
        "A file that contradicts the database (a version with the same id and other content, a name\n"
        "another agent has) is refused, and nothing is written. Archives of prune too.",
    )
    import_.add_argument("file", metavar="FILE", help="the export or archive file (- for stdin)")
    add_json_flag(import_, "what was added and what was there already")
    import_.set_defaults(creates_database=True)

    delete_agent = command_parser(
        commands,
        "delete-agent",
        "Delete an archived agent and all its versions.",
        f"{PROG} delete-agent 'Old Bot'",
        cmd_delete_agent,
        "Two deliberate steps: only an archived agent can be deleted (first: set AGENT status=archived).\n"
        "Shows what goes and asks first.",
    )
    add_agent_argument(delete_agent)
    add_yes_flag(delete_agent)
    add_json_flag(delete_agent, "what was deleted; previews go to stderr")

    log = command_parser(
        commands,
        "log",
        "Show the audit log: who did what, when (newest first).",
        f"{PROG} log 'Support Agent' --limit 20",
        cmd_log,
        "Without AGENT, the events of every agent (and of the API's tokens). A deleted agent is still\n"
        "found by its id or name; its events show the name it had.",
    )
    log.add_argument("agent", metavar="AGENT", nargs="?", help="only this agent's events (id or name)")
    log.add_argument("--limit", metavar="N", type=whole_argument, default=50, help="how many events (default: 50)")
    log.add_argument(
        "--before", metavar="ID", type=whole_argument, help="only events older than this one (their ids: --json)"
    )
    add_json_flag(log, "the events (detail decoded, agent_name)")

    serve_ = command_parser(
        commands,
        "serve",
        "Serve the HTTP API (for agents, CI and teammates).",
        f"{PROG} --db team.db serve --port 8700",
        cmd_serve,
        "Every request but GET /healthz needs Authorization: Bearer TOKEN (see token create).\n"
        "OpenAPI at /openapi.json, interactive docs at /docs (served from here: no internet needed).\n"
        "Several servers may share one database. One log line per request on stderr (the query string\n"
        "with secrets hidden), and one when the database goes away and when it is back.\n"
        "A port that is taken (or an address not of this machine) is one error line, exit code 1.",
    )
    serve_.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve_.add_argument("--port", type=whole_argument, default=8700, help="port to listen on (default: 8700)")
    serve_.add_argument(
        "--archive-dir",
        metavar="DIR",
        help="let prunes over HTTP (admin tokens) archive what they delete into files in DIR; "
        "a client names only the file, never over one that exists (default: no archives)",
    )

    token = command_parser(
        commands,
        "token",
        "Manage the HTTP API's tokens.",
        f"{PROG} token create ci-bot --role write",
        lambda ctx: 2,
        "Roles: read reads; write also changes agents, versions and labels; admin also deletes agents,\n"
        "moves protected labels and protects label names.\n"
        "A token's name is who the audit log says did what.",
    )
    token_commands = token.add_subparsers(dest="token_command", metavar="ACTION", title="actions", required=True)
    token_create = command_parser(
        token_commands, "create", "Make a token; its secret is printed once.",
        f"{PROG} token create ci-bot --role write --json", cmd_token_create,
    )  # fmt: skip
    token_create.add_argument("name", metavar="NAME", help="who the token acts as (letters, digits, . _ @ -)")
    token_create.add_argument("--role", choices=("read", "write", "admin"), default="read", help="default: read")
    add_json_flag(token_create, "the name, role and secret")
    token_create.set_defaults(creates_database=True)
    token_list = command_parser(token_commands, "list", "List the tokens (never their secrets).",
                                f"{PROG} token list", cmd_token_list)  # fmt: skip
    add_json_flag(token_list, "the tokens")
    token_revoke = command_parser(token_commands, "revoke", "Revoke a token.",
                                  f"{PROG} token revoke ci-bot", cmd_token_revoke)  # fmt: skip
    token_revoke.add_argument("name", metavar="NAME")
    add_json_flag(token_revoke, "the name revoked")

    for command in (
        agents, create, show, set_, snapshot, versions, diff, rollback, delete, prune, export, import_, delete_agent,
        log, serve_, token_create, token_list, token_revoke, *label_commands,
    ):  # fmt: skip
        add_program_options(command, after_command=True)
    return parser


def database_target(args: argparse.Namespace) -> str | None:
    """--db, else $KAIZEN_DB, else None (the service's per-user default).

    With --demo: --db, else the per-user demo database, filled with the demo
    agents if it has none. $KAIZEN_DB is ignored there, so the demo never
    lands in someone's real (perhaps still empty) database.
    """
    if args.db is not None and not args.db.strip():
        # An unset "$DB" in a script must not quietly mean the real database.
        raise UsageError("--db is empty; give a database path, or leave --db out for your default database.")
    if args.demo:
        from kaizen_tui.demo import ensure_demo_database

        return ensure_demo_database(args.db, read_only=args.read_only)
    return args.db or os.environ.get("KAIZEN_DB") or None


def open_service(args: argparse.Namespace, *, create: bool) -> AgentService:
    """The service on the database the command line names.

    ``create``: a missing database may be created (the TUI, ``create``,
    ``token create``). Every other command needs an agent or token that only
    an existing database can hold, so a mistyped ``--db`` is one error naming
    the path, and no file appears.
    """
    from kaizen_tui.service import AgentService

    return AgentService(database_target(args), user=args.user, read_only=args.read_only, create=create)


def run_tui(args: argparse.Namespace, out: Printer) -> int:
    """No command: open the TUI (Textual is imported only here)."""
    if not (stdin_is_terminal() and out.stdout.isatty()):
        raise UsageError(
            f"with no command, {PROG} opens the TUI, which needs a terminal; see {PROG} --help for the commands"
        )
    try:
        from kaizen_tui.tui.app import KaizenApp
    except ModuleNotFoundError as error:
        if error.name != "kaizen_tui.tui.app":
            raise
        raise KaizenError(
            f"the TUI is not available yet (kaizen_tui.tui.app is missing); use a command, see {PROG} --help"
        ) from None
    service = open_service(args, create=True)
    try:
        app = KaizenApp(service=service)
        app.run()
        return getattr(app, "return_code", 0) or 0
    finally:
        service.close()


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace | int:
    """The parsed command line, or the exit code when argparse already answered (``--help``).

    A usage error is raised as :class:`ArgumentsError`.
    """
    parser = build_parser()
    try:
        return parser.parse_args(argv)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 2)


def asks_for_json(argv: Sequence[str]) -> bool:
    """Does the command line ask for ``--json``? For errors before (or while) it is parsed."""
    for argument in argv:
        if argument == "--":
            return False
        if argument == "--json":
            return True
    return False


def run(argv: Sequence[str], out: Printer) -> int:
    args = parse_arguments(argv)
    if isinstance(args, int):
        return args
    out.json_mode = bool(getattr(args, "json", False))
    if args.command is None:
        return run_tui(args, out)
    service = open_service(args, create=getattr(args, "creates_database", False))
    done = False
    try:
        for notice in service.notices:
            out.note(one_line(notice))
        code = args.handler(Context(args=args, service=service, out=out))
        done = code == 0
        return code
    finally:
        if done:
            service.close()
        else:
            # A database this command created, and then wrote nothing to (an import refused), goes again.
            service.close_discarding_new()


def in_cli_words(error: KaizenError) -> str:
    """The error's sentence, with what a person at a terminal does about it where that is a flag or a command.

    The service's sentences suit every face; the API and the TUI say what
    their users do in their own words.
    """
    message = str(error)
    if isinstance(error, ArchiveExists):
        return f"{message} (--overwrite replaces it)"
    if isinstance(error, ProtectedLabel):
        return f"{message} (asked on a terminal; --yes in a script)"
    if isinstance(error, VersionLabelled):
        return f"{message} ({PROG} label set or label remove)"
    return message


def report_error(out: Printer, code: str, message: str) -> None:
    try:
        out.error(code, message)
        out.stderr.flush()
    except (OSError, ValueError):
        pass


def silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the final flush at exit is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code. Never lets a traceback out.

    A failure is one line on stderr, ``kaizen-tui: error: ...``; with
    ``--json`` it is one JSON object, ``{"error": {"code": ..., "message": ...}}``
    (usage errors have the code ``usage``). The exit code is the same either way.
    """
    out = Printer()
    arguments = list(sys.argv[1:] if argv is None else argv)
    out.json_mode = asks_for_json(arguments)
    try:
        code = run(arguments, out)
        out.stdout.flush()
        return code
    except KeyboardInterrupt:
        if sys.stderr.isatty():
            sys.stderr.write("\n")  # The cursor may sit after "Proceed? [y/N] " or a ^C.
        report_error(out, "interrupted", "interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        silence_stdout()
        return EXIT_BROKEN_PIPE
    except ArgumentsError as error:
        if out.json_mode:
            report_error(out, error.code, f"{error.prog}: {error}")
        else:
            # As argparse itself says it.
            out.stderr.write(error.usage)
            out.stderr.write(f"{error.prog}: error: {error}\n")
        return EXIT_USAGE
    except UsageError as error:
        report_error(out, error.code, str(error))
        return EXIT_USAGE
    except Cancelled as error:
        if out.json_mode:
            report_error(out, error.code, str(error))
        else:
            out.note(str(error))
        return 1
    except KaizenError as error:
        report_error(out, error.code, in_cli_words(error))
        return 1
    except Exception as error:  # The last line of defence: one line, no traceback.
        if os.environ.get("KAIZEN_DEBUG") == "1":
            traceback.print_exc()
        report_error(
            out, "unexpected", f"unexpected {type(error).__name__}: {error} (set KAIZEN_DEBUG=1 to see the traceback)"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
