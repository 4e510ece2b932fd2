"""``kaizen-tui label ...`` and ``kaizen-tui config``: labels with a ledger, and the config an agent loads.

A label names one version of one agent (``production``, ``staging``); every
set, move and removal is written to a ledger (``label history``). ``--expect``
makes a move compare-and-swap. A protected label moves only after a person
confirms (``Proceed? [y/N]`` on a terminal, ``--yes`` in a script); without
a terminal and without ``--yes`` it is refused as every command that asks
is (exit 2, ``confirmation_needed``), and nothing moves.

The rules live in the service (:mod:`kaizen_tui.service.labels`); this
module parses, previews, asks and prints. It is imported by
:func:`kaizen_tui.cli.program.build_parser` once ``program`` is loaded.
"""

from __future__ import annotations

import argparse
import re
import shlex
from typing import Any

from kaizen_tui.cli.output import PROG, Printer, cell, first_line, one_line, table, visible
from kaizen_tui.cli.program import (
    VERSION_HELP,
    Context,
    UsageError,
    add_agent_argument,
    add_json_flag,
    add_yes_flag,
    command_parser,
    confirm,
    describe_comparison,
    find_agent,
    name_of,
    plural,
    prog,
    require_confirmation_possible,
    require_writable,
    version_table,
    whole_argument,
)
from kaizen_tui.core.audit_text import ARROW
from kaizen_tui.core.numbers import MAX_INTEGER, shortened, whole_number

#: ``--expect none``: the label must not be set yet.
EXPECT_NONE = "none"
_VERSION_NUMBER = re.compile(r"[vV]?(\d+)")


class _NoExpectation:
    """``--expect`` not given: the move is not compare-and-swap."""


NOT_GIVEN = _NoExpectation()


def parse_expect(raw: str | None) -> int | _NoExpectation | None:
    """``--expect``: a version number (``3``, ``v3``), ``none`` (not set yet), or not given."""
    if raw is None:
        return NOT_GIVEN
    text = raw.strip()
    if text.lower() == EXPECT_NONE:
        return None
    match = _VERSION_NUMBER.fullmatch(text)
    number = whole_number(match.group(1)) if match is not None else None
    if number is None or number > MAX_INTEGER:
        raise UsageError(
            f"--expect takes a version number (3 or v3) or 'none' (not set yet), not {shortened(raw, quoted=True)}"
        )
    return number


def expectation(given: int | _NoExpectation | None) -> dict[str, Any]:
    """The ``expected`` keyword for the service: absent when not given (the service's default: unchecked)."""
    return {} if isinstance(given, _NoExpectation) else {"expected": given}


def quoted_label(label: str) -> str:
    return one_line(label)


def where(number: int | None) -> str:
    return "not set" if number is None else f"v{number}"


# -- label set ------------------------------------------------------------------------


def cmd_label_set(ctx: Context) -> int:
    args = ctx.args
    given = parse_expect(args.expect)
    agent = find_agent(ctx)
    plan = ctx.service.plan_label_move(agent["id"], args.label, args.version)
    require_writable(ctx)
    source = plan["from"]
    here = source["version_number"] if source is not None else None
    allow = False
    expected = expectation(given)
    stale = not isinstance(given, _NoExpectation) and given != here
    if plan["protected"] and not plan["refused"] and not stale:
        if not plan["unchanged"]:
            ask_for_protected(ctx, args.label)
            show_move(ctx, agent, plan)
            confirm(ctx)
        allow = True
        if isinstance(given, _NoExpectation) and (not args.yes or plan["unchanged"]):
            # Only what the person saw: it moves from where it was shown, or not at all (and a
            # label already in place is not moved elsewhere by someone else's change meanwhile).
            expected = {"expected": here}
    # A damaged version, a stale --expect, a label protected meanwhile: the service refuses and says why.
    result = ctx.service.set_label(
        agent["id"], args.label, plan["to"]["id"], reason=args.message or "", allow_protected=allow, **expected
    )
    if ctx.json:
        ctx.out.json({"agent_id": agent["id"], "name": agent["name"], **result})
        return 0
    label = quoted_label(result["label"])
    now = f"v{result['version_number']}"
    if not result["moved"]:
        ctx.out.line(f"{label} of {name_of(agent)} already points at {now}; nothing moved.")
    elif result["from_version_number"] is None:
        ctx.out.line(f"Set {label} of {name_of(agent)} to {now}.")
    else:
        ctx.out.line(f"Moved {label} of {name_of(agent)}: v{result['from_version_number']} {ARROW} {now}.")
    return 0


def ask_for_protected(ctx: Context, label: str) -> None:
    """A protected label needs a person's yes: with no terminal to ask on and no ``--yes``, refuse as every
    command that asks does (:class:`~kaizen_tui.cli.program.ConfirmationNeeded`)."""
    require_confirmation_possible(ctx, f" ({label!r} is a protected label)")


def show_move(ctx: Context, agent: dict[str, Any], plan: dict[str, Any]) -> None:
    """What moving a protected label changes for whatever loads it: the version it goes to and the diff."""
    shown = ctx.shown
    if shown is None:
        return
    label, target = quoted_label(plan["label"]), plan["to"]
    if plan["from"] is None:
        shown.line(f"Setting the protected label {label} of {name_of(agent)} to v{target['version_number']}:")
    else:
        moved = f"v{plan['from']['version_number']} {ARROW} v{target['version_number']}"
        shown.line(f"Moving the protected label {label} of {name_of(agent)}: {moved}")
    shown.lines(version_table(shown, [target]))
    if plan["comparison"] is not None:
        shown.line()
        shown.line(f"What anything loading {label} gets instead:")
        shown.lines(describe_comparison(shown, agent, plan["comparison"]))
    shown.line()


# -- label remove ---------------------------------------------------------------------


def cmd_label_remove(ctx: Context) -> int:
    args = ctx.args
    given = parse_expect(args.expect)
    agent = find_agent(ctx)
    require_writable(ctx)
    current = next((row for row in ctx.service.list_labels(agent["id"]) if row["label"] == args.label), None)
    allow = False
    expected = expectation(given)
    here = current["version_number"] if current is not None else None
    stale = not isinstance(given, _NoExpectation) and given != here
    if current is not None and current["protected"] and not stale:
        ask_for_protected(ctx, args.label)
        shown = ctx.shown
        if shown is not None:
            label = quoted_label(args.label)
            shown.line(f"Removing the protected label {label} of {name_of(agent)} (it points at v{here}).")
            shown.line(f"Anything that loads {label} of {name_of(agent)} will no longer find it.")
        confirm(ctx)
        allow = True
        if isinstance(given, _NoExpectation) and not args.yes:
            expected = {"expected": here}
    # Not set, a stale --expect, protected meanwhile: the service refuses and says why.
    result = ctx.service.remove_label(
        agent["id"], args.label, reason=args.message or "", allow_protected=allow, **expected
    )
    if ctx.json:
        ctx.out.json({**result, "name": agent["name"]})
        return 0
    was = result["from_version_number"]
    ctx.out.line(f"Removed {quoted_label(args.label)} of {name_of(agent)} (it pointed at v{was}).")
    return 0


# -- label list / history -----------------------------------------------------------------


def cmd_label_list(ctx: Context) -> int:
    agent = find_agent(ctx)
    labels = ctx.service.list_labels(agent["id"])
    if ctx.json:
        ctx.out.json(labels)
        return 0
    if not labels:
        ctx.out.line(f"{name_of(agent)} has no labels.")
        ref = shlex.quote(agent["name"]) if one_line(agent["name"]) == agent["name"] else agent["id"]
        ctx.out.line(f"Point one at a version with: {prog(ctx)} label set {ref} production VERSION")
        return 0
    rows = []
    for row in labels:
        version = ctx.service.find_version(agent["id"], row["version_id"])
        rows.append(
            [
                cell(row["label"]),
                f"v{row['version_number']}",
                ("protected", "yellow") if row["protected"] else "",
                cell(row["updated_at"]),
                cell(row["updated_by"], 24),
                cell(first_line(version.get("changelog")), 50),
            ]
        )
    ctx.out.line(ctx.out.style(f"{name_of(agent)}: {plural(len(labels), 'label')}", "bold"))
    ctx.out.lines(table(ctx.out, ["LABEL", "VERSION", "", "SINCE", "BY", "CHANGELOG"], rows))
    return 0


def describe_entry(entry: dict[str, Any]) -> str:
    """One ledger entry in a few words: ``moved v1 → v3``, ``set → v2``, ``removed (was v3)``."""
    if entry["action"] == "remove":
        return f"removed (was {where(entry['from_version'])})"
    if entry["action"] == "set":
        return f"set {ARROW} v{entry['to_version']}"
    return f"moved v{entry['from_version']} {ARROW} v{entry['to_version']}"


def cmd_label_history(ctx: Context) -> int:
    args = ctx.args
    if args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}")
    agent = find_agent(ctx)
    # One more than shown: to say whether there are older entries.
    entries = ctx.service.label_history(agent["id"], args.label, limit=args.limit + 1, before=args.before)
    more = len(entries) > args.limit
    entries = entries[: args.limit]
    if ctx.json:
        ctx.out.json(entries)
        return 0
    if not entries:
        of = f" of {quoted_label(args.label)}" if args.label else ""
        older = " before that one" if args.before else ""
        ctx.out.line(f"{name_of(agent)} has no ledger entries{of}{older}.")
        return 0
    rows = [
        [
            cell(entry["at"]),
            cell(entry["actor"], 24),
            cell(entry["label"]),
            describe_entry(entry),
            cell(entry["reason"], 50),
        ]
        for entry in entries
    ]
    ctx.out.lines(table(ctx.out, ["TIME", "BY", "LABEL", "CHANGE", "REASON"], rows))
    if more:
        command = ["label", "history", agent["id"], *([args.label] if args.label else [])]
        ctx.out.note(f"Older entries: {prog(ctx)} {shlex.join(command)} --before {entries[-1]['id']}")
    return 0


# -- protect / unprotect ------------------------------------------------------------------


def cmd_label_protect(ctx: Context) -> int:
    require_writable(ctx)
    result = ctx.service.protect_label(ctx.args.label)
    if ctx.json:
        ctx.out.json(result)
        return 0
    label = quoted_label(result["label"])
    if not result["changed"]:
        ctx.out.line(f"{label} was protected already; nothing changed.")
        return 0
    ctx.out.line(
        f"Protected {label} for every agent: moving or removing it now needs a confirmation "
        "(--yes in scripts) or, over HTTP, an admin token."
    )
    return 0


def cmd_label_unprotect(ctx: Context) -> int:
    require_writable(ctx)
    result = ctx.service.unprotect_label(ctx.args.label)
    if ctx.json:
        ctx.out.json(result)
        return 0
    label = quoted_label(result["label"])
    if not result["changed"]:
        ctx.out.line(f"{label} was not protected; nothing changed.")
        return 0
    ctx.out.line(f"Unprotected {label}: it moves like any label again.")
    return 0


def cmd_label_protected(ctx: Context) -> int:
    names = ctx.service.protected_labels()
    if ctx.json:
        ctx.out.json(names)
        return 0
    if not names:
        ctx.out.line(f"No label is protected. Protect one with: {prog(ctx)} label protect production")
        return 0
    rows = [[cell(row["label"]), cell(row["protected_at"]), cell(row["protected_by"], 24)] for row in names]
    ctx.out.lines(table(ctx.out, ["LABEL", "SINCE", "BY"], rows))
    return 0


# -- config -------------------------------------------------------------------------------


CONFIG_ROWS = (
    ("name", "name"),
    ("type", "agent_type"),
    ("model", "model_id"),
    ("temperature", "temperature"),
    ("max tokens", "max_tokens"),
    ("description", "description"),
    ("extra", "extra"),
)


def cmd_config(ctx: Context) -> int:
    """The config an agent loads: of a label (now or --at a time), of a version, or the live one."""
    args = ctx.args
    if args.label is not None and args.version is not None:
        raise UsageError("give --label or --version, not both")
    if args.at is not None and args.label is None:
        raise UsageError("--at asks the ledger where a label pointed: give --label too")
    found = ctx.service.resolve_config(args.agent, label=args.label, version=args.version, at=args.at)
    if ctx.json:
        ctx.out.json(found["config"])  # exactly the config object, in the snapshot's shape
        return 0
    ctx.out.lines(describe_config(ctx.out, found, args.at))
    return 0


def config_source(found: dict[str, Any], at: str | None) -> str:
    """Where a config comes from: ``production → v3``, ``production at TIME → v2``, ``v4``, ``the live config``."""
    if found["version_number"] is None:
        return "the live config"
    version = f"v{found['version_number']}"
    if found["label"] is None:
        return version
    when = f" at {one_line(at)}" if at is not None else ""
    return f"{one_line(found['label'])}{when} {ARROW} {version}"


def describe_config(out: Printer, found: dict[str, Any], at: str | None) -> list[str]:
    config = found["config"]
    title = f"{one_line(found['name'])}: {config_source(found, at)}"
    lines = [out.style(title, "bold")]
    for label, key in CONFIG_ROWS:
        if key not in config:
            continue
        value = config[key]
        if key == "max_tokens" and value == 0:
            value = "0 (no limit)"
        text = value if isinstance(value, str) else _json_text(value)
        lines.append(f"  {label:<12} {one_line(text)}".rstrip())
    if found["version_id"] is not None:
        lines.append(f"  {'version id':<12} {found['version_id']}")
    lines.append(f"  {'content hash':<12} {found['content_hash']}")
    prompt = config.get("system_prompt", "")
    lines.append("")
    if not prompt:
        lines.append(out.style("system prompt: (empty)", "bold"))
        return lines
    prompt_lines = prompt.removesuffix("\n").split("\n")
    lines.append(out.style(f"system prompt ({plural(len(prompt_lines), 'line')}):", "bold"))
    lines.extend(f"  {visible(line)}".rstrip() for line in prompt_lines)
    return lines


def _json_text(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


# -- the parsers ----------------------------------------------------------------------------


LABEL_DETAILS = """\
A label names one version of an agent (production, staging, canary-eu): lower-case letters, digits,
'-' and '_'. 'latest' always means the newest version and cannot be set. Every set, move and
removal is kept in a ledger (label history) with who, when and why. A protected label (label
protect NAME, for every agent) moves only after a confirmation: Proceed? [y/N] on a terminal,
--yes in scripts; over HTTP only with an admin token."""


def add_commands(commands: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """The ``label`` command with its actions, and ``config``; returns the parsers that take program options."""
    label = command_parser(
        commands,
        "label",
        "Name versions with labels (production, staging) and keep a ledger of their moves.",
        f"{PROG} label set 'Support Agent' production v3 --expect v2 -m 'better answers'",
        lambda ctx: 2,
        LABEL_DETAILS,
    )
    actions = label.add_subparsers(dest="label_command", metavar="ACTION", title="actions", required=True)

    set_ = command_parser(
        actions,
        "set",
        "Point a label at a version (create it or move it).",
        f"{PROG} label set 'Support Agent' production v3 --expect v2 -m 'better answers'",
        cmd_label_set,
        "--expect makes it compare-and-swap: if the label does not point at that version (none: if it is\n"
        "set at all), nothing moves and the error says where it points. A protected label shows what\n"
        "changes and asks first; without a terminal it needs --yes.",
    )
    add_agent_argument(set_)
    set_.add_argument("label", metavar="LABEL", help="the label's name (such as production)")
    set_.add_argument("version", metavar="VERSION", help=f"{VERSION_HELP} (label set A canary staging)")
    add_expect_option(set_, "move it only if it points at VERSION now ('none': only if it is not set yet)")
    set_.add_argument("-m", "--reason", "--message", dest="message", metavar="REASON", help="why: kept in the ledger")
    add_yes_flag(set_)
    add_json_flag(set_, "the label after it (version_number, version_id, from_version_number, moved...)")

    list_ = command_parser(
        actions, "list", "List an agent's labels and the versions they name.",
        f"{PROG} label list 'Support Agent' --json", cmd_label_list,
    )  # fmt: skip
    add_agent_argument(list_)
    add_json_flag(list_, "one object per label (label, version_number, version_id, updated_by, updated_at, protected)")

    remove = command_parser(
        actions,
        "remove",
        "Remove a label (the ledger keeps where it pointed).",
        f"{PROG} label remove 'Support Agent' canary -m 'canary over'",
        cmd_label_remove,
    )
    add_agent_argument(remove)
    remove.add_argument("label", metavar="LABEL")
    add_expect_option(remove, "remove it only if it points at VERSION now")
    remove.add_argument("-m", "--reason", "--message", dest="message", metavar="REASON", help="why: kept in the ledger")
    add_yes_flag(remove)
    add_json_flag(remove, "the label removed and the version it pointed at")

    history = command_parser(
        actions,
        "history",
        "Show the ledger of an agent's labels (of one label, if given), newest first.",
        f"{PROG} label history 'Support Agent' production",
        cmd_label_history,
    )
    add_agent_argument(history)
    history.add_argument("label", metavar="LABEL", nargs="?", help="only this label's entries")
    history.add_argument("--limit", metavar="N", type=whole_argument, default=50, help="how many entries (default: 50)")
    history.add_argument(
        "--before", metavar="ID", type=whole_argument, help="only entries older than this one (ids: --json)"
    )
    add_json_flag(history, "one object per entry (at, actor, label, action, from_version, to_version, reason...)")

    protect = command_parser(
        actions,
        "protect",
        "Protect a label name for every agent: moving it then needs a confirmation.",
        f"{PROG} label protect production",
        cmd_label_protect,
    )
    protect.add_argument("label", metavar="LABEL")
    add_json_flag(protect, "the label and whether this changed anything")

    unprotect = command_parser(
        actions, "unprotect", "Stop protecting a label name.", f"{PROG} label unprotect production",
        cmd_label_unprotect,
    )  # fmt: skip
    unprotect.add_argument("label", metavar="LABEL")
    add_json_flag(unprotect, "the label and whether this changed anything")

    protected = command_parser(
        actions, "protected", "List the protected label names.", f"{PROG} label protected", cmd_label_protected
    )
    add_json_flag(protected, "the protected labels (label, protected_by, protected_at)")

    config = command_parser(
        commands,
        "config",
        "Print the config an agent loads: of a label, of a version, or the live one.",
        f"{PROG} config 'Support Agent' --label production --json",
        cmd_config,
        "Without --label or --version, the live config. --label latest is the newest version.\n"
        "--at TIME asks the ledger where the label pointed then (2026-11-30, 2026-11-30T10:00:00Z;\n"
        "UTC unless an offset is given). --json prints exactly the config object, in the snapshot's shape.",
    )
    add_agent_argument(config)
    source = config.add_mutually_exclusive_group()
    source.add_argument("--label", metavar="LABEL", help="the version the label names (latest: the newest)")
    source.add_argument("--version", metavar="VERSION", help=f"a version: {VERSION_HELP}")
    config.add_argument("--at", metavar="TIME", help="with --label: where it pointed at that time (from the ledger)")
    add_json_flag(config, "the config object itself")
    return [set_, list_, remove, history, protect, unprotect, protected, config]


def add_expect_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--expect", metavar="VERSION|none", help=what)
