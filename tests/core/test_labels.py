"""Labels with a ledger, through the service: set, move, compare-and-swap, protection, time travel, retention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kaizen_tui.core.errors import (
    DamagedSnapshot,
    InvalidValue,
    KaizenError,
    LabelConflict,
    LabelNotFound,
    ProtectedLabel,
    VersionLabelled,
)
from kaizen_tui.service import AgentService
from tests.support import Clock, at_once, raw_sql, write_raw_snapshot


@pytest.fixture
def bot(service: AgentService) -> dict[str, Any]:
    """An agent with three versions (temperature 0.1, 0.2, 0.3), on a clock that moves an hour per write."""
    service.clock = Clock()
    agent = service.create_agent({"name": "Bot", "model_id": "m", "temperature": 0.1})
    versions = [service.create_version(agent["id"], "one")]
    for temperature, changelog in ((0.2, "two"), (0.3, "three")):
        service.update(agent["id"], {"temperature": temperature})
        versions.append(service.create_version(agent["id"], changelog))
    return {"id": agent["id"], "versions": versions}


def test_set_and_move_a_label_and_read_the_ledger(service: AgentService, bot: dict[str, Any]) -> None:
    created = service.set_label("Bot", "production", 1, reason="launch", actor="alice")
    assert (created["version_number"], created["from_version_number"], created["moved"]) == (1, None, True)
    moved = service.set_label("Bot", "production", "v3", expected=1, reason="better answers", actor="bob")
    assert (moved["version_number"], moved["from_version_number"], moved["updated_by"]) == (3, 1, "bob")
    assert [(row["label"], row["version_number"]) for row in service.list_labels(bot["id"])] == [("production", 3)]
    history = service.label_history("Bot")
    assert [(e["action"], e["from_version"], e["to_version"], e["actor"], e["reason"]) for e in history] == [
        ("move", 1, 3, "bob", "better answers"),
        ("set", None, 1, "alice", "launch"),
    ]
    actions = [event["action"] for event in service.audit_log(bot["id"])]
    assert actions[:2] == ["label.move", "label.set"]


def test_a_stale_expectation_moves_nothing_and_says_where_the_label_is(
    service: AgentService, bot: dict[str, Any]
) -> None:
    service.set_label("Bot", "production", 1, actor="alice")
    with pytest.raises(LabelConflict, match=r"points at v1 \(moved by alice") as raised:
        service.set_label("Bot", "production", 3, expected=2)
    assert raised.value.current == 1
    with pytest.raises(LabelConflict, match="not as expected"):
        service.set_label("Bot", "production", 3, expected=None)  # "create it": it exists
    with pytest.raises(LabelConflict, match="is not set"):
        service.set_label("Bot", "staging", 3, expected=2)
    assert service.list_labels("Bot")[0]["version_number"] == 1
    assert len(service.label_history("Bot")) == 1


def test_two_people_moving_the_same_label_at_once_one_wins_the_other_is_told(
    service: AgentService, bot: dict[str, Any], db_path: Path
) -> None:
    service.set_label("Bot", "production", 1)
    other = AgentService(str(db_path), user="bob")
    try:
        results = at_once(
            lambda: service.set_label("Bot", "production", 2, expected=1),
            lambda: other.set_label("Bot", "production", 3, expected=1),
            exceptions=True,
        )
    finally:
        other.close()
    assert sum(isinstance(result, LabelConflict) for result in results) == 1
    winner = next(result for result in results if isinstance(result, dict))
    assert service.list_labels("Bot")[0]["version_number"] == winner["version_number"]
    assert len(service.label_history("Bot")) == 2


def test_setting_a_label_where_it_points_writes_nothing(service: AgentService, bot: dict[str, Any]) -> None:
    service.set_label("Bot", "production", 2)
    again = service.set_label("Bot", "production", 2, expected=2)
    assert again["moved"] is False
    assert len(service.label_history("Bot")) == 1


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("Production", "lower-case"),
        ("7", "only digits"),
        ("latest", "reserved"),
        ("history", "reserved"),
        ("pro duction", "lower-case"),
        ("", "empty"),
        ("x" * 64, "at most 63"),
    ],
)
def test_bad_label_names_are_refused_by_what_is_wrong(
    service: AgentService, bot: dict[str, Any], name: str, problem: str
) -> None:
    with pytest.raises(InvalidValue, match=problem):
        service.set_label("Bot", name, 1)
    assert service.list_labels("Bot") == []


def test_a_protected_label_moves_only_when_a_person_confirmed(service: AgentService, bot: dict[str, Any]) -> None:
    service.set_label("Bot", "production", 1)
    assert service.protect_label("production")["changed"] is True
    assert service.protect_label("production")["changed"] is False
    with pytest.raises(ProtectedLabel, match="production"):
        service.set_label("Bot", "production", 2)
    with pytest.raises(ProtectedLabel):
        service.remove_label("Bot", "production")
    moved = service.set_label("Bot", "production", 2, allow_protected=True)
    assert moved["protected"] is True and moved["version_number"] == 2
    service.unprotect_label("production")
    service.set_label("Bot", "production", 3)
    assert [row["label"] for row in service.protected_labels()] == []


def test_a_damaged_version_is_never_labelled(service: AgentService, bot: dict[str, Any], db_path: Path) -> None:
    write_raw_snapshot(db_path, bot["versions"][1]["id"])
    with pytest.raises(DamagedSnapshot):
        service.set_label("Bot", "production", 2)
    plan = service.plan_label_move("Bot", "production", 2)
    assert plan["refused"]["code"] == "damaged_snapshot"
    assert service.list_labels("Bot") == []


def test_the_config_of_a_label_on_a_version_damaged_since_names_that_version(
    service: AgentService, bot: dict[str, Any], db_path: Path
) -> None:
    """Labelled while good, then damaged by another tool: what the label names cannot be served, and is named."""
    service.set_label("Bot", "production", 2)
    v2 = bot["versions"][1]
    assert service.resolve_config("Bot", label="production")["version_number"] == 2  # kept by the service
    write_raw_snapshot(db_path, v2["id"], '{"name": "Bot", "model_id": "m", "temperature": "hot"}')
    for asked in ({"label": "production"}, {"version": 2}, {"version": v2["id"]}):
        with pytest.raises(DamagedSnapshot) as raised:
            service.resolve_config("Bot", **asked)
        assert (raised.value.version_number, raised.value.version_id) == (2, v2["id"])
        assert "temperature" in str(raised.value) and "v2" in str(raised.value)
    with pytest.raises(DamagedSnapshot, match=r"v2 \(label production\)"):
        service.resolve_config("Bot", label="production")


def test_the_ledger_is_append_only_in_the_database(service: AgentService, bot: dict[str, Any], db_path: Path) -> None:
    service.set_label("Bot", "production", 1)
    for statement in ("UPDATE label_event SET actor = 'mallory'", "DELETE FROM label_event"):
        with pytest.raises(Exception, match="append-only"), raw_sql(db_path) as connection:
            connection.execute(statement)
    assert [entry["actor"] for entry in service.label_history("Bot")] == ["tester"]


def test_config_of_a_label_a_version_latest_and_the_live_one(service: AgentService, bot: dict[str, Any]) -> None:
    service.set_label("Bot", "production", 2)
    production = service.resolve_config("Bot", label="production")
    assert (production["version_number"], production["config"]["temperature"]) == (2, 0.2)
    assert production["content_hash"] and production["label"] == "production"
    assert service.resolve_config("Bot", version=1)["config"]["temperature"] == 0.1
    assert service.resolve_config("Bot", label="latest")["version_number"] == 3
    service.update(bot["id"], {"temperature": 0.9})
    live = service.resolve_config("Bot")
    assert live["version_number"] is None and live["config"]["temperature"] == 0.9
    with pytest.raises(LabelNotFound, match="staging"):
        service.resolve_config("Bot", label="staging")
    with pytest.raises(InvalidValue, match="not both"):
        service.resolve_config("Bot", label="production", version=1)


def test_what_a_label_named_at_a_time_comes_from_the_ledger(service: AgentService, bot: dict[str, Any]) -> None:
    # Set at 07:00, moved at 08:00, removed at 09:00.
    for hour, change in (
        (7, lambda: service.set_label("Bot", "production", 1)),
        (8, lambda: service.set_label("Bot", "production", 3)),
    ):
        service.clock = lambda hour=hour: f"2026-11-01T{hour:02d}:00:00Z"
        change()
    service.clock = lambda: "2026-11-01T09:00:00Z"
    service.remove_label("Bot", "production", expected=3)
    assert service.resolve_config("Bot", label="production", at="2026-11-01T07:30:00Z")["version_number"] == 1
    assert service.resolve_config("Bot", label="production", at="2026-11-01 08:00")["version_number"] == 3
    with pytest.raises(LabelNotFound, match="removed it"):
        service.resolve_config("Bot", label="production", at="2026-11-01T09:30:00Z")
    with pytest.raises(LabelNotFound, match="only later"):
        service.resolve_config("Bot", label="production", at="2026-11-01")
    with pytest.raises(InvalidValue, match="not a time"):
        service.resolve_config("Bot", label="production", at="yesterday")


def test_prune_keeps_labelled_versions_and_its_plan_says_so(service: AgentService, bot: dict[str, Any]) -> None:
    service.set_label("Bot", "production", 1)
    plan = service.plan_prune(bot["id"], 1)
    assert [entry["version_number"] for entry in plan["delete"]] == [2]
    assert [(kept["version_number"], kept["labels"]) for kept in plan["kept_labelled"]] == [(1, ["production"])]
    result = service.prune(bot["id"], 1, plan_id=plan["plan_id"])
    assert result["deleted"] == 1
    assert [v["version_number"] for v in service.get_versions(bot["id"])] == [3, 1]
    assert service.cleanup_old_versions(bot["id"], 1) == 0


def test_deleting_a_labelled_version_is_refused_naming_its_labels(service: AgentService, bot: dict[str, Any]) -> None:
    service.set_label("Bot", "production", 2)
    service.set_label("Bot", "canary", 2)
    with pytest.raises(VersionLabelled, match="canary, production"):
        service.delete_version(bot["versions"][1]["id"])
    assert len(service.get_versions(bot["id"])) == 3


def test_the_timeline_shows_each_versions_labels(service: AgentService, bot: dict[str, Any]) -> None:
    service.set_label("Bot", "staging", 3)
    service.set_label("Bot", "production", 3)
    service.set_label("Bot", "canary", 1)
    timeline = service.get_timeline(bot["id"])
    assert [entry["labels"] for entry in timeline] == [["production", "staging"], [], ["canary"]]


def test_deleting_an_agent_removes_its_labels_and_the_ledger_remembers(
    service: AgentService, bot: dict[str, Any], db_path: Path
) -> None:
    service.set_label("Bot", "production", 2)
    service.update(bot["id"], {"status": "archived"})
    service.delete_agent(bot["id"])
    with raw_sql(db_path) as connection:
        rows = connection.execute("SELECT label, to_version_id, reason FROM label_event ORDER BY id").fetchall()
    assert [(row[0], row[1], row[2]) for row in rows][-1] == ("production", None, "the agent was deleted")


def test_a_label_of_an_unknown_agent_or_version_is_a_clear_error(service: AgentService, bot: dict[str, Any]) -> None:
    with pytest.raises(KaizenError, match="No agent"):
        service.set_label("Nobody", "production", 1)
    with pytest.raises(KaizenError, match="No version v9"):
        service.set_label("Bot", "production", 9)
    with pytest.raises(LabelNotFound):
        service.remove_label("Bot", "production")


def test_the_prune_itself_says_which_versions_it_kept_for_their_labels(
    service: AgentService, bot: dict[str, Any]
) -> None:
    service.set_label("Bot", "production", 1)
    result = service.prune(bot["id"], 1)
    assert [(kept["version_number"], kept["labels"]) for kept in result["kept_labelled"]] == [(1, ["production"])]


def test_a_label_config_polled_again_is_not_read_again_until_someone_commits(
    service: AgentService, bot: dict[str, Any], db_path: Path
) -> None:
    service.set_label("Bot", "production", 2)
    first = service.resolve_config("Bot", label="production")
    first["config"]["temperature"] = 99  # the caller's copy: the cache does not see it
    again = service.resolve_config("Bot", label="production")
    assert again["config"]["temperature"] == 0.2
    other = AgentService(str(db_path), user="bob")
    try:
        other.set_label("Bot", "production", 3, expected=2)
    finally:
        other.close()
    moved = service.resolve_config("Bot", label="production")
    assert (moved["version_number"], moved["config"]["temperature"]) == (3, 0.3)
