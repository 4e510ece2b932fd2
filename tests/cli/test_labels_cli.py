"""``kaizen-tui label ...`` and ``kaizen-tui config``, driven as a person or a script would drive them.

Labels name versions (``production``); every set, move and removal goes to a
ledger; ``--expect`` is compare-and-swap; a protected label moves only after
a confirmation. ``config`` prints what an agent loads.
"""

from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kaizen_tui.service import AgentService
from tests.support import Clock, Result, Runner, TtyStringIO, cli_runner, write_raw_snapshot

HOSTILE = "[bold]loud[/bold] \x1b[31mred\x1b[0m"


@pytest.fixture
def kz(capsys: pytest.CaptureFixture[str], db_path: Path) -> Runner:
    return cli_runner(capsys, db_path)


@pytest.fixture
def bot(db_path: Path) -> dict[str, Any]:
    """Bot with v1, v2, v3 (temperature 0.1, 0.2, 0.3; live = v3), written an hour apart from 2026-11-01T01:00Z."""
    service = AgentService(str(db_path), user="tester")
    try:
        service.clock = Clock()
        agent = service.create_agent({"name": "Bot", "model_id": "m", "temperature": 0.1})
        versions = [service.create_version(agent["id"], "first")]
        for temperature, changelog in ((0.2, "second"), (0.3, "third")):
            service.update(agent["id"], {"temperature": temperature})
            versions.append(service.create_version(agent["id"], changelog))
    finally:
        service.close()
    return {**agent, "versions": versions}


def assert_one_error_line(result: Result, *fragments: str, code: int = 1) -> str:
    assert result.code == code, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("kaizen-tui: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.err
    return lines[0]


def json_error(result: Result) -> dict[str, Any]:
    assert result.code != 0 and result.out == ""
    error: dict[str, Any] = json.loads(result.err)["error"]
    return error


def labels(kz: Runner) -> dict[str, int]:
    result = kz("label", "list", "Bot", "--json")
    assert result.code == 0, result.err
    return {row["label"]: row["version_number"] for row in json.loads(result.out)}


def history(kz: Runner, *argv: str) -> list[dict[str, Any]]:
    result = kz("label", "history", "Bot", *argv, "--json")
    assert result.code == 0, result.err
    entries: list[dict[str, Any]] = json.loads(result.out)
    return entries


# -- set, move, list ----------------------------------------------------------------------------


def test_set_then_move_a_label(kz: Runner, bot: dict[str, Any]) -> None:
    created = kz("label", "set", "Bot", "production", "v1", "-m", "launch")
    assert (created.code, created.out, created.err) == (0, "Set production of Bot to v1.\n", "")
    moved = kz("label", "set", "Bot", "production", "3", "--expect", "v1", "-m", "better answers")
    assert (moved.code, moved.out) == (0, "Moved production of Bot: v1 → v3.\n")
    again = kz("label", "set", "Bot", "production", "v3")
    assert again.out == "production of Bot already points at v3; nothing moved.\n"
    assert labels(kz) == {"production": 3}


def test_a_label_set_where_another_label_points(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "staging", "2")
    result = kz("label", "set", "Bot", "canary", "staging", "-m", "as staging")
    assert (result.code, result.out) == (0, "Set canary of Bot to v2.\n")
    assert kz("label", "set", "Bot", "canary", "latest").out == "Moved canary of Bot: v2 → v3.\n"
    assert labels(kz) == {"canary": 3, "staging": 2}
    assert_one_error_line(
        kz("label", "set", "Bot", "canary", "stagin"),
        "'stagin' is neither a version nor a label of Bot (its labels: canary, staging).",
    )


@pytest.mark.parametrize("name", ["v3", "live", "previous"])
def test_a_new_label_named_like_another_reference_is_refused(kz: Runner, bot: dict[str, Any], name: str) -> None:
    result = kz("label", "set", "Bot", name, "1")
    assert_one_error_line(result, f"label: {name!r} ")
    assert labels(kz) == {}


def test_the_next_page_of_the_ledger_names_the_database(kz: Runner, bot: dict[str, Any], db_path: Path) -> None:
    for number in ("1", "2", "3"):
        kz("label", "set", "Bot", "production", number)
    entries = history(kz)
    first = kz("label", "history", "Bot", "--limit", "2")
    assert first.err == (
        f"Older entries: kaizen-tui --db {shlex.quote(str(db_path))} label history {bot['id']} "
        f"--before {entries[1]['id']}\n"
    )


def test_label_list_shows_each_label_its_version_and_changelog(kz: Runner, bot: dict[str, Any]) -> None:
    assert kz("label", "list", "Bot").out.startswith("Bot has no labels.\nPoint one at a version with: kaizen-tui")
    kz("label", "set", "Bot", "staging", "2")
    kz("label", "set", "Bot", "production", "1")
    lines = kz("label", "list", "Bot").out.splitlines()
    assert lines[0] == "Bot: 2 labels"
    assert lines[1].split() == ["LABEL", "VERSION", "SINCE", "BY", "CHANGELOG"]
    assert lines[2].split()[:2] == ["production", "v1"] and lines[2].endswith("tester  first")
    assert lines[3].split()[:2] == ["staging", "v2"] and lines[3].endswith("second")


def test_label_list_json_gives_one_object_per_label(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    listed = json.loads(kz("label", "list", "Bot", "--json").out)
    assert listed == [
        {
            "label": "production",
            "version_number": 1,
            "version_id": bot["versions"][0]["id"],
            "updated_by": "tester",
            "updated_at": listed[0]["updated_at"],
            "protected": False,
        }
    ]


def test_label_set_json_says_what_happened(kz: Runner, bot: dict[str, Any]) -> None:
    first = json.loads(kz("label", "set", "Bot", "production", "1", "--json").out)
    assert (first["agent_id"], first["name"], first["label"]) == (bot["id"], "Bot", "production")
    assert (first["version_number"], first["version_id"]) == (1, bot["versions"][0]["id"])
    assert (first["from_version_number"], first["moved"]) == (None, True)
    moved = json.loads(kz("label", "set", "Bot", "production", bot["versions"][1]["id"], "--json").out)
    assert (moved["version_number"], moved["from_version_number"], moved["moved"]) == (2, 1, True)


# -- compare-and-swap ---------------------------------------------------------------------------


def test_a_stale_expect_is_refused_naming_where_the_label_points(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    refused = kz("label", "set", "Bot", "production", "3", "--expect", "2")
    assert_one_error_line(refused, "'production' of Bot points at v1", "moved by tester", "Nothing moved.")
    assert labels(kz) == {"production": 1}
    assert len(history(kz)) == 1
    as_json = json_error(kz("label", "set", "Bot", "production", "3", "--expect", "v2", "--json"))
    assert as_json["code"] == "label_conflict"


def test_expect_none_sets_a_label_only_if_it_is_not_set(kz: Runner, bot: dict[str, Any]) -> None:
    assert kz("label", "set", "Bot", "canary", "2", "--expect", "none").code == 0
    refused = kz("label", "set", "Bot", "canary", "3", "--expect", "none")
    assert_one_error_line(refused, "'canary' of Bot points at v2", "not as expected (not to be set)")
    assert labels(kz) == {"canary": 2}
    unset = kz("label", "set", "Bot", "staging", "3", "--expect", "v1")
    assert_one_error_line(unset, "'staging' of Bot is not set")
    assert labels(kz) == {"canary": 2}


@pytest.mark.parametrize("expect", ["two", "v", "-1", "v2.0", ""])
def test_expect_takes_a_version_number_or_none(kz: Runner, bot: dict[str, Any], expect: str) -> None:
    result = kz("label", "set", "Bot", "production", "1", "--expect", expect)
    assert_one_error_line(result, "--expect takes a version number (3 or v3) or 'none'", code=2)
    assert labels(kz) == {}


# -- remove ---------------------------------------------------------------------------------------


def test_remove_a_label_the_ledger_keeps_it(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "canary", "2")
    removed = kz("label", "remove", "Bot", "canary", "-m", "canary over")
    assert (removed.code, removed.out) == (0, "Removed canary of Bot (it pointed at v2).\n")
    assert labels(kz) == {}
    newest = history(kz)[0]
    assert (newest["action"], newest["from_version"], newest["to_version"], newest["reason"]) == (
        "remove",
        2,
        None,
        "canary over",
    )


def test_remove_with_a_stale_expect_or_of_a_label_not_set_is_one_error_line(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "canary", "2")
    assert_one_error_line(kz("label", "remove", "Bot", "canary", "--expect", "1"), "points at v2", "Nothing moved.")
    assert labels(kz) == {"canary": 2}
    assert_one_error_line(kz("label", "remove", "Bot", "staging"), "Bot has no label 'staging'.")
    removed = json.loads(kz("label", "remove", "Bot", "canary", "--expect", "2", "--json").out)
    assert removed == {"label": "canary", "agent_id": bot["id"], "from_version_number": 2, "name": "Bot"}


# -- the ledger -------------------------------------------------------------------------------------


def test_history_lists_the_ledger_newest_first(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1", "-m", "launch")
    kz("label", "set", "Bot", "staging", "2")
    kz("label", "set", "Bot", "production", "3", "-m", "better answers")
    kz("label", "remove", "Bot", "staging")
    lines = kz("label", "history", "Bot").out.splitlines()
    assert lines[0].split() == ["TIME", "BY", "LABEL", "CHANGE", "REASON"]
    assert [line.split("  ", 1)[1].split() for line in lines[1:]] == [
        ["tester", "staging", "removed", "(was", "v2)"],
        ["tester", "production", "moved", "v1", "→", "v3", "better", "answers"],
        ["tester", "staging", "set", "→", "v2"],
        ["tester", "production", "set", "→", "v1", "launch"],
    ]
    only = kz("label", "history", "Bot", "production").out.splitlines()
    assert len(only) == 3 and all("production" in line for line in only[1:])


def test_history_json_gives_one_object_per_entry_and_pages(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    kz("label", "set", "Bot", "production", "2")
    kz("label", "set", "Bot", "production", "3")
    entries = history(kz)
    assert [(e["action"], e["from_version"], e["to_version"]) for e in entries] == [
        ("move", 2, 3),
        ("move", 1, 2),
        ("set", None, 1),
    ]
    assert set(entries[0]) >= {"id", "at", "actor", "label", "action", "from_version", "to_version", "reason"}
    assert entries[0]["to_version_id"] == bot["versions"][2]["id"]
    first = kz("label", "history", "Bot", "--limit", "2")
    assert len(first.out.splitlines()) == 3
    assert f"--before {entries[1]['id']}" in first.err
    assert history(kz, "--limit", "2", "--before", str(entries[1]["id"])) == entries[2:]


def test_history_of_an_agent_without_labels(kz: Runner, bot: dict[str, Any]) -> None:
    assert kz("label", "history", "Bot").out == "Bot has no ledger entries.\n"
    assert kz("label", "history", "Bot", "production").out == "Bot has no ledger entries of production.\n"


# -- protected labels --------------------------------------------------------------------------------


def test_protect_and_unprotect_a_label_name(kz: Runner, bot: dict[str, Any]) -> None:
    protected = kz("label", "protect", "production")
    assert protected.code == 0 and protected.out.startswith("Protected production for every agent")
    assert kz("label", "protect", "production").out == "production was protected already; nothing changed.\n"
    listed = json.loads(kz("label", "protected", "--json").out)
    assert [(row["label"], row["protected_by"]) for row in listed] == [("production", "tester")]
    assert "production" in kz("label", "protected").out
    assert json.loads(kz("label", "unprotect", "production", "--json").out) == {
        "label": "production",
        "protected": False,
        "changed": True,
    }
    assert kz("label", "unprotect", "production").out == "production was not protected; nothing changed.\n"
    assert kz("label", "protected").out.startswith("No label is protected.")


def test_a_protected_label_is_refused_without_yes_when_stdin_is_not_a_terminal(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    kz("label", "protect", "production")
    refused = kz("label", "set", "Bot", "production", "3")
    assert refused.code == 2, "as rollback, prune, delete-version and delete-agent without a terminal"
    assert refused.err == (
        "kaizen-tui: error: label set asks for confirmation ('production' is a protected label), but stdin is "
        "not a terminal; pass --yes to proceed. Nothing was changed.\n"
    )
    assert refused.out == "", "refused before any preview"
    assert json_error(kz("label", "set", "Bot", "production", "3", "--json"))["code"] == "confirmation_needed"
    removed = kz("label", "remove", "Bot", "production")
    assert removed.code == 2 and "label remove asks for confirmation ('production' is a protected label)" in removed.err
    assert labels(kz) == {"production": 1}
    assert len(history(kz)) == 1


def test_a_protected_label_moves_with_yes(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "protect", "production")
    created = kz("label", "set", "Bot", "production", "1", "--yes")
    assert created.code == 0 and created.out.endswith("Set production of Bot to v1.\n")
    moved = kz("label", "set", "Bot", "production", "3", "--yes", "--json")
    assert moved.code == 0 and moved.err == ""
    assert (json.loads(moved.out)["version_number"], json.loads(moved.out)["protected"]) == (3, True)
    assert kz("label", "remove", "Bot", "production", "--yes").code == 0
    assert labels(kz) == {}


def test_a_protected_label_where_it_points_already_needs_no_confirmation(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "2")
    kz("label", "protect", "production")
    result = kz("label", "set", "Bot", "production", "v2")
    assert (result.code, result.out) == (0, "production of Bot already points at v2; nothing moved.\n")


@pytest.mark.parametrize(("answer", "moved"), [("y\n", True), ("yes\n", True), ("n\n", False), ("", False)])
def test_on_a_terminal_a_protected_label_shows_the_change_and_asks(
    kz: Runner, bot: dict[str, Any], monkeypatch: pytest.MonkeyPatch, answer: str, moved: bool
) -> None:
    kz("label", "set", "Bot", "production", "1")
    kz("label", "protect", "production")
    monkeypatch.setattr(sys, "stdin", TtyStringIO(answer))
    result = kz("label", "set", "Bot", "production", "3", "-m", "better answers")
    assert result.out.startswith("Moving the protected label production of Bot: v1 → v3\nVERSION  CREATED")
    assert "What anything loading production gets instead:" in result.out
    assert "temperature  0.1  0.3" in result.out
    assert "Proceed? [y/N] " in result.out
    assert (result.code == 0) is moved
    assert labels(kz) == {"production": 3 if moved else 1}
    if not moved:
        assert "Cancelled; nothing was changed." in result.err


def test_on_a_terminal_removing_a_protected_label_asks(
    kz: Runner, bot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    kz("label", "set", "Bot", "production", "2")
    kz("label", "protect", "production")
    monkeypatch.setattr(sys, "stdin", TtyStringIO("y\n"))
    result = kz("label", "remove", "Bot", "production")
    assert result.code == 0
    assert "Removing the protected label production of Bot (it points at v2)." in result.out
    assert result.out.endswith("Proceed? [y/N] \nRemoved production of Bot (it pointed at v2).\n")
    assert labels(kz) == {}


def test_a_stale_expect_on_a_protected_label_is_refused_before_asking(
    kz: Runner, bot: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    kz("label", "set", "Bot", "production", "1")
    kz("label", "protect", "production")
    monkeypatch.setattr(sys, "stdin", TtyStringIO("y\n"))
    result = kz("label", "set", "Bot", "production", "3", "--expect", "2")
    assert_one_error_line(result, "points at v1", "not as expected")
    assert "Proceed" not in result.out
    assert labels(kz) == {"production": 1}


# -- bad input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Production", "latest", "12", "prod uction", "a" * 64])
def test_a_bad_label_name_is_one_error_line(kz: Runner, bot: dict[str, Any], name: str) -> None:
    assert_one_error_line(kz("label", "set", "Bot", name, "1"), "label: ")
    assert json_error(kz("label", "set", "Bot", name, "1", "--json"))["code"] == "invalid_value"
    assert_one_error_line(kz("label", "protect", name), "label: ")
    assert labels(kz) == {}


def test_unknown_agents_versions_and_labels_are_one_error_line(kz: Runner, bot: dict[str, Any]) -> None:
    assert_one_error_line(kz("label", "set", "Nobody", "production", "1"), "No agent 'Nobody'.")
    assert_one_error_line(kz("label", "list", "Nobody"), "No agent 'Nobody'.")
    assert_one_error_line(kz("label", "set", "Bot", "production", "9"), "No version v9 of Bot")
    assert_one_error_line(kz("config", "Bot", "--label", "canary"), "Bot has no label 'canary'.")
    assert_one_error_line(kz("config", "Bot", "--version", "9"), "No version v9 of Bot")
    assert_one_error_line(kz("config", "Nobody"), "No agent 'Nobody'.")


def test_a_damaged_version_is_never_labelled(kz: Runner, bot: dict[str, Any], db_path: Path) -> None:
    write_raw_snapshot(db_path, bot["versions"][0]["id"])
    assert_one_error_line(kz("label", "set", "Bot", "production", "1"), "The snapshot of v1 is damaged")
    assert labels(kz) == {}


def test_a_read_only_database_refuses_label_changes(kz: Runner, bot: dict[str, Any]) -> None:
    result = kz("--read-only", "label", "set", "Bot", "production", "1")
    assert_one_error_line(result, "Cannot change anything")
    assert labels(kz) == {}


def test_text_from_the_database_is_shown_literally(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1", "-m", HOSTILE)
    shown = kz("label", "history", "Bot").out
    assert "[bold]loud[/bold] \\x1b[31mred\\x1b[0m" in shown
    assert "\x1b" not in shown
    logged = kz("log", "Bot", "--limit", "1").out
    assert "set production → v1 ([bold]loud[/bold] \\x1b[31mred\\x1b[0m)" in logged
    assert "\x1b" not in logged
    assert history(kz)[0]["reason"] == HOSTILE


# -- config ------------------------------------------------------------------------------------------


def test_config_json_is_exactly_the_config_object(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "2")
    by_label = kz("config", "Bot", "--label", "production", "--json")
    assert by_label.code == 0 and by_label.err == ""
    assert json.loads(by_label.out) == json.loads(bot["versions"][1]["config_snapshot"])
    by_version = json.loads(kz("config", "Bot", "--version", "v1", "--json").out)
    assert by_version == json.loads(bot["versions"][0]["config_snapshot"])
    latest = json.loads(kz("config", "Bot", "--label", "latest", "--json").out)
    assert latest == json.loads(bot["versions"][2]["config_snapshot"])


def test_config_without_a_label_is_the_live_config(kz: Runner, bot: dict[str, Any]) -> None:
    kz("set", "Bot", "temperature=0.9")
    live = json.loads(kz("config", "Bot", "--json").out)
    assert live == {
        "name": "Bot",
        "description": "",
        "agent_type": "chat",
        "system_prompt": "",
        "model_id": "m",
        "temperature": 0.9,
        "max_tokens": 0,
    }
    lines = kz("config", "Bot").out.splitlines()
    assert lines[0] == "Bot: the live config"
    assert "  temperature  0.9" in lines
    assert not any(line.startswith("  version id") for line in lines)


def test_config_for_a_person_names_the_version_and_shows_the_prompt(kz: Runner, bot: dict[str, Any]) -> None:
    kz("set", "Bot", "system_prompt=Be brief.\nBe kind.")
    kz("snapshot", "Bot", "-m", "prompt")
    kz("label", "set", "Bot", "production", "4")
    lines = kz("config", "Bot", "--label", "production").out.splitlines()
    assert lines[0] == "Bot: production → v4"
    assert "  model        m" in lines and "  max tokens   0 (no limit)" in lines
    assert any(line.startswith("  version id   ver-") for line in lines)
    assert lines[-3:] == ["system prompt (2 lines):", "  Be brief.", "  Be kind."]
    assert kz("config", "Bot", "--version", "2").out.splitlines()[0] == "Bot: v2"


def test_config_at_a_time_asks_the_ledger(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    kz("label", "set", "Bot", "production", "3")
    now = json.loads(kz("config", "Bot", "--label", "production", "--at", "2999-01-01", "--json").out)
    assert now["temperature"] == 0.3
    assert kz("config", "Bot", "--label", "production", "--at", "2999-01-01").out.startswith(
        "Bot: production at 2999-01-01 → v3"
    )
    before = kz("config", "Bot", "--label", "production", "--at", "2000-01-01")
    assert_one_error_line(before, "Bot has no label 'production' at 2000-01-01T00:00:00Z")


def test_config_at_a_time_on_a_ledger_written_hours_apart(kz: Runner, bot: dict[str, Any], db_path: Path) -> None:
    service = AgentService(str(db_path), user="alice")
    try:
        service.clock = Clock()  # an hour later at every call
        service.set_label("Bot", "production", 1)
        service.set_label("Bot", "production", 3)
        service.remove_label("Bot", "production", reason="incident")
    finally:
        service.close()
    set_at, moved_at, removed_at = (datetime.fromisoformat(entry["at"]) for entry in history(kz)[::-1])
    half_hour = timedelta(minutes=30)

    def config_at(at: str) -> Result:
        return kz("config", "Bot", "--label", "production", "--at", at, "--json")

    assert json.loads(config_at(f"{set_at + half_hour:%Y-%m-%dT%H:%M:%SZ}").out)["temperature"] == 0.1
    assert json.loads(config_at(f"{moved_at:%Y-%m-%d %H:%M}").out)["temperature"] == 0.3, "a space, no seconds"
    in_paris = (moved_at + half_hour).astimezone(timezone(timedelta(hours=1)))
    assert json.loads(config_at(in_paris.isoformat()).out)["temperature"] == 0.3, "an offset"
    assert json.loads(config_at(f"{moved_at - half_hour:%Y-%m-%dT%H:%M:%SZ}").out)["temperature"] == 0.1
    removed = json_error(config_at(f"{removed_at:%Y-%m-%dT%H:%M:%SZ}"))
    assert removed["code"] == "label_not_found" and "alice had removed it" in removed["message"]


@pytest.mark.parametrize(
    ("argv", "fragment", "code"),
    [
        (("--at", "2026-11-01"), "--at asks the ledger where a label pointed: give --label too", 2),
        (("--label", "latest", "--at", "2026-11-01"), "'latest' has no ledger", 1),
        (("--label", "production", "--at", "yesterday"), "'yesterday' is not a time", 1),
        (("--label", "Production"), "label: 'Production'", 1),
    ],
)
def test_config_with_bad_options_is_one_error_line(
    kz: Runner, bot: dict[str, Any], argv: tuple[str, ...], fragment: str, code: int
) -> None:
    assert_one_error_line(kz("config", "Bot", *argv), fragment, code=code)


def test_config_takes_a_label_or_a_version_not_both(kz: Runner, bot: dict[str, Any]) -> None:
    result = kz("config", "Bot", "--label", "production", "--version", "1")
    assert result.code == 2
    assert "not allowed with argument" in result.err


# -- versions, prune, delete-version, log -----------------------------------------------------------


def test_versions_shows_each_versions_labels(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    kz("label", "set", "Bot", "staging", "1")
    kz("label", "set", "Bot", "canary", "3")
    lines = kz("versions", "Bot").out.splitlines()
    assert lines[1].split() == ["VERSION", "CREATED", "BY", "CHANGELOG", "LABELS"]
    column = lines[1].index("LABELS")
    assert lines[2][column:].split("  ")[0] == "canary" and lines[2].endswith("= live")
    assert lines[3][column:] == ""
    assert lines[4][column:] == "production, staging"
    listed = json.loads(kz("versions", "Bot", "--json").out)
    assert [version["labels"] for version in listed] == [["canary"], [], ["production", "staging"]]


def test_deleting_a_labelled_version_is_refused_before_asking(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    result = kz("delete-version", "Bot", "v1")
    assert_one_error_line(
        result,
        "v1 is labelled production: move or remove the label first. Nothing was deleted. (kaizen-tui label set or label remove)",
    )
    assert result.out == ""
    assert json_error(kz("delete-version", "Bot", "v1", "--yes", "--json"))["code"] == "version_labelled"
    assert len(json.loads(kz("versions", "Bot", "--json").out)) == 3


def test_prune_keeps_labelled_versions_and_says_which(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1")
    result = kz("prune", "Bot", "--keep", "1", "--yes")
    assert result.code == 0, result.err
    assert "It keeps these older ones because labels name them: v1 (production)." in result.out
    assert result.out.endswith("Deleted 1 version of Bot; kept the 1 newest and v1 (production), which labels name.\n")
    assert [v["version_number"] for v in json.loads(kz("versions", "Bot", "--json").out)] == [3, 1]
    nothing = kz("prune", "Bot", "--keep", "1", "--yes")
    assert nothing.out == (
        "Nothing to prune: Bot has 2 versions; --keep 1 keeps the newest and labels name the others "
        "(v1 (production)).\n"
    )


def test_prune_json_lists_the_labelled_versions_it_kept(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "staging", "2")
    result = json.loads(kz("prune", "Bot", "--keep", "1", "--yes", "--json").out)
    assert [v["version_number"] for v in result["deleted_versions"]] == [1]
    assert result["kept_labelled"] == [{"version_number": 2, "id": bot["versions"][1]["id"], "labels": ["staging"]}]


def test_the_log_words_label_changes(kz: Runner, bot: dict[str, Any]) -> None:
    kz("label", "set", "Bot", "production", "1", "-m", "launch")
    kz("label", "set", "Bot", "production", "3", "-m", "better answers\nand more")
    kz("label", "remove", "Bot", "production")
    kz("label", "protect", "production")
    kz("label", "unprotect", "production")
    lines = kz("log", "--limit", "5").out.splitlines()[1:]
    whats = [line.split("  ")[-1].strip() for line in lines]
    assert whats == [
        "unprotected the label production",
        "protected the label production (for every agent)",
        "removed production (was v3)",
        "moved production v1 → v3 (better answers)",
        "set production → v1 (launch)",
    ]
    assert [line.split()[2] for line in lines] == [
        "label.unprotect",
        "label.protect",
        "label.remove",
        "label.move",
        "label.set",
    ]
