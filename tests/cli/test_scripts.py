"""The command line as scripts drive it: ``--json`` results and errors, reads that never create
a database, and ``kaizen-tui log``.

With ``--json``, stdout is exactly one JSON value (the result) and every line on stderr is one
JSON object (``{"error": ...}``, ``{"warning": ...}``, ``{"note": ...}``); the exit code is the
same as without it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kaizen_tui.cli import main
from kaizen_tui.cli import program as cli
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


@pytest.fixture
def kz(capsys: pytest.CaptureFixture[str], db_path: Path) -> Runner:
    return cli_runner(capsys, db_path)


@pytest.fixture
def support(kz: Runner) -> str:
    """Support Agent with v1 (first prompt, 0.7) and v2 (second prompt, 0.3), live = v2."""
    created = kz("create", "--name", "Support Agent", "--model", "gpt-4", "--prompt", FIRST_PROMPT, "--json")
    assert created.code == 0, created.err
    agent_id = json.loads(created.out)["id"]
    assert kz("snapshot", agent_id, "-m", "First version").code == 0
    assert kz("set", agent_id, "temperature=0.3", f"system_prompt={SECOND_PROMPT}").code == 0
    assert kz("snapshot", agent_id, "-m", "Politer answers").code == 0
    return agent_id


def only_json(result: Result) -> Any:
    """The one JSON value on stdout of a command that succeeded with nothing on stderr."""
    assert result.code == 0, result.err
    assert result.err == "", "nothing but the result"
    return json.loads(result.out)


def json_error(result: Result, code: int) -> dict[str, Any]:
    """A --json failure: nothing on stdout, stderr one line holding {"error": {"code", "message"}}."""
    assert result.code == code, result
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    error = json.loads(lines[0])
    assert set(error) == {"error"} and set(error["error"]) == {"code", "message"}
    return error["error"]


# -- versions --json ------------------------------------------------------------------


def test_versions_json_says_what_the_text_table_shows(kz: Runner, support: str, db_path: Path) -> None:
    kz("set", support, "max_tokens=10")
    kz("rollback", support, "v1", "--yes")
    write_raw_snapshot(db_path, (support, 2), json.dumps({"name": "Support Agent", "temperature": "hot"}))
    versions = json.loads(kz("versions", support, "--json").out)
    table = kz("versions", support).out
    assert "= live" in table and "damaged: " in table
    by_number = {version["version_number"]: version for version in versions}
    assert by_number[3]["matches_live"] is False and by_number[3]["changelog"] == "Auto: before rollback to v1"
    assert by_number[1]["matches_live"] is True and by_number[1]["config"]["system_prompt"] == FIRST_PROMPT
    assert by_number[2]["damaged"] is True and by_number[2]["config"] is None
    assert "model_id" in by_number[2]["damaged_reason"], "why, as the table says it"


# -- results of changes as JSON -----------------------------------------------------------


def test_set_json_says_what_changed_and_what_was_saved_first(kz: Runner, support: str) -> None:
    result = only_json(kz("set", support, "temperature=0.9", "max_tokens=0", "--json"))
    assert result["temperature"] == 0.9 and result["changed"] == ["temperature"]
    assert result["saved_as_version"] is None and result["unsaved_changes"] is True
    saved = only_json(kz("set", support, "temperature=0.1", "--snapshot-first", "before tuning", "--json"))
    assert (saved["saved_as_version"], saved["changed"], saved["latest_version"]) == (3, ["temperature"], 3)
    assert saved["held_by_version"] == 3
    same = only_json(kz("set", support, "temperature=0.1", "--json"))
    assert same["changed"] == [] and same["saved_as_version"] is None
    kz("snapshot", support)
    again = only_json(kz("set", support, "temperature=0.2", "--snapshot-first", "before tuning", "--json"))
    assert (again["saved_as_version"], again["held_by_version"], again["latest_version"]) == (None, 4, 4)


def test_rollback_json_names_the_version_and_the_one_saved_first(kz: Runner, support: str, db_path: Path) -> None:
    kz("set", support, "temperature=1.5")
    result = only_json(kz("rollback", support, "v1", "--yes", "--json"))
    assert set(result) == {"agent", "rolled_back_to", "saved_as_version", "changed"}
    assert result["agent"] == live_agent(db_path, support)
    assert result["agent"]["temperature"] == 0.7 and result["agent"]["system_prompt"] == FIRST_PROMPT
    assert (result["rolled_back_to"]["version_number"], result["rolled_back_to"]["changelog"]) == (1, "First version")
    assert result["saved_as_version"] == 3
    assert result["changed"] == ["system_prompt", "temperature"]
    again = only_json(kz("rollback", support, "v1", "--yes", "--json"))
    assert (again["saved_as_version"], again["changed"]) == (None, []), "nothing to do is said as JSON too"


def test_delete_version_prune_and_delete_agent_json(kz: Runner, support: str) -> None:
    deleted = only_json(kz("delete-version", support, "v1", "--yes", "--json"))
    assert (deleted["agent_id"], deleted["name"]) == (support, "Support Agent")
    assert deleted["deleted_version"]["version_number"] == 1
    assert json.loads(deleted["deleted_version"]["config_snapshot"])["system_prompt"] == FIRST_PROMPT
    for _ in range(3):
        kz("snapshot", support)
    pruned = only_json(kz("prune", support, "--keep", "2", "--yes", "--json"))
    assert (pruned["keep"], pruned["deleted"]) == (2, 2)
    assert [version["version_number"] for version in pruned["deleted_versions"]] == [3, 2]
    assert [v["version_number"] for v in json.loads(kz("versions", support, "--json").out)] == [5, 4]
    nothing = only_json(kz("prune", support, "--keep", "5", "--yes", "--json"))
    assert (nothing["deleted"], nothing["deleted_versions"]) == (0, [])
    kz("set", support, "status=archived")
    gone = only_json(kz("delete-agent", support, "--yes", "--json"))
    assert gone == {"agent_id": support, "name": "Support Agent", "versions_deleted": 2}


def test_token_revoke_json(kz: Runner, service: AgentService) -> None:
    assert kz("token", "create", "ci-bot", "--json").code == 0
    assert only_json(kz("token", "revoke", "ci-bot", "--json")) == {"revoked": "ci-bot"}


@pytest.mark.parametrize(
    "argv",
    [
        ("rollback", "SUPPORT", "v1"),
        ("delete-version", "SUPPORT", "v1"),
        ("prune", "SUPPORT", "--keep", "1"),
        ("delete-agent", "SUPPORT"),
    ],
)
def test_with_json_on_a_terminal_the_preview_and_question_go_to_stderr(
    kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    kz("set", support, "status=archived")
    argv = tuple(support if part == "SUPPORT" else part for part in argv)
    monkeypatch.setattr(sys, "stdin", TtyStringIO("y\n"))
    result = kz(*argv, "--json")
    assert result.code == 0, result.err
    json.loads(result.out)  # stdout is the result, and only that
    assert "Support Agent" in result.err and result.err.rstrip().endswith("Proceed? [y/N]")


def test_with_json_a_no_is_a_cancelled_error(kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", TtyStringIO("n\n"))
    result = kz("rollback", support, "v1", "--json")
    assert (result.code, result.out) == (1, "")
    *preview, last = result.err.splitlines()
    assert "Rolling back Support Agent to v1:" in preview
    assert json.loads(last) == {"error": {"code": "cancelled", "message": "Cancelled; nothing was changed."}}


def test_with_json_and_yes_nothing_but_the_result_is_printed(kz: Runner, support: str) -> None:
    kz("set", support, "temperature=1.2")
    for argv in (("rollback", support, "v1"), ("delete-version", support, "v2"), ("prune", support, "--keep", "2")):
        only_json(kz(*argv, "--yes", "--json"))
    # What the preview would have noted is a warning, as JSON.
    pruned = kz("prune", support, "--keep", "1", "--yes", "--json")
    assert pruned.code == 0 and json.loads(pruned.out)["deleted"] == 1
    assert json.loads(pruned.err) == {
        "warning": {"message": "the live config equals v1, which this prune deletes; afterwards no version holds it"}
    }


# -- errors as JSON ------------------------------------------------------------------------


def test_with_json_an_error_is_one_json_object_on_stderr(kz: Runner, support: str) -> None:
    assert json_error(kz("show", "Nobody", "--json"), 1) == {"code": "agent_not_found", "message": "No agent 'Nobody'."}
    bad = json_error(kz("set", support, "temperature=3", "--json"), 1)
    assert bad == {"code": "invalid_value", "message": "temperature: must be from 0.0 to 2.0; got 3"}
    assert json_error(kz("diff", support, "v9", "--json"), 1)["code"] == "version_not_found"
    kz("set", support, "temperature=1")
    assert json_error(kz("rollback", support, "v1", "--json"), 2) == {
        "code": "confirmation_needed",
        "message": "rollback asks for confirmation, but stdin is not a terminal; pass --yes to proceed. "
        "Nothing was changed.",
    }
    assert json_error(kz("prune", support, "--keep", "0", "--yes", "--json"), 1)["code"] == "invalid_keep"
    assert json_error(kz("delete-agent", support, "--yes", "--json"), 1)["code"] == "agent_not_archived"


def test_with_json_argparse_errors_are_usage_errors(kz: Runner, support: str) -> None:
    missing = json_error(kz("diff", "--json"), 2)
    assert missing["code"] == "usage" and "required: AGENT, A" in missing["message"]
    assert json_error(kz("prune", support, "--keep", "many", "--json"), 2)["code"] == "usage"
    assert json_error(kz("versions", support, "--json", "--colour"), 2)["code"] == "usage"
    text = kz("prune", support, "--keep", "many")
    assert text.code == 2 and text.err.startswith("usage: kaizen-tui prune"), "without --json, as argparse says it"
    assert "kaizen-tui prune: error: argument --keep: invalid int value: 'many'" in text.err


def test_with_json_interrupts_and_surprises_keep_their_exit_codes(
    kz: Runner, support: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(ctx: cli.Context) -> int:
        raise KeyboardInterrupt

    def explode(ctx: cli.Context) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "cmd_agents", interrupted)
    assert json_error(kz("agents", "--json"), 130) == {"code": "interrupted", "message": "interrupted"}
    monkeypatch.setattr(cli, "cmd_agents", explode)
    surprise = json_error(kz("agents", "--json"), 1)
    assert surprise["code"] == "unexpected" and "disk on fire" in surprise["message"]


def test_with_json_warnings_and_notes_are_json_lines_too(kz: Runner, support: str, tmp_path: Path) -> None:
    shown = tmp_path / "support.json"
    shown.write_text(kz("show", support, "--json").out, encoding="utf-8")
    result = kz("create", "-f", str(shown), "--name", "Copy", "--json")
    assert result.code == 0 and json.loads(result.out)["name"] == "Copy"
    notes = [json.loads(line) for line in result.err.splitlines()]
    assert len(notes) == 1 and notes[0]["note"]["message"].startswith("Ignoring id, revision")


def test_with_json_errors_carry_the_message_exactly(kz: Runner, service: AgentService) -> None:
    error = json_error(kz("show", "evil\x1b[2Jname", "--json"), 1)
    assert error["message"] == "No agent 'evil\\x1b[2Jname'."


def run_program(*argv: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("kaizen-tui")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "kaizen_tui.cli"]
    return subprocess.run(
        [*command, *argv], capture_output=True, text=True, stdin=subprocess.DEVNULL, env=dict(os.environ), timeout=60
    )


def test_process_json_error_and_exit_code(kz: Runner, db_path: Path) -> None:
    for argv in (("create", "--name", "Proc", "--model", "m"), ("snapshot", "Proc"), ("set", "Proc", "temperature=1")):
        assert kz(*argv).code == 0
    missing = run_program("--db", str(db_path), "show", "Nobody", "--json")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert json.loads(missing.stderr) == {"error": {"code": "agent_not_found", "message": "No agent 'Nobody'."}}
    refused = run_program("--db", str(db_path), "rollback", "Proc", "v1", "--json")
    assert refused.returncode == 2 and json.loads(refused.stderr)["error"]["code"] == "confirmation_needed"


# -- a mistyped --db -------------------------------------------------------------------------

READS = [
    ("agents",),
    ("show", "Support Agent"),
    ("versions", "Support Agent"),
    ("diff", "Support Agent", "v1"),
    ("log",),
    ("log", "Support Agent"),
    ("token", "list"),
]
#: They change things, but only in an agent or token that a new database cannot hold.
NEEDS_AN_EXISTING_DATABASE = [
    ("set", "Support Agent", "temperature=1"),
    ("snapshot", "Support Agent"),
    ("rollback", "Support Agent", "v1", "--yes"),
    ("delete-version", "Support Agent", "v1", "--yes"),
    ("prune", "Support Agent", "--keep", "1", "--yes"),
    ("delete-agent", "Support Agent", "--yes"),
    ("token", "revoke", "ci-bot"),
    ("serve", "--port", "1"),
]


@pytest.mark.parametrize("argv", READS + NEEDS_AN_EXISTING_DATABASE, ids=" ".join)
def test_a_mistyped_db_is_one_error_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    typo = tmp_path / "kaizne.db"
    assert main(["--db", str(typo), *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"kaizen-tui: error: No database at {typo}: no such file, and nothing was created "
        "(a database is created by the first change written to it, such as a new agent).\n"
    )
    assert list(tmp_path.iterdir()) == [], "no file, no -wal or -shm beside it"


def test_a_mistyped_db_folder_url_or_kaizen_db_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "no-such-folder"
    assert main(["--db", str(folder / "kaizen.db"), "agents"]) == 1
    assert f"No database at {folder / 'kaizen.db'}" in capsys.readouterr().err
    assert main(["--db", f"sqlite:///{tmp_path / 'typo.db'}", "versions", "X", "--json"]) == 1
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "database_not_found"
    monkeypatch.setenv("KAIZEN_DB", str(tmp_path / "env-typo.db"))
    assert main(["show", "X"]) == 1
    assert "env-typo.db" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "xdg-data"] or list(tmp_path.iterdir()) == []
    assert not (tmp_path / "xdg-data" / "kaizen-tui").exists()


def test_create_and_token_create_still_make_a_new_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    assert main(["--db", str(new), "create", "--name", "A", "--model", "m"]) == 0
    assert new.exists()
    other = tmp_path / "tokens.db"
    assert main(["--db", str(other), "token", "create", "ci-bot"]) == 0
    assert other.exists()


def test_the_tui_may_create_a_new_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    class FakeApp:
        return_code = 0

        def __init__(self, service: AgentService) -> None:
            self.service = service

        def run(self) -> None:
            assert self.service.list_agents() == []

    monkeypatch.setitem(sys.modules, "kaizen_tui.tui.app", types.SimpleNamespace(KaizenApp=FakeApp))
    monkeypatch.setattr(sys, "stdin", TtyStringIO())
    monkeypatch.setattr(sys, "stdout", TtyStringIO())
    new = tmp_path / "fresh.db"
    assert main(["--db", str(new)]) == 0
    assert new.exists()


def test_the_service_and_the_store_create_only_when_asked(tmp_path: Path) -> None:
    from kaizen_tui.core.errors import DatabaseError
    from kaizen_tui.store import open_store

    with pytest.raises(DatabaseError, match="No database at"):
        AgentService(str(tmp_path / "missing.db"), create=False)
    with pytest.raises(DatabaseError, match="No database at"):
        open_store(tmp_path / "missing.db", create=False)
    assert list(tmp_path.iterdir()) == []
    AgentService(str(tmp_path / "made.db")).close()
    AgentService(str(tmp_path / "made.db"), create=False).close()


def test_a_command_that_fails_leaves_no_new_database_behind(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    not_an_export = tmp_path / "notes.txt"
    not_an_export.write_text("remember to prune\n", encoding="utf-8")
    assert main(["--db", str(tmp_path / "new.db"), "import", str(not_an_export)]) == 1
    assert main(["--db", str(tmp_path / "bad.db"), "create", "--name", "A", "--model", "m", "--temperature", "9"]) == 1
    assert main(["--db", str(tmp_path / "taken.db"), "token", "create", "bad name!"]) == 1
    assert "not a kaizen-tui export" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"], "no file, no -wal or -shm"
    # A database that was there before is never removed.
    existing = tmp_path / "existing.db"
    assert main(["--db", str(existing), "token", "create", "ci-bot"]) == 0
    assert main(["--db", str(existing), "import", str(not_an_export)]) == 1
    capsys.readouterr()
    assert main(["--db", str(existing), "token", "list", "--json"]) == 0
    assert [token["name"] for token in json.loads(capsys.readouterr().out)] == ["ci-bot"]


def test_an_empty_database_file_reads_as_empty_and_is_not_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    for argv in (
        ["agents", "--json"],
        ["--read-only", "agents", "--json"],
        ["log", "--json"],
        ["token", "list", "--json"],
    ):
        assert main(["--db", str(empty), *argv]) == 0, argv
        assert capsys.readouterr().out == "[]\n", argv
    assert main(["--db", str(empty), "show", "Bot"]) == 1
    assert "No agent 'Bot'." in capsys.readouterr().err
    assert empty.stat().st_size == 0 and sorted(tmp_path.iterdir()) == [empty], "nothing written, no -wal"
    assert main(["--db", str(empty), "create", "--name", "Bot", "--model", "m"]) == 0, "a change sets it up"
    assert empty.stat().st_size > 0


def test_hints_repeat_the_db_given_without_its_password(capsys: pytest.CaptureFixture[str], postgres_url: str) -> None:
    scheme, _, rest = postgres_url.partition("://")
    user, at, host = rest.partition("@")
    if not at or ":" in user:
        pytest.skip("the test server's URL names no user, or has a password of its own")
    in_userinfo = f"{scheme}://{user}:s3cret@{host}"
    in_query = f"{postgres_url}?password=s3cret&application_name=kz"
    assert main(["--db", in_userinfo, "create", "--name", "A", "--model", "m"]) == 0
    capsys.readouterr()
    assert main(["--db", in_userinfo, "set", "A", "temperature=1"]) == 0
    assert f"save it with: kaizen-tui --db {postgres_url} snapshot A -m" in capsys.readouterr().out
    assert main(["--db", in_query, "log", "--limit", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(f"Older events: kaizen-tui --db '{postgres_url}?application_name=kz' log --before ")
    assert "s3cret" not in captured.out + captured.err


# -- kaizen-tui log --------------------------------------------------------------------------


def log_rows(result: Result) -> list[list[str]]:
    """The log table's rows, split on the two-space gaps between columns."""
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["TIME", "BY", "ACTION", "AGENT", "WHAT"]
    return [[part.strip() for part in line.split("  ") if part.strip()] for line in lines[1:]]


def test_log_says_who_did_what_newest_first(kz: Runner, support: str) -> None:
    kz("--user", "alice", "set", support, "temperature=1.5", "max_tokens=100")
    kz("--user", "bob", "rollback", support, "v1", "--yes")
    for _ in range(3):
        kz("snapshot", support)
    kz("prune", support, "--keep", "2", "--yes")
    kz("delete-version", support, "v6", "--yes")
    rows = log_rows(kz("log"))
    whats = [(row[1], row[2], row[3], row[4]) for row in rows]
    assert whats == [
        ("tester", "version.delete", "Support Agent", "deleted v6"),
        ("tester", "version.prune", "Support Agent", "pruned 4 versions v1–v4 (kept the newest 2)"),
        ("tester", "version.create", "Support Agent", "snapshot v6"),
        ("tester", "version.create", "Support Agent", "snapshot v5"),
        ("tester", "version.create", "Support Agent", "snapshot v4"),
        ("bob", "version.rollback", "Support Agent", "rolled back to v1 (saved v3 first)"),
        ("alice", "agent.update", "Support Agent", "set temperature 0.3 → 1.5, max_tokens 0 → 100"),
        ("tester", "version.create", "Support Agent", "snapshot v2"),
        ("tester", "agent.update", "Support Agent", "set system_prompt (2 lines) → (3 lines), temperature 0.7 → 0.3"),
        ("tester", "version.create", "Support Agent", "snapshot v1"),
        ("tester", "agent.create", "Support Agent", "created"),
    ]
    assert all(row[0].endswith("Z") and row[0][:2] == "20" for row in rows)


def test_log_json_is_the_events_with_their_detail(kz: Runner, support: str) -> None:
    kz("set", support, "temperature=1.5")
    kz("rollback", support, "v2", "--yes")
    events = only_json(kz("log", support, "--json"))
    assert [event["action"] for event in events][:3] == ["version.rollback", "agent.update", "version.create"]
    rollback, update = events[0], events[1]
    assert rollback["detail"]["to_version"] == 2 and rollback["detail"]["saved_as_version"] == 3
    assert update["detail"]["changes"] == {"temperature": {"old": 0.3, "new": 1.5}}
    assert {event["agent_name"] for event in events} == {"Support Agent"}
    assert {event["agent_id"] for event in events} == {support}
    assert all(event["agent_deleted"] is False and event["actor"] == "tester" for event in events)
    assert events == sorted(events, key=lambda event: -event["id"])


def test_log_of_one_agent_limit_and_before(kz: Runner, support: str, db_path: Path) -> None:
    kz("create", "--name", "Other", "--model", "m")
    assert {row[3] for row in log_rows(kz("log", "support agent"))} == {"Support Agent"}
    assert log_rows(kz("log", "--limit", "1"))[0][2:] == ["agent.create", "Other", "created"]
    first = kz("log", "--limit", "2")
    newest = only_json(kz("log", "--json"))
    assert f"Older events: kaizen-tui --db {shlex.quote(str(db_path))} log --before {newest[1]['id']}" in first.err
    older = only_json(kz("log", "--before", str(newest[1]["id"]), "--json"))
    assert older == newest[2:]
    assert "Older events" not in kz("log").err
    assert kz("log", "--limit", "0").code == 2


def test_log_of_a_deleted_agent_shows_it_by_name(kz: Runner, support: str) -> None:
    kz("set", support, "status=archived")
    kz("delete-agent", support, "--yes")
    kz("create", "--name", "Newcomer", "--model", "m")
    rows = log_rows(kz("log", "--limit", "3"))
    assert rows[0][2:] == ["agent.create", "Newcomer", "created"]
    assert rows[1][2:] == ["agent.delete", "Support Agent (deleted)", "deleted the agent and 2 versions"]
    assert rows[2][2:] == ["agent.update", "Support Agent (deleted)", "set status draft → archived"]
    by_name = only_json(kz("log", "support AGENT", "--json"))
    assert by_name == only_json(kz("log", support, "--json"))
    assert len(by_name) == 6 and all(event["agent_deleted"] for event in by_name)
    assert by_name[-1]["action"] == "agent.create"


def test_log_never_prints_raw_control_characters(kz: Runner, support: str, db_path: Path) -> None:
    kz("set", support, "name=evil[31mname", "description=\x1b]0;title\x07\u202e")
    rename_as_an_older_tool(db_path, support, "evil\x1b[31mname")  # the log's name is the agent's name now
    result = kz("log", "--limit", "1")
    assert result.code == 0
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in result.out
    assert "evil\\x1b[31mname" in result.out and "\\x1b]0;title\\x07\\u202e" in result.out


def test_log_when_there_is_nothing_yet_and_for_tokens(kz: Runner, service: AgentService) -> None:
    assert kz("log").out == "No events in the audit log.\n"
    kz("token", "create", "ci-bot", "--role", "write")
    rows = log_rows(kz("log"))
    assert rows == [[rows[0][0], "tester", "token.create", "-", "created the write token ci-bot"]]
    assert kz("log", "Nobody").code == 1
