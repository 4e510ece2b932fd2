"""The command line, driven as a person or a script would drive it.

Most tests call ``kaizen_tui.cli.main(argv)`` in-process and read what it
printed; a few run the real program in a subprocess for what only a process
shows: exit codes, no traceback, Textual never imported, no terminal to ask on.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaizen_tui.cli import main
from kaizen_tui.cli import program as cli
from kaizen_tui.core.errors import InvalidValue
from kaizen_tui.core.schema import validate_fields
from kaizen_tui.service import AgentService
from tests.support import (
    Result,
    Runner,
    TtyStringIO,
    cli_runner,
    live_agent,
    rename_as_an_older_tool,
    write_raw_snapshot,
)

FIRST_PROMPT = "You are helpful.\nAnswer briefly."
SECOND_PROMPT = "You are helpful.\nAnswer briefly and politely.\nNever guess."
COMMANDS = [
    "agents",
    "create",
    "show",
    "set",
    "snapshot",
    "versions",
    "diff",
    "rollback",
    "delete-version",
    "prune",
    "delete-agent",
    "log",
]


@pytest.fixture
def kz(capsys: pytest.CaptureFixture[str], db_path: Path) -> Runner:
    """Run ``kaizen-tui --db <test database> ARGS...`` in-process."""
    return cli_runner(capsys, db_path)


@pytest.fixture
def support(kz: Runner, tmp_path: Path) -> str:
    """Support Agent with v1 (first prompt, 0.7) and v2 (second prompt, 0.3); returns its id."""
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(FIRST_PROMPT + "\n", encoding="utf-8")
    created = kz(
        "create",
        "--name",
        "Support Agent",
        "--model",
        "gpt-4",
        "--prompt-file",
        str(prompt_file),
        "--max-tokens",
        "2048",
        "--description",
        "Handles inquiries",
        "--json",
    )
    assert created.code == 0, created.err
    agent_id = json.loads(created.out)["id"]
    assert kz("snapshot", agent_id, "-m", "First version").code == 0
    assert kz("set", agent_id, "temperature=0.3", f"system_prompt={SECOND_PROMPT}").code == 0
    assert kz("snapshot", agent_id, "-m", "Politer answers\nand no guessing").code == 0
    return agent_id


@pytest.fixture
def kz_prog(db_path: Path) -> str:
    """How the commands the CLI suggests start under ``kz``: with the ``--db`` it was given."""
    return f"kaizen-tui --db {shlex.quote(str(db_path))}"


def assert_one_error_line(result: Result, *fragments: str) -> None:
    """A failure is one line on stderr, prefixed like argparse's, naming the problem."""
    assert result.code == 1, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("kaizen-tui: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.err


# -- help ------------------------------------------------------------------------


def test_help_lists_every_command_with_examples(kz: Runner) -> None:
    result = kz("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert f"  {command} " in result.out
    assert "examples:" in result.out and "KAIZEN_DB" in result.out and "KAIZEN_USER" in result.out


def test_help_says_where_a_postgresql_database_goes_and_the_exit_codes(kz: Runner) -> None:
    result = kz("--help")
    options = result.out.split("program options", 1)[1].split("commands:", 1)[0]
    assert "--db PATH|URL" in options and "postgresql://user@host:port/dbname" in options
    assert "KAIZEN_DB     database path, sqlite:/// URL or postgresql://user@host:port/dbname" in result.out
    codes = result.out.split("exit codes:", 1)[1].split("environment:", 1)[0]
    assert "2    wrong usage; also a confirmation needed with no terminal to ask on" in codes
    assert "confirmation_needed" in codes
    assert "postgresql://" in kz("agents", "--help").out, "each command's --db too"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(kz: Runner, command: str) -> None:
    result = kz(command, "--help")
    assert result.code == 0
    assert f"usage: kaizen-tui {command}" in result.out
    assert f"example:\n  kaizen-tui {command} " in result.out


def test_set_help_documents_reading_a_file(kz: Runner) -> None:
    assert "system_prompt=@FILE" in kz("set", "--help").out


def test_usage_errors_exit_2(kz: Runner) -> None:
    result = kz("diff")
    assert result.code == 2
    assert "required: AGENT, A" in result.err
    assert kz("no-such-command").code == 2
    assert kz("prune", "x", "--keep", "many").code == 2


# -- agents, create, show --------------------------------------------------------------


def test_agents_when_there_are_none(kz: Runner, db_path: Path, service: AgentService, kz_prog: str) -> None:
    result = kz("agents")
    assert result.code == 0
    assert f"No agents in {db_path}" in result.out
    assert f"{kz_prog} create --name NAME --model MODEL" in result.out
    assert json.loads(kz("agents", "--json").out) == []


def test_agents_table_marks_unsaved_changes(kz: Runner, support: str) -> None:
    kz("create", "--name", "Draft Bot", "--model", "gpt-4o-mini", "--type", "task")
    lines = kz("agents").out.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "STATUS", "VERSIONS", "MODEL", "ID"]
    assert lines[1].split()[:5] == ["Draft", "Bot", "task", "draft", "0*"]
    assert lines[2].split() == ["Support", "Agent", "chat", "draft", "2", "gpt-4", support]
    assert "* unsaved changes" in lines[-1]


def test_agents_json_is_the_service_list(kz: Runner, support: str, db_path: Path) -> None:
    agents = json.loads(kz("agents", "--json").out)
    assert [agent["id"] for agent in agents] == [support]
    assert agents[0] == live_agent(db_path, support)


def test_create_with_flags(kz: Runner, kz_prog: str) -> None:
    result = kz(
        "create",
        "--name",
        "Support Agent",
        "--model",
        "gpt-4",
        "--temperature",
        "0.2",
        "--max-tokens",
        "100",
        "--status",
        "active",
        "--type",
        "task",
        "--prompt",
        "Be brief.",
        "--extra",
        '{"top_p": 0.9}',
    )
    assert result.code == 0, result.err
    assert result.out.startswith("Created Support Agent (agt-")
    assert f"{kz_prog} snapshot 'Support Agent'" in result.out
    agent = json.loads(kz("show", "Support Agent", "--json").out)
    assert agent["temperature"] == 0.2 and agent["max_tokens"] == 100 and agent["status"] == "active"
    assert agent["agent_type"] == "task" and agent["system_prompt"] == "Be brief."
    assert agent["extra"] == {"top_p": 0.9} and agent["created_by"] == "tester"


def test_create_json_and_prompt_file_drops_one_final_newline(kz: Runner, tmp_path: Path) -> None:
    prompt = tmp_path / "p.txt"
    prompt.write_text("Line one.\nLine two.\n\n", encoding="utf-8")
    result = kz("create", "--name", "A", "--model", "m", "--prompt-file", str(prompt), "--json")
    agent = json.loads(result.out)
    assert agent["system_prompt"] == "Line one.\nLine two.\n"
    assert agent["version_count"] == 0 and agent["unsaved_changes"] is True


def test_create_needs_name_and_model(kz: Runner) -> None:
    result = kz("create", "--name", "Lonely")
    assert result.code == 2
    assert "create needs --model" in result.err


def test_create_from_yaml_with_a_block_text_prompt(kz: Runner, tmp_path: Path) -> None:
    agent_file = tmp_path / "agent.yaml"
    agent_file.write_text(
        "name: Research Agent\n"
        "model_id: claude-3\n"
        "agent_type: task\n"
        "temperature: 0.2\n"
        "system_prompt: |\n"
        "  You research things.\n"
        "  Cite sources.\n"
        "extra:\n"
        "  tools: [search, fetch]\n",
        encoding="utf-8",
    )
    result = kz("create", "-f", str(agent_file), "--json")
    assert result.code == 0, result.err
    agent = json.loads(result.out)
    assert agent["system_prompt"] == "You research things.\nCite sources.\n"
    assert agent["extra"] == {"tools": ["search", "fetch"]}
    assert agent["agent_type"] == "task" and agent["temperature"] == 0.2


def test_create_from_json_with_flags_on_top(kz: Runner, tmp_path: Path) -> None:
    agent_file = tmp_path / "agent.json"
    agent_file.write_text(json.dumps({"name": "From JSON", "model_id": "gpt-4", "max_tokens": 512}), encoding="utf-8")
    agent = json.loads(kz("create", "-f", str(agent_file), "--name", "Renamed", "--json").out)
    assert (agent["name"], agent["max_tokens"]) == ("Renamed", 512)


def test_create_from_show_json_makes_a_copy(kz: Runner, support: str, tmp_path: Path) -> None:
    shown = tmp_path / "support.json"
    shown.write_text(kz("show", support, "--json").out, encoding="utf-8")
    result = kz("create", "-f", str(shown), "--name", "Support Copy", "--json")
    assert result.code == 0, result.err
    assert "Ignoring id, revision, created_by" in result.err
    copy = json.loads(result.out)
    assert copy["id"] != support and copy["system_prompt"] == SECOND_PROMPT


@pytest.mark.parametrize(
    ("content", "suffix", "fragment"),
    [("[1, 2]", ".json", "must hold a JSON object"), ("name: [unclosed", ".yaml", "not valid YAML")],
)
def test_create_from_a_bad_file(kz: Runner, tmp_path: Path, content: str, suffix: str, fragment: str) -> None:
    agent_file = tmp_path / f"agent{suffix}"
    agent_file.write_text(content, encoding="utf-8")
    assert_one_error_line(kz("create", "-f", str(agent_file)), fragment)


def test_create_refuses_a_name_that_is_taken_ignoring_case(kz: Runner, support: str) -> None:
    result = kz("create", "--name", "SUPPORT agent", "--model", "gpt-4")
    assert_one_error_line(result, "already named 'SUPPORT agent' as 'Support Agent'", support)
    assert len(json.loads(kz("agents", "--json").out)) == 1
    other = json.loads(kz("create", "--name", "Other", "--model", "m", "--json").out)
    assert_one_error_line(kz("set", other["id"], "name=support AGENT"), "already named", support)


def test_show_prints_fields_and_the_whole_prompt_as_block_text(kz: Runner, support: str) -> None:
    kz("set", support, "temperature=0.5")
    out = kz("show", "Support Agent").out
    assert out.startswith("Support Agent\n")
    assert f"  id           {support}\n" in out
    assert "  temperature  0.5\n" in out
    assert "  max tokens   2048\n" in out
    assert "  description  Handles inquiries\n" in out
    assert "  versions     2 (latest v2), unsaved changes" in out
    assert out.endswith(
        "system prompt (3 lines):\n  You are helpful.\n  Answer briefly and politely.\n  Never guess.\n"
    )


def test_show_json_is_the_agent(kz: Runner, support: str, db_path: Path) -> None:
    assert json.loads(kz("show", support, "--json").out) == live_agent(db_path, support)


# -- naming agents and versions ---------------------------------------------------


def test_agents_by_id_or_name_and_versions_by_number_or_id(kz: Runner, support: str) -> None:
    versions = json.loads(kz("versions", "Support Agent", "--json").out)
    v1_id = versions[-1]["id"]
    outputs = {
        kz("diff", agent, ref, "v2").out for agent in (support, "Support Agent") for ref in ("1", "v1", "V1", v1_id)
    }
    assert len(outputs) == 1
    assert "Support Agent: v1 -> v2" in outputs.pop()


def test_names_that_clash_in_an_old_file_are_named_and_an_ambiguous_name_asks_for_an_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old = tmp_path / "old.db"
    shutil.copy(Path(__file__).parent.parent / "data" / "schema1.db", old)
    kz = cli_runner(capsys, old)
    listed = kz("agents")
    assert listed.code == 0
    assert "warning: these agents' names clash (ignoring case): Bot (" in listed.err and "bot (" in listed.err
    assert_one_error_line(kz("show", "BOT"), "2 agents are named 'BOT'; use an id")
    assert kz("show", "bot").code == 0, "the exact name still names one"


def test_missing_agent_and_version_are_one_line_errors(kz: Runner, support: str) -> None:
    assert_one_error_line(kz("show", "Nobody"), "No agent 'Nobody'.")
    assert_one_error_line(kz("diff", support, "v9"), "No version v9 of Support Agent.")
    assert_one_error_line(
        kz("rollback", support, "ver-nope", "--yes"), "'ver-nope' is neither a version nor a label of Support Agent"
    )


def test_numbers_of_any_length_are_one_line_each(kz: Runner, support: str, tmp_path: Path) -> None:
    """Past Python's 4,300 digits or 64 bits: a clear line (exit 1, or 2 for an option), never a traceback."""
    huge = "9" * 4400
    short = "99999999999…99999999999 (4,400 characters)"
    for argv in (
        ("diff", support, f"v{huge}"),
        ("rollback", support, huge, "--yes"),
        ("delete-version", support, huge),
    ):
        assert_one_error_line(kz(*argv), f"No version v{short} of Support Agent.")
    assert_one_error_line(kz("set", support, f"max_tokens={huge}"), "got '99999999999…99999999999' (4,400 characters)")
    for argv in (
        ("log", "--limit", huge),
        ("log", "--before", str(2**64)),
        ("prune", support, "--keep", huge),
        ("versions", support, "--limit", huge),
    ):
        result = kz(*argv)
        assert result.code == 2 and "is too large (at most 9,223,372,036,854,775,807)" in result.err, result
        assert "Traceback" not in result.err and len(result.err.splitlines()[-1]) < 200
    assert kz("log", "--limit", str(2**63 - 1), "--before", str(2**63 - 1)).code == 0, "the largest bound is all"
    agent_file = tmp_path / "agent.yaml"
    agent_file.write_text(f"name: Big\nmodel_id: m\nmax_tokens: {huge}\n", encoding="utf-8")
    assert_one_error_line(kz("create", "-f", str(agent_file)), "line 3: a number of 4,400 digits")


def test_every_whole_number_option_is_read_by_the_bounded_reader() -> None:
    """``type=int`` would turn 4,400 digits into a traceback: every option goes through whole_argument."""

    def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    yield from parsers(child)

    plain_ints = [
        f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
        for parser in parsers(cli.build_parser())
        for action in parser._actions
        if action.type is int
    ]
    assert plain_ints == []


def test_a_name_with_a_slash_or_a_control_character_is_refused_in_one_line(kz: Runner, support: str) -> None:
    assert_one_error_line(kz("create", "--name", "../x", "--model", "m"), "name: must not contain '/'")
    assert_one_error_line(kz("set", support, "name=two\nlines"), "name: must not contain control characters (U+000A")


def test_a_version_of_another_agent_is_refused(kz: Runner, support: str) -> None:
    other = json.loads(kz("create", "--name", "Other", "--model", "m", "--json").out)["id"]
    other_version = json.loads(kz("snapshot", other, "--json").out)["id"]
    assert_one_error_line(kz("rollback", support, other_version, "--yes"), "does not belong to agent")


# -- set, snapshot ----------------------------------------------------------------


def test_set_parses_each_field(kz: Runner, support: str, tmp_path: Path, db_path: Path, kz_prog: str) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("From a file.\n", encoding="utf-8")
    result = kz(
        "set",
        "Support Agent",
        "temperature=1.25",
        "max_tokens=4096",
        'extra={"tools": ["search"]}',
        f"system_prompt=@{prompt}",
        "description=",
        "model=gpt-4o",
        "type=task",
        "status=active",
    )
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == (
        "Updated Support Agent: temperature, max_tokens, extra, system_prompt, description, model_id, agent_type,"
        " status."
    )
    assert f"{kz_prog} snapshot 'Support Agent'" in result.out
    agent = live_agent(db_path, support)
    assert (agent["temperature"], agent["max_tokens"], agent["extra"]) == (1.25, 4096, {"tools": ["search"]})
    assert (agent["system_prompt"], agent["description"]) == ("From a file.", "")
    assert (agent["model_id"], agent["agent_type"], agent["status"]) == ("gpt-4o", "task", "active")


def test_set_a_prompt_starting_with_at(kz: Runner, support: str, db_path: Path) -> None:
    kz("set", support, "prompt=@@channel: be brief")
    assert live_agent(db_path, support)["system_prompt"] == "@channel: be brief"


def test_set_reads_a_prompt_from_stdin(
    kz: Runner, support: str, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Piped in.\nTwo lines.\n"))
    assert kz("set", support, "system_prompt=@-").code == 0
    assert live_agent(db_path, support)["system_prompt"] == "Piped in.\nTwo lines."


def test_after_a_rename_the_suggested_snapshot_names_the_agent_by_its_new_name(
    kz: Runner, support: str, kz_prog: str
) -> None:
    result = kz("set", "support agent", "name=Help Desk")
    assert result.code == 0
    assert f"{kz_prog} snapshot 'Help Desk' -m" in result.out
    assert kz("snapshot", "Help Desk", "-m", "renamed").code == 0


def test_the_suggested_snapshot_keeps_the_name_the_user_typed(kz: Runner, support: str, kz_prog: str) -> None:
    assert f"{kz_prog} snapshot 'support agent' -m" in kz("set", "support agent", "temperature=0.5").out
    assert f"{kz_prog} snapshot {support} -m" in kz("set", support, "temperature=0.6").out


def test_set_to_the_same_value_changes_nothing(kz: Runner, support: str) -> None:
    result = kz("set", support, "temperature=0.30")
    assert result.code == 0
    assert result.out == "No change: Support Agent already has that value.\n"


@pytest.mark.parametrize(
    ("assignment", "fragments"),
    [
        ("temperature=3", ["temperature: must be from 0.0 to 2.0"]),
        ("temperature=warm", ["temperature: must be a number", "'warm'"]),
        ("max_tokens=-1", ["max_tokens:", "-1"]),
        ("max_tokens=1.5", ["max_tokens: must be a whole number", "'1.5'"]),
        ("colour=red", ["colour: unknown field; the fields are name,"]),
        ("extra={bad", ["extra: is not valid JSON"]),
        ("extra=[1]", ["extra: must be a JSON object", "got a list"]),
        ("agent_type=robot", ["agent_type: must be one of chat, task, pipeline, custom"]),
        ("name=", ["name: must not be empty"]),
        ("system_prompt=@/no/such/file.txt", ["system_prompt: cannot read /no/such/file.txt"]),
    ],
)
def test_set_refuses_bad_values_naming_the_field(
    kz: Runner, support: str, db_path: Path, assignment: str, fragments: list[str]
) -> None:
    before = live_agent(db_path, support)
    assert_one_error_line(kz("set", support, "description=changed", assignment), *fragments)
    assert live_agent(db_path, support) == before, "nothing is changed when one value is bad"


@pytest.mark.parametrize(("field", "value", "shown"), [("temperature", 5, "got 5"), ("max_tokens", -3, "got -3")])
def test_a_whole_number_reads_the_same_typed_as_5_or_5_0(
    kz: Runner, support: str, field: str, value: int, shown: str
) -> None:
    messages = set()
    for typed in (value, float(value)):
        with pytest.raises(InvalidValue) as raised:
            validate_fields({field: typed})
        messages.add(str(raised.value))
    result = kz("set", support, f"{field}={value}")
    messages.add(result.err.removeprefix("kaizen-tui: error: ").rstrip("\n"))
    assert len(messages) == 1, messages
    assert messages.pop().endswith(shown)
    with pytest.raises(InvalidValue, match=r"got 2\.5$"):
        validate_fields({"temperature": 2.5})


def test_set_without_equals_is_a_usage_error(kz: Runner, support: str) -> None:
    result = kz("set", support, "temperature")
    assert result.code == 2
    assert "expected FIELD=VALUE, got 'temperature'" in result.err


def test_set_snapshot_first_saves_then_updates(kz: Runner, support: str) -> None:
    kz("set", support, "temperature=0.5")
    result = kz("set", support, "temperature=0.9", "--snapshot-first", "before tuning")
    assert result.code == 0, result.err
    assert result.out.splitlines()[:2] == [
        "Saved v3 of Support Agent first (before tuning).",
        "Updated Support Agent: temperature.",
    ]
    newest = json.loads(kz("versions", support, "--json").out)[0]
    assert newest["changelog"] == "before tuning", "the reason as typed"
    assert json.loads(newest["config_snapshot"])["temperature"] == 0.5


def test_set_snapshot_first_saves_nothing_when_a_version_holds_the_live_config(kz: Runner, support: str) -> None:
    kz("set", support, "temperature=0.7")
    kz("snapshot", support, "-m", "warm")  # v3 holds 0.7, as v1 did not (its prompt differs)
    result = kz("set", support, "temperature=0.9", "--snapshot-first", "before tuning")
    assert result.code == 0, result.err
    assert result.out.splitlines()[:2] == [
        "Nothing saved first: v3 holds the live config already.",
        "Updated Support Agent: temperature.",
    ]
    assert [entry["changelog"] for entry in json.loads(kz("versions", support, "--json").out)][:2] == [
        "warm",
        "Politer answers\nand no guessing",
    ], "nothing saved twice"


def test_set_json_prints_the_updated_agent(kz: Runner, support: str) -> None:
    assert json.loads(kz("set", support, "temperature=0.4", "--json").out)["temperature"] == 0.4


def test_snapshot_human_and_json(kz: Runner, support: str) -> None:
    assert kz("snapshot", support).out == "Saved v3 of Support Agent, the same config as v2.\n"
    kz("set", support, "temperature=1")
    version = json.loads(kz("snapshot", support, "-m", "Warmer", "--json").out)
    assert set(version) == {
        "created",
        "id",
        "agent_id",
        "version_number",
        "config_snapshot",
        "changelog",
        "created_by",
        "created_at",
    }
    assert (version["version_number"], version["changelog"], version["created_by"]) == (4, "Warmer", "tester")


# -- versions, diff ----------------------------------------------------------------


def test_versions_table_is_newest_first_with_markers(kz: Runner, support: str, db_path: Path) -> None:
    write_raw_snapshot(db_path, (support, 1), "{not json")
    lines = kz("versions", "Support Agent").out.splitlines()
    assert lines[0] == "Support Agent: 2 versions"
    assert lines[1].split() == ["VERSION", "CREATED", "BY", "CHANGELOG"]
    assert lines[2].split()[0] == "v2" and lines[2].split()[2] == "tester"
    assert lines[2].endswith("Politer answers  = live"), "first changelog line, then the marker"
    assert lines[3].startswith("v1") and "First version" in lines[3] and "damaged: not valid JSON" in lines[3]


def test_versions_json_keeps_the_spec_keys_and_adds_the_decoded_config(kz: Runner, support: str, db_path: Path) -> None:
    service = AgentService(str(db_path))
    try:
        expected = service.get_versions(support)
    finally:
        service.close()
    versions = json.loads(kz("versions", support, "--json").out)
    added = ("config", "damaged", "damaged_reason", "matches_live", "labels")
    assert [{key: v for key, v in version.items() if key not in added} for version in versions] == expected
    assert [version["version_number"] for version in versions] == [2, 1]
    v2, v1 = versions
    assert isinstance(v2["config_snapshot"], str), "the stored text, as the spec has it"
    assert v2["config"] == {**json.loads(v2["config_snapshot"]), "extra": {}}, "every field, extra's default too"
    assert (v2["damaged"], v2["damaged_reason"], v2["matches_live"]) == (False, None, True)
    assert (v1["config"]["temperature"], v1["matches_live"]) == (0.7, False)


def test_versions_json_reads_old_snapshots_with_defaults_and_marks_damaged_ones(
    kz: Runner, support: str, db_path: Path
) -> None:
    # v2 as an older kaizen-tui wrote it: no max_tokens, no extra; v1 is not JSON.
    old = json.loads(json.loads(kz("versions", support, "--json").out)[0]["config_snapshot"])
    del old["max_tokens"]
    write_raw_snapshot(db_path, (support, 2), json.dumps(old))
    write_raw_snapshot(db_path, (support, 1), "{not json")
    v2, v1 = json.loads(kz("versions", support, "--json").out)
    assert v2["config"]["max_tokens"] == 0 and v2["config"]["extra"] == {} and v2["damaged"] is False
    assert v2["matches_live"] is False, "the live config has max_tokens 2048"
    assert (v1["config"], v1["damaged"], v1["matches_live"]) == (None, True, False)
    assert v1["damaged_reason"].startswith("not valid JSON") and v1["config_snapshot"] == "{not json"
    kz("set", support, "max_tokens=0")
    assert json.loads(kz("versions", support, "--json").out)[0]["matches_live"] is True


def test_versions_of_an_agent_without_any(kz: Runner) -> None:
    kz("create", "--name", "New", "--model", "m")
    result = kz("versions", "New")
    assert result.out.startswith("New has no versions yet.")
    assert json.loads(kz("versions", "New", "--json").out) == []


def test_diff_prints_a_field_table_then_the_text_diff(kz: Runner, support: str) -> None:
    result = kz("diff", "Support Agent", "v1", "v2")
    assert result.code == 0 and result.err == ""
    assert result.out == (
        "Support Agent: v1 -> v2\n"
        "FIELD          V1               V2\n"
        "system_prompt  (text, 2 lines)  (text, 3 lines)\n"
        "temperature    0.7              0.3\n"
        "\n"
        "system_prompt:\n"
        "--- v1\n"
        "+++ v2\n"
        "@@ -1,2 +1,3 @@\n"
        " You are helpful.\n"
        "-Answer briefly.\n"
        "+Answer briefly and politely.\n"
        "+Never guess.\n"
    )


def test_diff_against_live_by_default_and_by_word(kz: Runner, support: str) -> None:
    kz("set", support, "max_tokens=0")
    default = kz("diff", support, "v2")
    assert default.out == kz("diff", support, "v2", "live").out
    assert default.out.splitlines()[:3] == [
        "Support Agent: v2 -> live",
        "FIELD       V2    LIVE",
        "max_tokens  2048  0",
    ]
    backwards = kz("diff", support, "live", "v2").out.splitlines()
    assert backwards[:3] == ["Support Agent: live -> v2", "FIELD       LIVE  V2", "max_tokens  0     2048"]
    assert kz("diff", support, "live").code == 2


def test_diff_identical(kz: Runner, support: str) -> None:
    assert kz("diff", support, "v2").out == "Support Agent: v2 and live are identical.\n"
    comparison = json.loads(kz("diff", support, "v2", "--json").out)
    assert comparison["identical"] is True and comparison["changes"] == []


def test_diff_json_is_the_comparison(kz: Runner, support: str) -> None:
    comparison = json.loads(kz("diff", support, "1", "2", "--json").out)
    assert (comparison["from"]["label"], comparison["to"]["label"]) == ("v1", "v2")
    assert [change["path"] for change in comparison["changes"]] == ["system_prompt", "temperature"]
    assert comparison["text_diffs"][0]["unified"].startswith("--- v1\n+++ v2\n")


def test_diff_shows_changes_inside_extra_and_quotes_empty_text(kz: Runner, support: str) -> None:
    kz("set", support, 'extra={"tools": ["search"]}')
    kz("snapshot", support)
    kz("set", support, 'extra={"tools": ["search", {"name": "fetch"}], "top_p": 0.9}', "description=")
    lines = kz("diff", support, "v3").out.splitlines()
    assert lines[2].split() == ["description", "Handles", "inquiries", '""']
    assert lines[3].split() == ["extra.tools[1]", "(absent)", '{"name":', '"fetch"}']
    assert lines[4].split() == ["extra.top_p", "(absent)", "0.9"]


def test_diff_of_a_damaged_version_warns_on_stderr(kz: Runner, support: str, db_path: Path) -> None:
    write_raw_snapshot(db_path, (support, 1), json.dumps({"name": "Support Agent", "temperature": "hot"}))
    result = kz("diff", support, "v1", "v2")
    assert result.code == 0
    assert result.err.startswith("kaizen-tui: warning: v1: snapshot is damaged (")
    assert "temperature" in result.out


def test_diff_in_colour_on_a_terminal_marks_changed_words(
    kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = TtyStringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert kz("diff", support, "v1", "v2").code == 0
    out = terminal.getvalue()
    assert "\x1b[31m-Answer briefly" in out
    assert "\x1b[32m+Answer briefly\x1b[7m and politely\x1b[27m" in out

    monkeypatch.setenv("NO_COLOR", "1")
    plain = TtyStringIO()
    monkeypatch.setattr(sys, "stdout", plain)
    kz("diff", support, "v1", "v2")
    assert "\x1b" not in plain.getvalue()


def test_no_colour_when_not_a_terminal(kz: Runner, support: str) -> None:
    assert "\x1b" not in kz("diff", support, "v1", "v2").out + kz("versions", support).out


# -- rollback, delete-version, prune --------------------------------------------------


def test_rollback_shows_the_change_and_saves_unsaved_changes_first(kz: Runner, support: str, db_path: Path) -> None:
    kz("set", support, "temperature=1.5")
    result = kz("rollback", "Support Agent", "v1", "--yes")
    assert result.code == 0, result.err
    assert result.out.startswith("Rolling back Support Agent to v1:\nVERSION  CREATED")
    assert "\nv1       20" in result.out and "tester  First version\n" in result.out
    assert "Support Agent: live -> v1" in result.out
    assert "temperature    1.5              0.7" in result.out
    assert "-Answer briefly and politely." in result.out
    assert "unsaved changes: they are saved as a new version first" in result.out
    assert result.out.endswith("Rolled back Support Agent to v1 (unsaved changes saved as v3).\n")
    agent = live_agent(db_path, support)
    assert (agent["temperature"], agent["system_prompt"]) == (0.7, FIRST_PROMPT)
    saved = json.loads(kz("versions", support, "--json").out)[0]
    assert (saved["version_number"], saved["changelog"]) == (3, "Auto: before rollback to v1")


def test_rollback_without_unsaved_changes_saves_nothing(kz: Runner, support: str) -> None:
    result = kz("rollback", support, "1", "--yes")
    assert "unsaved" not in result.out
    assert result.out.endswith("Rolled back Support Agent to v1.\n")
    assert kz("rollback", support, "1", "--yes").out == "Support Agent already has the config of v1; nothing to do.\n"


def test_destructive_commands_need_yes_without_a_terminal(kz: Runner, support: str, db_path: Path) -> None:
    before = live_agent(db_path, support)
    for argv in (("rollback", support, "v1"), ("delete-version", support, "v1"), ("prune", support, "--keep", "1")):
        result = kz(*argv)
        assert result.code == 2, argv
        assert result.out == "", "refused before any preview"
        assert f"{argv[0]} asks for confirmation, but stdin is not a terminal; pass --yes" in result.err
        refused = kz(*argv, "--json")
        assert refused.code == 2 and json.loads(refused.err)["error"]["code"] == "confirmation_needed"
    assert live_agent(db_path, support) == before
    assert len(json.loads(kz("versions", support, "--json").out)) == 2


@pytest.mark.parametrize(
    ("answer", "rolled_back"), [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False), ("", False)]
)
def test_rollback_asks_on_a_terminal(
    kz: Runner, support: str, db_path: Path, monkeypatch: pytest.MonkeyPatch, answer: str, rolled_back: bool
) -> None:
    monkeypatch.setattr(sys, "stdin", TtyStringIO(answer))
    result = kz("rollback", support, "v1")
    assert "Proceed? [y/N] " in result.out
    assert (result.code == 0) is rolled_back
    assert (live_agent(db_path, support)["temperature"] == 0.7) is rolled_back
    if not rolled_back:
        assert "Cancelled; nothing was changed." in result.err


def test_a_label_is_a_version_in_diff_and_rollback(kz: Runner, support: str, db_path: Path) -> None:
    kz("label", "set", support, "production", "v1")
    kz("label", "set", support, "staging", "production", "-m", "where production is")
    diff = kz("diff", support, "production", "latest")
    assert diff.code == 0 and diff.out.startswith("Support Agent: v1 -> v2\n")
    assert kz("diff", support, "staging", "production").out == "Support Agent: v1 and v1 are identical.\n"
    result = kz("rollback", support, "production", "--yes")
    assert result.out.startswith("Rolling back Support Agent to v1 (production):\n")
    assert result.out.endswith("Rolled back Support Agent to v1 (production).\n")
    assert live_agent(db_path, support)["temperature"] == 0.7
    assert_one_error_line(
        kz("rollback", support, "prodution", "--yes"),
        "'prodution' is neither a version nor a label of Support Agent (its labels: production, staging).",
    )


class MovesProductionThenSaysYes(TtyStringIO):
    """A terminal where, while the person reads the preview, someone moves production to v2; then: yes."""

    def __init__(self, db_path: Path | str) -> None:
        super().__init__("y\n")
        self.db_path = db_path

    def readline(self, *args: object) -> str:
        colleague = AgentService(str(self.db_path), user="colleague")
        try:
            colleague.set_label("Support Agent", "production", "v2")
        finally:
            colleague.close()
        return super().readline()


def test_a_rollback_to_a_label_does_the_version_it_showed(
    kz: Runner, support: str, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kz("label", "set", support, "production", "v1")
    kz("set", support, "max_tokens=100")
    monkeypatch.setattr(sys, "stdin", MovesProductionThenSaysYes(db_path))
    result = kz("rollback", support, "production")
    assert result.code == 0, result.err
    assert "Rolling back Support Agent to v1 (production):" in result.out
    assert result.out.endswith("Rolled back Support Agent to v1 (production) (unsaved changes saved as v3).\n")
    agent = live_agent(db_path, support)
    assert (agent["temperature"], agent["max_tokens"]) == (0.7, 2048), "v1, as shown; not v2, where it points now"


def test_rollback_to_a_damaged_version_is_refused(kz: Runner, support: str, db_path: Path) -> None:
    write_raw_snapshot(db_path, (support, 1), "{not json")
    assert_one_error_line(kz("rollback", support, "v1", "--yes"), "The snapshot of v1 is damaged: not valid JSON")


def test_versions_page_back_with_limit_and_before(kz: Runner, support: str, kz_prog: str) -> None:
    for temperature in ("0.4", "0.5", "0.6"):
        kz("set", support, f"temperature={temperature}")
        kz("snapshot", support, "-m", f"at {temperature}")
    kz("label", "set", support, "production", "v4")
    first = kz("versions", "Support Agent", "--limit", "2")
    assert first.code == 0
    assert first.out.splitlines()[0] == "Support Agent: 5 versions, showing v5 to v4"
    assert [line.split()[0] for line in first.out.splitlines()[2:]] == ["v5", "v4"]
    assert first.err == f"Older versions: {kz_prog} versions 'Support Agent' --limit 2 --before v4\n"
    second = kz("versions", "Support Agent", "--limit", "2", "--before", "production")
    assert [line.split()[0] for line in second.out.splitlines()[2:]] == ["v3", "v2"]
    assert "--before v2" in second.err
    last = kz("versions", "Support Agent", "--limit", "2", "--before", "v2")
    assert [line.split()[0] for line in last.out.splitlines()[2:]] == ["v1"]
    assert last.err == "", "no older page"
    assert kz("versions", support, "--before", "v1").out == "Support Agent has no versions older than v1.\n"
    page = json.loads(kz("versions", support, "--limit", "1", "--before", "latest", "--json").out)
    assert [entry["version_number"] for entry in page] == [4]
    assert kz("versions", support, "--limit", "0").code == 2
    assert_one_error_line(kz("versions", support, "--before", "nope"), "'nope' is neither a version nor a label")


def test_snapshot_if_changed(kz: Runner, support: str) -> None:
    same = kz("snapshot", support, "--if-changed", "-m", "again")
    assert (same.code, same.out) == (0, "Nothing to save: v2 of Support Agent holds the live config already.\n")
    found = json.loads(kz("snapshot", support, "--if-changed", "--json").out)
    assert (found["created"], found["version_number"], found["changelog"]) == (
        False,
        2,
        "Politer answers\nand no guessing",
    )
    kz("set", support, "temperature=1")
    made = json.loads(kz("snapshot", support, "--if-changed", "-m", "Warmer", "--json").out)
    assert (made["created"], made["version_number"], made["changelog"]) == (True, 3, "Warmer")
    assert [v["version_number"] for v in json.loads(kz("versions", support, "--json").out)] == [3, 2, 1]


def test_delete_version(kz: Runner, support: str) -> None:
    result = kz("delete-version", support, "v2", "--yes")
    assert result.code == 0
    assert result.out.startswith("Deleting v2 of Support Agent:\nVERSION  CREATED")
    assert "tester  Politer answers\n" in result.out and "newest version" in result.out
    assert result.out.endswith("Deleted v2 of Support Agent.\n")
    assert [v["version_number"] for v in json.loads(kz("versions", support, "--json").out)] == [1]
    assert json.loads(kz("snapshot", support, "--json").out)["version_number"] == 3, "numbers are never reused"


def test_prune_previews_then_deletes(kz: Runner, support: str) -> None:
    for _ in range(3):
        kz("snapshot", support)
    result = kz("prune", support, "--keep", "2", "--yes")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == "Pruning Support Agent keeps the 2 newest versions and deletes these 3 versions:"
    assert [line.split()[0] for line in lines[2:5]] == ["v3", "v2", "v1"]
    assert lines[-1] == "Deleted 3 versions of Support Agent; kept the 2 newest."
    assert [v["version_number"] for v in json.loads(kz("versions", support, "--json").out)] == [5, 4]
    nothing = kz("prune", support, "--keep", "5")
    assert nothing.out == "Nothing to prune: Support Agent has 2 versions, and --keep 5 keeps them all.\n"


def test_prune_warns_when_it_deletes_the_version_the_live_config_equals(kz: Runner, support: str) -> None:
    assert kz("rollback", support, "v1", "--yes").code == 0
    result = kz("prune", support, "--keep", "1", "--yes")
    assert result.code == 0
    assert "Note: the live config equals v1, which this deletes" in result.out
    assert f"snapshot {support}" in result.out, "the hint names the agent as the user did"
    assert json.loads(kz("show", support, "--json").out)["unsaved_changes"] is True


@pytest.mark.parametrize("keep", ["0", "-3"])
def test_prune_keep_below_one_is_refused(kz: Runner, support: str, keep: str) -> None:
    assert_one_error_line(kz("prune", support, "--keep", keep, "--yes"), "keep must be a whole number of at least 1")


# -- options, environment, data safety --------------------------------------------------


@pytest.mark.both_backends  # each backend opens read-only its own way
def test_read_only_refuses_every_change(kz: Runner, support: str, db_path: Path) -> None:
    before = live_agent(db_path, support)
    for argv in (
        ("set", support, "temperature=1"),
        ("snapshot", support),
        ("create", "--name", "X", "--model", "m"),
        ("rollback", support, "v1", "--yes"),
        ("delete-version", support, "v1"),
        ("prune", support, "--keep", "1"),
    ):
        result = kz("--read-only", *argv)
        assert_one_error_line(result, "Cannot change anything: the database is open read-only")
        assert result.out == "", argv
    assert live_agent(db_path, support) == before
    assert kz("--read-only", "versions", support).code == 0


def test_program_options_also_work_after_the_command(kz: Runner, support: str, tmp_path: Path) -> None:
    result = kz("set", support, "temperature=1", "--read-only")
    assert_one_error_line(result, "read-only")
    other = tmp_path / "other.db"
    assert main(["create", "--name", "Elsewhere", "--model", "m", "--db", str(other), "--json"]) == 0
    assert other.exists()


def test_kaizen_db_and_kaizen_user_are_honoured(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("KAIZEN_DB", str(db))
    monkeypatch.setenv("KAIZEN_USER", "alice")
    assert main(["create", "--name", "Env", "--model", "m"]) == 0
    assert main(["snapshot", "Env"]) == 0
    assert main(["--user", "bob", "snapshot", "Env"]) == 0
    capsys.readouterr()
    assert main(["versions", "Env", "--json"]) == 0
    versions = json.loads(capsys.readouterr().out)
    assert [version["created_by"] for version in versions] == ["bob", "alice"]
    assert db.exists()


def test_db_accepts_a_sqlalchemy_url(
    kz: Runner, support: str, db_path: Path, capsys: pytest.CaptureFixture[str], backend: str
) -> None:
    """sqlite:///path, and postgresql+psycopg://… as SQLAlchemy writes a PostgreSQL URL."""
    url = f"sqlite:///{db_path}" if backend == "sqlite" else str(db_path).replace("postgresql:", "postgresql+psycopg:")
    assert main(["--db", url, "agents", "--json"]) == 0
    assert [agent["id"] for agent in json.loads(capsys.readouterr().out)] == [support]


def test_default_database_is_the_per_user_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    default = tmp_path / "xdg-data" / "kaizen-tui" / "kaizen.db"
    assert main(["agents"]) == 1, "a read never creates the database, not even the default one"
    assert f"No database at {default}" in capsys.readouterr().err
    assert not default.parent.exists()
    assert main(["create", "--name", "First", "--model", "m"]) == 0
    assert default.exists()
    capsys.readouterr()
    assert main(["agents", "--json"]) == 0
    assert [agent["name"] for agent in json.loads(capsys.readouterr().out)] == ["First"]


MARKUP_AND_ESCAPES = (
    "Use [bold]markup[/bold] and [red]colour[/].\n\x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J\r\tTab \u202eevil"
)


def test_markup_and_escape_sequences_round_trip_exactly_in_json(kz: Runner, support: str) -> None:
    kz("set", support, f"system_prompt={MARKUP_AND_ESCAPES}", f"description={MARKUP_AND_ESCAPES}")
    shown = kz("show", support, "--json").out
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown, "escaped in the JSON text"
    agent = json.loads(shown)
    assert agent["system_prompt"] == MARKUP_AND_ESCAPES and agent["description"] == MARKUP_AND_ESCAPES
    kz("snapshot", support)
    version = json.loads(kz("versions", support, "--json").out)[0]
    assert json.loads(version["config_snapshot"])["system_prompt"] == MARKUP_AND_ESCAPES


def test_human_output_shows_control_characters_instead_of_obeying_them(
    kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kz("set", support, f"system_prompt={MARKUP_AND_ESCAPES}", f"description={MARKUP_AND_ESCAPES}")
    kz("snapshot", support, "-m", "\x1b[2Jcleared")
    terminal = TtyStringIO()
    monkeypatch.setattr(sys, "stdout", terminal)
    for argv in (("show", support), ("versions", support), ("diff", support, "v2"), ("agents",)):
        kz(*argv)
    out = terminal.getvalue()
    for raw in ("\x1b]", "\x1b[31mred", "\x1b[2J", "\x9b", "\x07", "\r", "\u202e"):
        assert raw not in out
    assert "[bold]markup[/bold]" in out
    assert "  \\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 \\x9b2J\\r\tTab \\u202eevil\n" in out, "prompt lines keep tabs"
    assert "\\x1b[2Jcleared" in out


def test_errors_never_print_raw_control_characters(kz: Runner, service: AgentService) -> None:
    result = kz("show", "evil\x1b[2Jname")
    assert_one_error_line(result)
    assert "\x1b" not in result.err and "\\x1b[2J" in result.err


def test_demo_option_fills_the_given_database(kz: Runner) -> None:
    result = kz("--demo", "agents", "--json")
    assert result.code == 0, result.err
    assert len(json.loads(result.out)) >= 5
    assert json.loads(kz("agents", "--json").out) == json.loads(result.out), "the demo fills the given --db"


def test_demo_option_never_fills_the_kaizen_db_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real.db"
    AgentService(str(real)).close()
    monkeypatch.setenv("KAIZEN_DB", str(real))
    assert main(["agents", "--json"]) == 0
    assert main(["--demo", "agents", "--json"]) == 0
    capsys.readouterr()
    assert main(["agents", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [], "$KAIZEN_DB stays empty"
    assert (tmp_path / "xdg-data" / "kaizen-tui" / "demo.db").exists()


# -- the TUI entry and the last line of defence ----------------------------------------


def test_no_command_without_a_terminal_explains_itself(kz: Runner) -> None:
    result = kz()
    assert result.code == 2
    assert "opens the TUI, which needs a terminal" in result.err


def test_no_command_opens_the_tui_with_the_service(
    kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch, db_path: Path
) -> None:
    opened: list[AgentService] = []

    class FakeApp:
        return_code = 0

        def __init__(self, service: AgentService) -> None:
            self.service = service

        def run(self) -> None:
            opened.append(self.service)
            assert self.service.find_agent(support)["name"] == "Support Agent"

    monkeypatch.setitem(sys.modules, "kaizen_tui.tui.app", types.SimpleNamespace(KaizenApp=FakeApp))
    monkeypatch.setattr(sys, "stdin", TtyStringIO())
    monkeypatch.setattr(sys, "stdout", TtyStringIO())
    assert kz("--read-only", "--user", "viewer").code == 0
    assert opened[0].read_only and opened[0].user == "viewer"


def test_no_command_when_the_tui_is_missing(kz: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kaizen_tui.tui.app", None)
    monkeypatch.setattr(sys, "stdin", TtyStringIO())
    monkeypatch.setattr(sys, "stdout", TtyStringIO())
    result = kz()
    assert result.code == 1
    assert "kaizen_tui.tui.app" in result.err and len(result.err.splitlines()) == 1


def test_unexpected_errors_are_one_line_unless_debugging(
    kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(ctx: cli.Context) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "cmd_agents", explode)
    assert_one_error_line(kz("agents"), "unexpected RuntimeError: disk on fire", "KAIZEN_DEBUG=1")
    monkeypatch.setenv("KAIZEN_DEBUG", "1")
    result = kz("agents")
    assert result.code == 1 and "Traceback" in result.err


def test_interrupt_exits_130(kz: Runner, service: AgentService, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(ctx: cli.Context) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_agents", interrupted)
    result = kz("agents")
    assert result.code == 130 and result.err == "kaizen-tui: error: interrupted\n"


def test_a_closed_pipe_is_not_an_error_message(kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch) -> None:
    class ClosedPipe(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    result = kz("versions", support)
    assert result.code == cli.EXIT_BROKEN_PIPE and result.err == ""


# -- the real program, in a process ------------------------------------------------------


def run_program(*argv: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    """``kaizen-tui ARGS`` as a separate process (the console script when installed)."""
    script = Path(sys.executable).with_name("kaizen-tui")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "kaizen_tui.cli"]
    return subprocess.run(
        [*command, *argv], capture_output=True, text=True, stdin=stdin, env=dict(os.environ), timeout=60
    )


def test_process_exit_codes_and_no_traceback(kz: Runner, db_path: Path) -> None:
    assert kz("create", "--name", "Proc", "--model", "m").code == 0
    missing = run_program("--db", str(db_path), "show", "Nobody")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "kaizen-tui: error: No agent 'Nobody'.\n")
    bad_value = run_program("--db", str(db_path), "set", "Proc", "temperature=3")
    assert bad_value.returncode == 1 and bad_value.stderr.count("\n") == 1
    usage = run_program("--db", str(db_path), "prune", "Proc")
    assert usage.returncode == 2 and "--keep" in usage.stderr
    for result in (missing, bad_value, usage):
        assert "Traceback" not in result.stderr


def test_process_refuses_to_roll_back_without_a_terminal_or_yes(kz: Runner, db_path: Path) -> None:
    for argv in (("create", "--name", "Proc", "--model", "m"), ("snapshot", "Proc"), ("set", "Proc", "temperature=1")):
        assert kz(*argv).code == 0
    refused = run_program("--db", str(db_path), "rollback", "Proc", "v1")
    assert refused.returncode == 2
    assert "pass --yes" in refused.stderr and "Traceback" not in refused.stderr
    done = run_program("--db", str(db_path), "rollback", "Proc", "v1", "--yes")
    assert done.returncode == 0 and "Rolled back Proc to v1 (unsaved changes saved as v2)." in done.stdout


def test_commands_do_not_import_textual(db_path: Path) -> None:
    code = (
        "import sys\n"
        "from kaizen_tui.cli import main\n"
        "assert 'textual' not in sys.modules, 'import'\n"
        f"code = main(['--db', {str(db_path)!r}, 'create', '--name', 'A', '--model', 'm'])\n"
        f"code += main(['--db', {str(db_path)!r}, 'agents'])\n"
        f"code += main(['--db', {str(db_path)!r}, 'versions', 'A', '--json'])\n"
        "print('textual' in sys.modules, code)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False 0"


def test_an_empty_db_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", "", "agents"]) == 2
    assert "--db is empty" in capsys.readouterr().err


def test_numbers_beyond_sqlite_are_clear_errors(kz: Runner, support: str) -> None:
    assert_one_error_line(kz("diff", support, "v" + "9" * 25), "No version")
    too_large = kz("prune", support, "--keep", "9" * 25, "--yes")
    assert (
        too_large.code == 2 and "argument --keep: 99999999999…99999999999 (25 characters) is too large" in too_large.err
    )


def test_a_byte_order_mark_is_not_part_of_the_text(kz: Runner, support: str, tmp_path: Path) -> None:
    prompt = tmp_path / "bom.txt"
    prompt.write_bytes("\ufeffHello".encode())
    kz("set", support, f"system_prompt=@{prompt}")
    assert json.loads(kz("show", support, "--json").out)["system_prompt"] == "Hello"
    agent_file = tmp_path / "bom.json"
    agent_file.write_bytes('\ufeff{"name": "Bommed", "model_id": "m"}'.encode())
    assert kz("create", "-f", str(agent_file)).code == 0


def test_suggested_commands_name_the_agent_by_id_when_its_name_has_control_characters(
    kz: Runner, kz_prog: str, db_path: Path
) -> None:
    # The name is printed escaped (\x1b); pasted back, that text would name no agent.
    kz("create", "--name", "evil", "--model", "m")
    agent_id = json.loads(kz("agents", "--json").out)[0]["id"]
    rename_as_an_older_tool(db_path, agent_id, "evil\x1b[31mname")  # new names refuse control characters
    versions = kz("versions", "evil\x1b[31mname")
    assert f"{kz_prog} snapshot {agent_id} -m 'First version'" in versions.out
    # A plain name is suggested as typed, quoted for the shell.
    created = kz("create", "--name", "Bob's agent", "--model", "m")
    assert f"{kz_prog} snapshot 'Bob'\"'\"'s agent' -m 'First version'" in created.out


# -- the foundation: compare-and-swap, deleting agents -------------------------------------


def test_set_if_revision_is_compare_and_swap(kz: Runner, support: str) -> None:
    revision = json.loads(kz("show", support, "--json").out)["revision"]
    assert kz("set", support, "max_tokens=4321", "--user", "colleague").code == 0
    result = kz("set", support, "temperature=0.1", "--if-revision", str(revision))
    assert_one_error_line(result, f"changed since revision {revision}", "max_tokens by colleague")
    assert json.loads(kz("show", support, "--json").out)["temperature"] != 0.1
    assert kz("set", support, "temperature=0.1", "--if-revision", str(revision + 1)).code == 0


def test_delete_agent_needs_an_archived_agent_and_a_yes(kz: Runner, support: str) -> None:
    assert_one_error_line(kz("delete-agent", support, "--yes"), "only an archived agent can be deleted")
    kz("set", support, "status=archived")
    refused = kz("delete-agent", support)
    assert refused.code == 2 and "pass --yes" in refused.err
    result = kz("delete-agent", "Support Agent", "--yes")
    assert result.code == 0, result.err
    assert "Deleted Support Agent and 2 versions." in result.out
    assert json.loads(kz("agents", "--json").out) == []
    assert_one_error_line(kz("show", support), "No agent")
