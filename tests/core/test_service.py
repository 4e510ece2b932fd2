"""The AgentService contract: the spec's operations, their shapes and rules."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest

from kaizen_tui.core.errors import (
    AgentNotFound,
    DamagedSnapshot,
    InvalidKeep,
    InvalidValue,
    KaizenError,
    NameTaken,
    VersionNotFound,
    VersionOfAnotherAgent,
)
from kaizen_tui.core.schema import check_new_name
from kaizen_tui.service import VERSION_KEYS, AgentService
from tests.support import at_once, raw_sql, rename_as_an_older_tool, write_raw_snapshot

SPEC_SNAPSHOT_KEYS = {"name", "description", "agent_type", "system_prompt", "model_id", "temperature", "max_tokens"}


def test_create_version_has_the_spec_shape(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    version = service.create_version(agent["id"], changelog="Updated system prompt for better accuracy")
    assert set(version) == set(VERSION_KEYS)
    assert version["id"].startswith("ver-")
    assert version["agent_id"] == agent["id"]
    assert version["version_number"] == 1
    assert version["changelog"] == "Updated system prompt for better accuracy"
    assert version["created_by"] == "tester"
    assert version["created_at"].endswith("Z") and len(version["created_at"]) == 20
    snapshot = json.loads(version["config_snapshot"])
    assert set(snapshot) == SPEC_SNAPSHOT_KEYS
    assert snapshot == {key: agent_data[key] for key in SPEC_SNAPSHOT_KEYS}
    assert list(snapshot) == sorted(snapshot), "snapshot keys are written sorted"


def test_snapshot_includes_extra_only_when_not_empty(service: AgentService, agent_data: dict) -> None:
    plain = service.create_agent(agent_data)
    tooled = service.create_agent({**agent_data, "name": "Tooled", "extra": {"tools": ["search"]}})
    assert "extra" not in json.loads(service.create_version(plain["id"])["config_snapshot"])
    assert json.loads(service.create_version(tooled["id"])["config_snapshot"])["extra"] == {"tools": ["search"]}


def test_equal_configs_give_equal_snapshot_text(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    first = service.create_version(agent["id"])
    second = service.create_version(agent["id"])
    assert first["config_snapshot"] == second["config_snapshot"]


def test_numbers_go_up_per_agent_and_are_never_reused(service: AgentService, agent_data: dict) -> None:
    one = service.create_agent(agent_data)
    two = service.create_agent({**agent_data, "name": "Other"})
    numbers = [service.create_version(one["id"])["version_number"] for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert service.create_version(two["id"])["version_number"] == 1
    newest = service.get_versions(one["id"])[0]
    service.delete_version(newest["id"])
    assert service.create_version(one["id"])["version_number"] == 4
    service.cleanup_old_versions(one["id"], keep=1)
    assert service.create_version(one["id"])["version_number"] == 5


def test_get_versions_is_newest_first_without_a_cap(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    for _ in range(120):
        service.create_version(agent["id"])
    versions = service.get_versions(agent["id"])
    assert [v["version_number"] for v in versions] == list(range(120, 0, -1))
    page = service.get_versions(agent["id"], limit=10, offset=5)
    assert [v["version_number"] for v in page] == list(range(115, 105, -1))


def test_a_page_of_versions_counts_them_all_and_says_where_the_next_starts(
    service: AgentService, agent_data: dict
) -> None:
    agent = service.create_agent(agent_data)
    for _ in range(5):
        service.create_version(agent["id"])
    first = service.versions_page(agent["id"], limit=2)
    assert [v["version_number"] for v in first["versions"]] == [5, 4]
    assert (first["total"], first["next_before"]) == (5, 4)
    assert first["versions"] == service.get_versions_with_config(agent["id"], limit=2), "the same form"
    service.create_version(agent["id"])  # v6 meanwhile: the next page by number is still v3, v2
    second = service.versions_page(agent["id"], limit=2, before=first["next_before"])
    assert [v["version_number"] for v in second["versions"]] == [3, 2]
    assert (second["total"], second["next_before"]) == (6, 2)
    last = service.versions_page(agent["id"], limit=2, before=2)
    assert ([v["version_number"] for v in last["versions"]], last["next_before"]) == ([1], None)
    everything = service.versions_page(agent["id"])
    assert (len(everything["versions"]), everything["next_before"]) == (6, None)
    assert service.versions_page(agent["id"], limit=2, offset=1)["next_before"] == 4
    with pytest.raises(InvalidValue) as both:
        service.versions_page(agent["id"], limit=2, offset=1, before=3)
    assert both.value.field == "offset"
    with pytest.raises(AgentNotFound):
        service.versions_page("agt-missing")


def test_get_version_and_missing_things(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    version = service.create_version(agent["id"], "one")
    assert service.get_version(version["id"]) == version
    with pytest.raises(VersionNotFound, match="ver-nope"):
        service.get_version("ver-nope")
    with pytest.raises(AgentNotFound, match="agt-nope"):
        service.get_versions("agt-nope")
    with pytest.raises(AgentNotFound):
        service.create_version("agt-nope")
    with pytest.raises(AgentNotFound):
        service.update("agt-nope", {"temperature": 1})


def test_update_changes_fields_and_keeps_the_rest(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    updated = service.update(agent["id"], {"system_prompt": "New prompt...", "status": "active"})
    assert updated["system_prompt"] == "New prompt..."
    assert updated["status"] == "active"
    assert {k: updated[k] for k in ("name", "model_id", "temperature", "max_tokens")} == {
        k: agent_data[k] for k in ("name", "model_id", "temperature", "max_tokens")
    }
    assert service.get(agent["id"]) == updated


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"temperature": 2.5}, "temperature", "from 0.0 to 2.0"),
        ({"temperature": -0.1}, "temperature", "from 0.0 to 2.0"),
        ({"temperature": "hot"}, "temperature", "number"),
        ({"temperature": True}, "temperature", "number"),
        ({"max_tokens": -1}, "max_tokens", "whole number"),
        ({"max_tokens": 1.5}, "max_tokens", "whole number"),
        ({"max_tokens": "2048"}, "max_tokens", "whole number"),
        ({"agent_type": "robot"}, "agent_type", "chat, task, pipeline, custom"),
        ({"status": "deleted"}, "status", "draft, active, archived"),
        ({"name": "  "}, "name", "empty"),
        ({"model_id": ""}, "model_id", "empty"),
        ({"system_prompt": 42}, "system_prompt", "text"),
        ({"extra": ["a"]}, "extra", "object"),
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"id": "agt-x"}, "id", "unknown field"),
    ],
)
def test_update_refuses_bad_values_naming_the_field(
    service: AgentService, agent_data: dict, data: dict, field: str, words: str
) -> None:
    agent = service.create_agent(agent_data)
    with pytest.raises(InvalidValue) as raised:
        service.update(agent["id"], data)
    assert raised.value.field == field
    assert words in str(raised.value)
    assert service.get(agent["id"]) == agent, "a refused update changes nothing"


def test_create_agent_needs_name_and_model(service: AgentService) -> None:
    with pytest.raises(InvalidValue, match="name"):
        service.create_agent({"model_id": "gpt-4"})
    with pytest.raises(InvalidValue, match="model_id"):
        service.create_agent({"name": "x"})
    agent = service.create_agent({"name": "x", "model_id": "m"})
    assert agent["id"].startswith("agt-")
    assert (agent["agent_type"], agent["status"], agent["temperature"], agent["max_tokens"], agent["extra"]) == (
        "chat",
        "draft",
        0.7,
        0,
        {},
    )
    assert service.list_agents() == [agent]


def test_find_agent_by_id_or_unique_name(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    assert service.find_agent(agent["id"])["id"] == agent["id"]
    assert service.find_agent("Support Agent")["id"] == agent["id"]
    assert service.find_agent("support agent")["id"] == agent["id"]
    # Names are unique ignoring case, so a name names one agent (a file from
    # before may hold clashing names: see tests/store/test_migrations.py).
    with pytest.raises(NameTaken):
        service.create_agent(agent_data)
    with pytest.raises(AgentNotFound):
        service.find_agent("Nobody")


def test_find_version_by_number_or_id(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    other = service.create_agent({**agent_data, "name": "Other"})
    versions = [service.create_version(agent["id"]) for _ in range(3)]
    foreign = service.create_version(other["id"])
    assert service.find_version(agent["id"], "v2")["id"] == versions[1]["id"]
    assert service.find_version(agent["id"], "3")["id"] == versions[2]["id"]
    assert service.find_version(agent["id"], 1)["id"] == versions[0]["id"]
    assert service.find_version(agent["id"], versions[0]["id"])["id"] == versions[0]["id"]
    with pytest.raises(VersionNotFound, match="v9"):
        service.find_version(agent["id"], "v9")
    with pytest.raises(VersionOfAnotherAgent):
        service.find_version(agent["id"], foreign["id"])


@pytest.mark.parametrize(
    "ref",
    ["9" * 4400, "v" + "9" * 4400, "0" * 5000 + "9" * 20, str(2**63), str(2**31), "99999999999999999999"],
    ids=["4400-digits", "v-4400-digits", "leading-zeros", "2**63", "2**31", "20-digits"],
)
def test_a_version_number_no_database_can_hold_is_not_found_wherever_a_version_is_taken(
    service: AgentService, agent_data: dict, ref: str
) -> None:
    """Past Python's 4,300 digits, SQLite's INTEGER or PostgreSQL's: "no such version", never a crash."""
    agent = service.create_agent(agent_data)
    service.create_version(agent["id"])
    calls = [
        lambda: service.find_version(agent["id"], ref),
        lambda: service.compare(agent["id"], ref, "live"),
        lambda: service.compare(agent["id"], "v1", ref),
        lambda: service.resolve_config(agent["id"], version=ref),
        lambda: service.set_label(agent["id"], "production", ref),
    ]
    for call in calls:
        with pytest.raises(VersionNotFound) as refused:
            call()
        assert "4300" not in str(refused.value) and len(str(refused.value)) < 120
    assert [entry["label"] for entry in service.list_labels(agent["id"])] == []


def test_pages_past_the_largest_stored_number_mean_all_of_them(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    everything = service.audit_log(agent["id"])
    assert service.audit_log(agent["id"], 2**64, before=2**64) == everything
    assert service.audit_trail(None, 2**64, before=2**64) == service.audit_trail(None)
    assert service.label_history(agent["id"], limit=2**64, before=2**64) == []


def test_the_spec_workflow_version_update_rollback(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent({**agent_data, "status": "active"})
    version = service.create_version(agent["id"], "Backup before changes")
    service.update(agent["id"], {"system_prompt": "New prompt...", "temperature": 1.2, "status": "archived"})
    restored = service.rollback_to_version(agent["id"], version["id"])
    snapshot = json.loads(version["config_snapshot"])
    assert {key: restored[key] for key in snapshot} == snapshot
    assert restored["extra"] == {}
    assert restored["status"] == "archived", "status is lifecycle, not config: rollback leaves it"
    versions = service.get_versions(agent["id"])
    assert [v["version_number"] for v in versions] == [2, 1]
    assert versions[0]["changelog"] == "Auto: before rollback to v1"
    saved = json.loads(versions[0]["config_snapshot"])
    assert saved["system_prompt"] == "New prompt..." and saved["temperature"] == 1.2


def test_rollback_without_unsaved_changes_saves_nothing(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    first = service.create_version(agent["id"], "one")
    service.update(agent["id"], {"temperature": 0.1})
    service.create_version(agent["id"], "two")
    restored = service.rollback_to_version(agent["id"], first["id"])
    assert restored["temperature"] == 0.7
    assert [v["version_number"] for v in service.get_versions(agent["id"])] == [2, 1]


def test_rollback_restores_extra_and_removes_added_extra(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent({**agent_data, "extra": {"tools": [{"name": "search", "k": 5}]}})
    version = service.create_version(agent["id"])
    service.update(agent["id"], {"extra": {"tools": [], "top_p": 0.5}})
    assert service.rollback_to_version(agent["id"], version["id"])["extra"] == {"tools": [{"name": "search", "k": 5}]}
    plain = service.create_agent({**agent_data, "name": "Plain"})
    plain_version = service.create_version(plain["id"])
    service.update(plain["id"], {"extra": {"top_p": 0.5}})
    assert service.rollback_to_version(plain["id"], plain_version["id"])["extra"] == {}


def test_rollback_refuses_a_version_of_another_agent(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    other = service.create_agent({**agent_data, "name": "Other", "temperature": 1.5})
    service.update(agent["id"], {"temperature": 0.2})
    foreign = service.create_version(other["id"])
    before = (service.get(agent["id"]), service.get_versions(agent["id"]))
    with pytest.raises(VersionOfAnotherAgent):
        service.rollback_to_version(agent["id"], foreign["id"])
    assert (service.get(agent["id"]), service.get_versions(agent["id"])) == before


@pytest.mark.parametrize(
    "damage",
    [
        "{not json",
        "[1, 2, 3]",
        '{"name": "x"}',
        json.dumps(
            {
                "name": "x",
                "description": "",
                "agent_type": "chat",
                "system_prompt": "",
                "model_id": "m",
                "temperature": "hot",
                "max_tokens": 1,
            }
        ),
        json.dumps(
            {
                "name": "x",
                "description": "",
                "agent_type": "chat",
                "system_prompt": "",
                "model_id": "m",
                "temperature": 0.5,
                "max_tokens": 1,
                "surprise": True,
            }
        ),
        # A JSON escape for a lone surrogate: readable JSON, but text that cannot be stored.
        json.dumps(
            {
                "name": "x",
                "description": "",
                "agent_type": "chat",
                "system_prompt": "",
                "model_id": "m",
                "temperature": 0.5,
                "max_tokens": 1,
                "extra": {"k": "\udcff"},
            }
        ),
    ],
)
def test_rollback_refuses_a_damaged_snapshot(
    service: AgentService, db_path: Path, agent_data: dict, damage: str
) -> None:
    agent = service.create_agent(agent_data)
    version = service.create_version(agent["id"])
    service.update(agent["id"], {"temperature": 0.2})
    write_raw_snapshot(db_path, version["id"], damage)
    before = (service.get(agent["id"]), service.get_versions(agent["id"]), service.audit_log())
    with pytest.raises(DamagedSnapshot, match="v1"):
        service.rollback_to_version(agent["id"], version["id"])
    after = (service.get(agent["id"]), service.get_versions(agent["id"]), service.audit_log())
    assert after == before
    timeline = service.get_timeline(agent["id"])
    assert timeline[0]["damaged"]


def test_cleanup_keeps_exactly_the_newest_n(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    other = service.create_agent({**agent_data, "name": "Other"})
    for _ in range(15):
        service.create_version(agent["id"])
    for _ in range(4):
        service.create_version(other["id"])
    preview = service.prune_preview(agent["id"], keep=10)
    assert [v["version_number"] for v in preview] == [5, 4, 3, 2, 1]
    assert service.cleanup_old_versions(agent["id"]) == 5
    assert [v["version_number"] for v in service.get_versions(agent["id"])] == list(range(15, 5, -1))
    assert service.cleanup_old_versions(agent["id"], keep=3) == 7
    assert [v["version_number"] for v in service.get_versions(agent["id"])] == [15, 14, 13]
    assert service.cleanup_old_versions(agent["id"], keep=3) == 0
    assert [v["version_number"] for v in service.get_versions(other["id"])] == [4, 3, 2, 1]


@pytest.mark.parametrize("keep", [0, -1, 1.5, True, "3"])
def test_cleanup_refuses_keep_below_one(service: AgentService, agent_data: dict, keep: object) -> None:
    agent = service.create_agent(agent_data)
    service.create_version(agent["id"])
    with pytest.raises(InvalidKeep):
        service.cleanup_old_versions(agent["id"], keep=keep)  # type: ignore[arg-type]
    assert len(service.get_versions(agent["id"])) == 1


def test_delete_version_touches_only_that_version(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    other = service.create_agent({**agent_data, "name": "Other"})
    mine = [service.create_version(agent["id"]) for _ in range(3)]
    theirs = [service.create_version(other["id"]) for _ in range(2)]
    service.delete_version(mine[1]["id"])
    assert [v["version_number"] for v in service.get_versions(agent["id"])] == [3, 1]
    assert service.get_versions(other["id"]) == list(reversed(theirs))
    with pytest.raises(VersionNotFound):
        service.delete_version(mine[1]["id"])


def test_compare_versions_the_spec_example(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    v1 = service.create_version(agent["id"])
    service.update(agent["id"], {"system_prompt": "You are helpful.\nAnswer in detail.", "temperature": 0.9})
    v2 = service.create_version(agent["id"])
    diff = service.compare_versions(v1["id"], v2["id"])
    assert diff["from"]["label"] == "v1" and diff["to"]["label"] == "v2"
    assert not diff["identical"]
    changed = {c["field"]: (c["old"], c["new"]) for c in diff["changes"]}
    assert changed == {
        "system_prompt": ("You are helpful.\nAnswer briefly.", "You are helpful.\nAnswer in detail."),
        "temperature": (0.7, 0.9),
    }
    [text] = diff["text_diffs"]
    assert text["field"] == "system_prompt"
    assert "-Answer briefly." in text["unified"] and "+Answer in detail." in text["unified"]


def test_compare_identical_and_with_live(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    v1 = service.create_version(agent["id"])
    v2 = service.create_version(agent["id"])
    assert service.compare_versions(v1["id"], v2["id"])["identical"]
    service.update(agent["id"], {"max_tokens": 10})
    live = service.compare_with_live(agent["id"], v2["id"])
    assert live["to"]["label"] == "live"
    assert [(c["field"], c["old"], c["new"]) for c in live["changes"]] == [("max_tokens", 2048, 10)]
    towards_v2 = service.compare_with_live(agent["id"], v2["id"], live_first=True)
    assert (towards_v2["from"]["label"], towards_v2["to"]["label"]) == ("live", "v2")
    assert [(c["field"], c["old"], c["new"]) for c in towards_v2["changes"]] == [("max_tokens", 10, 2048)]


def test_live_first_text_diffs_read_from_live_to_the_version(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    v1 = service.create_version(agent["id"])
    service.update(agent["id"], {"system_prompt": "You are helpful.\nAnswer in detail."})
    [text] = service.compare_with_live(agent["id"], v1["id"], live_first=True)["text_diffs"]
    assert "--- live" in text["unified"] and "+++ v1" in text["unified"]
    assert "-Answer in detail." in text["unified"] and "+Answer briefly." in text["unified"]


def test_compare_with_previous(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    v1 = service.create_version(agent["id"])
    service.update(agent["id"], {"name": "Renamed"})
    v2 = service.create_version(agent["id"])
    first = service.compare_with_previous(v1["id"])
    assert first["from"]["label"] == "nothing" and not first["identical"]
    second = service.compare_with_previous(v2["id"])
    assert [(c["field"], c["new"]) for c in second["changes"]] == [("name", "Renamed")]


def test_compare_a_damaged_version_compares_what_it_can(service: AgentService, db_path: Path, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    v1 = service.create_version(agent["id"])
    v2 = service.create_version(agent["id"])
    write_raw_snapshot(db_path, v2["id"], json.dumps({"name": "Support Agent", "model_id": 7}))
    diff = service.compare_versions(v1["id"], v2["id"])
    assert diff["to"]["damaged"]
    assert any("v2" in warning for warning in diff["warnings"])
    kinds = {c["field"]: c["kind"] for c in diff["changes"]}
    assert kinds["model_id"] == "changed" and kinds["system_prompt"] == "removed"
    write_raw_snapshot(db_path, v2["id"], "garbage")
    assert service.compare_versions(v1["id"], v2["id"])["to"]["damaged"].startswith("not valid JSON")


def test_timeline_marks_the_version_the_live_config_equals(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    service.create_version(agent["id"], "one")
    service.update(agent["id"], {"temperature": 1.0})
    service.create_version(agent["id"], "two")
    timeline = service.get_timeline(agent["id"])
    assert [(v["version_number"], v["matches_live"], v["damaged"]) for v in timeline] == [
        (2, True, None),
        (1, False, None),
    ]
    assert "config_snapshot" not in timeline[0]
    assert service.get(agent["id"])["unsaved_changes"] is False
    service.update(agent["id"], {"temperature": 1})  # the same number: not a change
    assert service.get(agent["id"])["unsaved_changes"] is False
    service.update(agent["id"], {"temperature": 1.1})
    described = service.get(agent["id"])
    assert (described["unsaved_changes"], described["version_count"], described["latest_version"]) == (True, 2, 2)


def test_update_agent_with_version(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    updated = service.update_agent_with_version(agent["id"], {"model_id": "gpt-4o"}, "switch model")
    assert updated["model_id"] == "gpt-4o"
    [version] = service.get_versions(agent["id"])
    assert version["changelog"] == "switch model", "the reason as given, without an 'Auto: ' prefix"
    assert json.loads(version["config_snapshot"])["model_id"] == "gpt-4"
    with pytest.raises(InvalidValue):
        service.update_agent_with_version(agent["id"], {"temperature": 9}, "bad")
    assert len(service.get_versions(agent["id"])) == 1, "an invalid update snapshots nothing"


def test_every_mutation_writes_an_audit_event(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    service.update(agent["id"], {"temperature": 0.1})
    v1 = service.create_version(agent["id"], "one")
    service.update(agent["id"], {"temperature": 0.2})
    service.rollback_to_version(agent["id"], v1["id"])
    v3 = service.create_version(agent["id"])
    service.delete_version(v3["id"])
    service.cleanup_old_versions(agent["id"], keep=1)
    service.update_agent_with_version(agent["id"], {"temperature": 0.3}, "why")
    events = list(reversed(service.audit_log()))
    assert [e["action"] for e in events] == [
        "agent.create",
        "agent.update",
        "version.create",
        "agent.update",
        "version.rollback",
        "version.create",
        "version.delete",
        "version.prune",
        "version.create",
        "agent.update",
    ]
    assert all(e["actor"] == "tester" and e["at"].endswith("Z") and e["agent_id"] == agent["id"] for e in events)
    rollback = events[4]
    assert rollback["detail"]["to_version"] == 1 and rollback["detail"]["saved_as_version"] == 2
    assert service.change_marker() == events[-1]["id"]


def test_refused_operations_write_no_audit_event(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    marker = service.change_marker()
    for attempt in (
        lambda: service.update(agent["id"], {"temperature": 5}),
        lambda: service.cleanup_old_versions(agent["id"], keep=0),
        lambda: service.delete_version("ver-missing"),
    ):
        with pytest.raises(KaizenError):
            attempt()
    assert service.change_marker() == marker


TRICKY_TEXTS = [
    "Ünïcödé — 日本語 — עברית — العربية",
    "emoji 🤖🚀👩‍💻 and flags 🇩🇪",
    "[bold]not bold[/bold] [red]x[/] [link=http://x]y[/link]",
    "\x1b[31mred\x1b[0m \x1b]0;title\x07 \x1b[2J",
    "tabs\tand\r\nwindows newlines\n\n  indented",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_text_round_trips_exactly(service: AgentService, agent_data: dict, text: str, db_path: Path) -> None:
    try:
        name = check_new_name(text[:50])
    except InvalidValue:  # "/" or control characters: a name only an older kaizen-tui could give
        name = "Tricky"
    agent = service.create_agent(
        {**agent_data, "name": name, "description": text, "system_prompt": text, "extra": {"note": text}}
    )
    if name != text[:50]:
        rename_as_an_older_tool(db_path, agent["id"], text[:50])
    version = service.create_version(agent["id"], changelog=text)
    assert service.get_version(version["id"])["changelog"] == text
    service.update(agent["id"], {"system_prompt": "other", "description": "other"})
    restored = service.rollback_to_version(agent["id"], version["id"])
    assert (restored["system_prompt"], restored["description"], restored["name"]) == (text, text, text[:50])
    assert restored["extra"] == {"note": text}


def test_a_megabyte_prompt_round_trips(service: AgentService, agent_data: dict) -> None:
    prompt = "".join(f"line {n}: the quick brown fox ✓\n" for n in range(40_000))[:1_048_576]
    agent = service.create_agent({**agent_data, "system_prompt": prompt})
    version = service.create_version(agent["id"])
    service.update(agent["id"], {"system_prompt": "short"})
    assert service.rollback_to_version(agent["id"], version["id"])["system_prompt"] == prompt
    assert json.loads(service.get_version(version["id"])["config_snapshot"])["system_prompt"] == prompt


def test_lone_surrogates_are_refused_clearly(service: AgentService, agent_data: dict) -> None:
    with pytest.raises(InvalidValue, match="system_prompt"):
        service.create_agent({**agent_data, "system_prompt": "bad \ud800 text"})


def test_read_only_reason(db_path: Path, agent_data: dict) -> None:
    writable = AgentService(str(db_path))
    assert writable.read_only_reason == ""
    writable.close()
    reader = AgentService(str(db_path), read_only=True)
    assert "read-only" in reader.read_only_reason
    reader.close()


def test_prune_preview_says_which_version_the_live_config_equals(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    first = service.create_version(agent["id"])
    service.update(agent["id"], {"temperature": 1.0})
    service.create_version(agent["id"])
    service.rollback_to_version(agent["id"], first["id"])
    preview = service.prune_preview(agent["id"], keep=1)
    assert [(v["version_number"], v["matches_live"]) for v in preview] == [(1, True)]


def test_cleanup_never_deletes_past_what_was_previewed(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    for _ in range(4):
        service.create_version(agent["id"])
    shown = service.prune_preview(agent["id"], keep=2)
    assert [v["version_number"] for v in shown] == [2, 1]
    service.create_version(agent["id"])  # someone else, while the person reads the preview
    newest_shown = max(v["version_number"] for v in shown)
    assert service.cleanup_old_versions(agent["id"], keep=2, newest_to_delete=newest_shown) == 2
    assert [v["version_number"] for v in service.get_versions(agent["id"])] == [5, 4, 3]


def test_text_that_cannot_be_stored_is_refused_by_name(service: AgentService, agent_data: dict, db_path: Path) -> None:
    agent = service.create_agent(agent_data)
    with pytest.raises(InvalidValue, match="changelog"):
        service.create_version(agent["id"], "bad \udcff")
    with pytest.raises(InvalidValue, match="reason"):
        service.update_agent_with_version(agent["id"], {"temperature": 1}, "bad \udcff")
    with pytest.raises(AgentNotFound):
        service.find_agent("bad \udcff")
    with pytest.raises(VersionNotFound):
        service.find_version(agent["id"], "v\udcff")
    with pytest.raises(VersionNotFound):
        service.find_version(agent["id"], "v" + "9" * 30)
    with pytest.raises(InvalidValue, match=r"system_prompt.*NUL"):
        service.update(agent["id"], {"system_prompt": "a\x00b"})
    with pytest.raises(InvalidValue, match="user"):
        AgentService(str(db_path), user="u\udcff")
    assert service.get_versions(agent["id"]) == []


def test_deeply_nested_extra_is_refused(service: AgentService, agent_data: dict) -> None:
    deep: dict = {}
    inner = deep
    for _ in range(40):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(InvalidValue, match="levels deep"):
        service.create_agent({**agent_data, "extra": deep})


def test_keep_beyond_any_number_is_refused_clearly(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    with pytest.raises(InvalidKeep):
        service.cleanup_old_versions(agent["id"], keep=10**30)


def test_names_match_case_insensitively_beyond_ascii(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent({**agent_data, "name": "Über Agent"})
    assert service.find_agent("über agent")["id"] == agent["id"]
    assert service.find_agent("ÜBER AGENT")["id"] == agent["id"]


def test_two_unreadable_snapshots_are_never_identical(service: AgentService, db_path: Path, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    v1 = service.create_version(agent["id"])
    v2 = service.create_version(agent["id"])
    write_raw_snapshot(db_path, v1["id"], "{broken")
    write_raw_snapshot(db_path, v2["id"], "[1, 2]")
    diff = service.compare_versions(v1["id"], v2["id"])
    assert diff["identical"] is False and len(diff["warnings"]) == 2


def test_nan_in_a_stored_snapshot_makes_it_damaged(service: AgentService, db_path: Path, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    version = service.create_version(agent["id"])
    text = json.loads(version["config_snapshot"])
    write_raw_snapshot(db_path, version["id"], json.dumps({**text, "extra": {"top_p": float("nan")}}))
    with pytest.raises(DamagedSnapshot, match="NaN"):
        service.rollback_to_version(agent["id"], version["id"])


def test_rollback_says_which_version_saved_the_unsaved_changes(service: AgentService, agent_data: dict) -> None:
    agent = service.create_agent(agent_data)
    first = service.create_version(agent["id"])
    assert service.rollback_to_version(agent["id"], first["id"])["saved_as_version"] is None
    service.update(agent["id"], {"temperature": 1.5})
    assert service.rollback_to_version(agent["id"], first["id"])["saved_as_version"] == 2


def test_a_damaged_extra_column_gives_a_clear_error(
    service: AgentService, db_path: Path, agent_data: dict, backend: str
) -> None:
    agent = service.create_agent(agent_data)
    # PostgreSQL's json column refuses text that is not JSON at all; a list is as wrong.
    damaged = "[1, 2]" if backend == "postgresql" else "[1, 2"
    with raw_sql(db_path) as connection:
        connection.execute("UPDATE agent SET extra = ? WHERE id = ?", (damaged, agent["id"]))
    with pytest.raises(KaizenError, match=r"extra.*not a JSON object"):
        service.get(agent["id"])


def test_operations_run_concurrently_without_mixing_their_transactions(service: AgentService, agent_data: dict) -> None:
    """One service called from many threads at once, as a server's thread pool calls it."""
    agents = [service.create_agent({**agent_data, "name": f"agent {index}"}) for index in range(4)]
    at_once(*(partial(service.create_version, agent["id"]) for agent in agents for _ in range(10)))
    counts = at_once(*(partial(service.get_versions, agent["id"]) for agent in agents))
    for versions in counts:
        assert sorted(version["version_number"] for version in versions) == list(range(1, 11))


def test_extra_true_replaces_extra_1(service: AgentService, agent_data: dict) -> None:
    """In JSON ``true`` and ``1`` differ, though Python finds them equal."""
    agent = service.create_agent({**agent_data, "extra": {"stream": 1}})
    updated = service.update(agent["id"], {"extra": {"stream": True}})
    assert updated["extra"] == {"stream": True} and updated["extra"]["stream"] is True
    assert service.get(agent["id"])["extra"]["stream"] is True
    assert service.audit_log(agent["id"])[0]["action"] == "agent.update"


@pytest.mark.sqlite_only  # PostgreSQL's json type refuses a lone surrogate: the state cannot arise there
def test_a_live_extra_with_text_that_cannot_be_stored_gives_a_clear_error(
    service: AgentService, db_path: Path, agent_data: dict
) -> None:
    agent = service.create_agent(agent_data)
    with raw_sql(db_path) as connection:
        connection.execute("UPDATE agent SET extra = ? WHERE id = ?", ('{"k": "\\udcff"}', agent["id"]))
    with pytest.raises(KaizenError, match="not valid Unicode"):
        service.create_version(agent["id"])
    assert service.get_versions(agent["id"]) == []


def test_changed_agents_names_the_agents_changed_since_a_marker(service: AgentService, agent_data: dict) -> None:
    first = service.create_agent(agent_data)
    second = service.create_agent({**agent_data, "name": "Second"})
    marker = service.change_marker()
    assert service.changed_agents(marker) == (marker, [])
    service.create_version(second["id"])
    third = service.create_agent({**agent_data, "name": "Third"})
    now, changed = service.changed_agents(marker)
    assert now == service.change_marker() > marker
    assert sorted(changed) == sorted([second["id"], third["id"]])
    assert first["id"] not in changed
    # Too many to name: list them all instead.
    assert service.changed_agents(0, limit=2)[1] is None


def test_list_agents_of_some_ids_is_the_full_list_filtered(service: AgentService, agent_data: dict) -> None:
    names = ["beta", "Alpha", "Émile", "zeta", "alpha two", "Zed"]
    agents = [service.create_agent({**agent_data, "name": name}) for name in names]
    service.create_version(agents[1]["id"])
    everyone = service.list_agents()
    wanted = {agents[index]["id"] for index in (0, 1, 2, 5)}
    some = service.list_agents(ids=[*wanted, "agt-missing", "\udcff"])
    assert some == [agent for agent in everyone if agent["id"] in wanted]
    assert service.list_agents(ids=[]) == []


def test_agent_sort_key_is_the_order_of_the_list(service: AgentService, agent_data: dict) -> None:
    from kaizen_tui.service import agent_sort_key

    for name in ["beta", "Alpha", "Émile", "zeta", "alpha two", "Zed", "émile 2", "_under", "42"]:
        service.create_agent({**agent_data, "name": name})
    listed = service.list_agents()
    assert listed == sorted(listed, key=agent_sort_key)
    assert [agent["name"] for agent in listed][:5] == ["42", "_under", "Alpha", "alpha two", "beta"]
