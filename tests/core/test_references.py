"""Version references, through the service: a label is a version wherever a version is taken; paging by a
reference; a snapshot only when the live config is not saved yet.

A reference is tried in this order: a version number (``3``, ``v3``), a
version id, ``latest``, ``live`` (the live config: not a version), then the
agent's labels; anything else is one error naming the agent.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kaizen_tui.core.errors import InvalidValue, UnknownVersionRef, VersionNotFound
from kaizen_tui.core.schema import snapshot_json
from kaizen_tui.service import AgentService, agent_config
from tests.support import Clock, at_once, raw_sql


@pytest.fixture
def bot(service: AgentService) -> dict[str, Any]:
    """Bot with v1..v4 (temperature 0.1 .. 0.4; live = v4), production on v1 and staging on v3."""
    service.clock = Clock()
    agent = service.create_agent({"name": "Bot", "model_id": "m", "temperature": 0.1})
    versions = [service.create_version(agent["id"], "one")]
    for temperature, changelog in ((0.2, "two"), (0.3, "three"), (0.4, "four")):
        service.update(agent["id"], {"temperature": temperature})
        versions.append(service.create_version(agent["id"], changelog))
    service.set_label("Bot", "production", 1)
    service.set_label("Bot", "staging", 3)
    return {"id": agent["id"], "versions": versions}


def put_raw_label(db_path: Path | str, agent_id: str, label: str, version_id: str) -> None:
    """A label written by an older kaizen-tui, whose names were not yet kept apart from version references."""
    with raw_sql(db_path) as connection:
        connection.execute(
            "INSERT INTO agent_label (agent_id, label, version_id, updated_by, updated_at) VALUES (?, ?, ?, ?, ?)",
            (agent_id, label, version_id, "old-tool", "2026-01-01T00:00:00Z"),
        )


def test_a_label_names_the_version_it_points_at_wherever_a_version_is_taken(
    service: AgentService, bot: dict[str, Any]
) -> None:
    assert service.find_version(bot["id"], "production")["version_number"] == 1
    compared = service.compare(bot["id"], "production", "staging")
    assert (compared["from"]["version_number"], compared["to"]["version_number"]) == (1, 3)
    assert compared["changes"][0]["old"] == 0.1 and compared["changes"][0]["new"] == 0.3
    assert service.compare(bot["id"], "previous", "staging")["from"]["version_number"] == 2
    plan = service.plan_rollback(bot["id"], "staging")
    assert plan["version"]["version_number"] == 3
    resolved = service.resolve_config("Bot", version="staging")
    assert (resolved["version_number"], resolved["config"]["temperature"]) == (3, 0.3)
    canary = service.set_label("Bot", "canary", "staging")
    assert canary["version_number"] == 3, "a new label where staging points"
    moved = service.plan_label_move("Bot", "production", "latest")
    assert (moved["from"]["version_number"], moved["to"]["version_number"]) == (1, 4)


def test_a_rollback_to_a_label_goes_where_it_points_in_the_rollback_s_transaction(
    service: AgentService, bot: dict[str, Any]
) -> None:
    service.set_label("Bot", "production", 2)
    result = service.rollback_to_version(bot["id"], "production")
    assert result["temperature"] == 0.2
    events = service.audit_log(bot["id"], limit=1)
    assert (events[0]["action"], events[0]["detail"]["to_version"]) == ("version.rollback", 2)


def test_latest_is_the_newest_version(service: AgentService, bot: dict[str, Any]) -> None:
    assert service.find_version(bot["id"], "latest")["version_number"] == 4
    assert service.find_version(bot["id"], " LATEST ")["version_number"] == 4
    empty = service.create_agent({"name": "Empty", "model_id": "m"})
    with pytest.raises(VersionNotFound, match="No version latest of Empty \\(it has no version yet\\)"):
        service.find_version(empty["id"], "latest")


def test_a_version_number_wins_over_a_label_spelled_the_same(
    service: AgentService, bot: dict[str, Any], db_path: Path
) -> None:
    put_raw_label(db_path, bot["id"], "v2", bot["versions"][3]["id"])  # "v2" names v4
    assert service.find_version(bot["id"], "v2")["version_number"] == 2
    assert service.compare(bot["id"], "v2", "live")["from"]["version_number"] == 2
    # The label itself is still reached by its name, where only labels are taken.
    assert service.resolve_config("Bot", label="v2")["version_number"] == 4
    assert service.set_label("Bot", "v2", 3)["version_number"] == 3, "an existing label still moves"


def test_a_version_id_and_live_come_before_labels(service: AgentService, bot: dict[str, Any], db_path: Path) -> None:
    put_raw_label(db_path, bot["id"], "live", bot["versions"][0]["id"])
    service.update(bot["id"], {"temperature": 0.9})
    compared = service.compare(bot["id"], "v4", "live")
    assert compared["to"]["version_number"] is None and compared["changes"][0]["new"] == 0.9, "the live config"
    with pytest.raises(VersionNotFound, match="'live' means the live config, not a version"):
        service.rollback_to_version(bot["id"], "live")
    v2 = bot["versions"][1]["id"]
    assert service.find_version(bot["id"], v2)["version_number"] == 2


def test_an_unknown_reference_is_one_error_naming_the_agent_and_its_labels(
    service: AgentService, bot: dict[str, Any]
) -> None:
    agent = service.get(bot["id"])
    for call in (
        lambda: service.find_version(bot["id"], "stagign"),
        lambda: service.compare(bot["id"], "stagign", "live"),
        lambda: service.rollback_to_version(bot["id"], "stagign"),
        lambda: service.set_label("Bot", "canary", "stagign"),
    ):
        with pytest.raises(UnknownVersionRef) as raised:
            call()
        assert (
            str(raised.value) == "'stagign' is neither a version nor a label of Bot (its labels: production, staging)."
        )
        assert raised.value.code == "version_not_found"
    assert service.get(bot["id"]) == agent, "nothing changed"
    assert [row["label"] for row in service.list_labels("Bot")] == ["production", "staging"]
    other = service.create_agent({"name": "Other", "model_id": "m"})
    with pytest.raises(
        UnknownVersionRef, match=r"'prod' is neither a version nor a label of Other \(it has no labels\)"
    ):
        service.find_version(other["id"], "prod")


@pytest.mark.parametrize("name", ["v7", "v0", "live", "previous"])
def test_a_new_label_may_not_be_named_like_another_reference(
    service: AgentService, bot: dict[str, Any], name: str
) -> None:
    with pytest.raises(InvalidValue) as raised:
        service.set_label("Bot", name, 1)
    assert raised.value.field == "label"
    with pytest.raises(InvalidValue):
        service.plan_label_move("Bot", name, 1)
    assert [row["label"] for row in service.list_labels("Bot")] == ["production", "staging"]


# -- paging ----------------------------------------------------------------------------------------


def test_versions_page_back_from_any_reference(service: AgentService, bot: dict[str, Any]) -> None:
    def numbers(entries: list[dict[str, Any]]) -> list[int]:
        return [entry["version_number"] for entry in entries]

    assert numbers(service.get_timeline(bot["id"], limit=2)) == [4, 3]
    assert numbers(service.get_timeline(bot["id"], limit=2, before="v3")) == [2, 1]
    assert numbers(service.get_timeline(bot["id"], before="staging")) == [2, 1]
    assert numbers(service.get_timeline(bot["id"], limit=1, before="latest")) == [3]
    assert numbers(service.get_timeline(bot["id"], before="production")) == []
    assert numbers(service.get_versions_with_config(bot["id"], limit=2, before=bot["versions"][3]["id"])) == [
        3,
        2,
    ]
    page = service.get_versions_with_config(bot["id"], limit=1, before="v2")
    assert (page[0]["labels"], page[0]["config"]["temperature"]) == (["production"], 0.1)
    with pytest.raises(UnknownVersionRef):
        service.get_timeline(bot["id"], before="nope")


# -- a snapshot only when something changed ------------------------------------------------------


def test_a_snapshot_if_changed_creates_nothing_when_a_version_holds_the_live_config(
    service: AgentService, bot: dict[str, Any]
) -> None:
    service.update(bot["id"], {"temperature": 0.2})  # what v2 holds
    found = service.create_version_if_changed(bot["id"], "again")
    assert (found["created"], found["version_number"], found["changelog"]) == (False, 2, "two")
    assert service.get(bot["id"])["version_count"] == 4
    service.update(bot["id"], {"temperature": 0.5})
    made = service.create_version_if_changed(bot["id"], "warmer", actor="alice")
    assert (made["created"], made["version_number"], made["changelog"], made["created_by"]) == (
        True,
        5,
        "warmer",
        "alice",
    )
    again = service.create_version_if_changed(bot["id"], "warmer")
    assert (again["created"], again["id"]) == (False, made["id"])


def test_a_snapshot_if_changed_reads_versions_another_tool_wrote_without_a_hash(
    service: AgentService, bot: dict[str, Any], db_path: Path
) -> None:
    agent = service.update(bot["id"], {"temperature": 0.7})
    with raw_sql(db_path) as connection:
        connection.execute(
            "INSERT INTO agent_version (id, agent_id, version_number, config_snapshot, changelog, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                "ver-by-another-tool",
                bot["id"],
                9,
                snapshot_json(agent_config(agent)),
                "imported",
                "x",
                "2026-01-01T00:00:00Z",
            ),
        )
    found = service.create_version_if_changed(bot["id"])
    assert (found["created"], found["version_number"]) == (False, 9)


def test_snapshots_if_changed_at_once_create_one_version(
    service: AgentService, bot: dict[str, Any], db_path: Path
) -> None:
    service.update(bot["id"], {"temperature": 1.5})
    others = [AgentService(str(db_path), user=f"writer{n}") for n in range(3)]
    try:
        results = at_once(*(partial(other.create_version_if_changed, bot["id"]) for other in others))
    finally:
        for other in others:
            other.close()
    assert sorted(result["created"] for result in results) == [False, False, True]
    assert {result["version_number"] for result in results} == {5}
    assert service.get(bot["id"])["version_count"] == 5


def test_update_with_version_saves_the_reason_as_typed_and_never_saves_twice(
    service: AgentService, bot: dict[str, Any]
) -> None:
    kept = service.update_agent_with_version(bot["id"], {"temperature": 0.9}, "before tuning")
    assert (kept["saved_as_version"], kept["held_by_version"], kept["version_count"]) == (None, 4, 4)
    assert kept["temperature"] == 0.9
    saved = service.update_agent_with_version(bot["id"], {"temperature": 1.0}, "Before the rewrite")
    assert (saved["saved_as_version"], saved["held_by_version"], saved["version_count"]) == (5, 5, 5)
    version = service.find_version(bot["id"], "latest")
    assert version["changelog"] == "Before the rewrite", "as typed: no 'Auto: '"
    assert json.loads(version["config_snapshot"])["temperature"] == 0.9
