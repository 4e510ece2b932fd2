"""The rules of the foundation, through the service's public API.

Revisions and compare-and-swap, merging edits, saved-as-a-fact, plans that
refuse to act once stale, unique names, deleting archived agents, the actor
given per call, and the stable error codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kaizen_tui.core.errors import (
    AgentNotArchived,
    Conflict,
    DamagedSnapshot,
    EditConflict,
    InvalidValue,
    KaizenError,
    NameTaken,
    StalePlan,
)
from kaizen_tui.core.merge import merge_fields
from kaizen_tui.service import EDITABLE_FIELDS, AgentService
from tests.support import raw_sql, rename_as_an_older_tool


@pytest.fixture
def agent(service: AgentService, agent_data: dict) -> dict[str, Any]:
    return service.create_agent(agent_data)


def editable(agent: dict[str, Any]) -> dict[str, Any]:
    return {key: agent[key] for key in EDITABLE_FIELDS}


# -- revisions and compare-and-swap --------------------------------------------


def test_every_change_to_the_live_config_or_status_raises_the_revision(service: AgentService, agent: dict) -> None:
    assert agent["revision"] == 1
    after = service.update(agent["id"], {"temperature": 0.2})
    assert after["revision"] == 2
    assert service.update(agent["id"], {"status": "active"})["revision"] == 3
    # No change, no new revision; a snapshot does not change the live config.
    assert service.update(agent["id"], {"status": "active"})["revision"] == 3
    service.create_version(agent["id"], "v1")
    assert service.get(agent["id"])["revision"] == 3


def test_a_stale_revision_is_a_conflict_that_says_what_changed_and_who(service: AgentService, agent: dict) -> None:
    service.update(agent["id"], {"max_tokens": 4321}, actor="alice")
    with pytest.raises(Conflict) as raised:
        service.update(agent["id"], {"temperature": 0.1}, expected_revision=1, actor="bob")
    error = raised.value
    assert error.code == "conflict"
    assert "max_tokens" in str(error) and "alice" in str(error) and "revision 1" in str(error)
    assert error.current_revision == 2
    assert [change["actor"] for change in error.changes] == ["alice"]
    now = service.get(agent["id"])
    assert now["temperature"] == 0.7 and now["max_tokens"] == 4321, "nothing was written"
    assert service.update(agent["id"], {"temperature": 0.1}, expected_revision=2)["revision"] == 3


def test_rollback_honours_the_expected_revision(service: AgentService, agent: dict) -> None:
    v1 = service.create_version(agent["id"], "v1")
    service.update(agent["id"], {"temperature": 0.3})
    plan = service.plan_rollback(agent["id"], "v1")
    service.update(agent["id"], {"max_tokens": 7}, actor="carol")
    with pytest.raises(Conflict, match="carol"):
        service.rollback_to_version(agent["id"], v1["id"], expected_revision=plan["revision"])
    assert service.get(agent["id"])["max_tokens"] == 7
    assert len(service.get_versions(agent["id"])) == 1, "no auto-save either"


def test_a_snapshot_of_a_config_that_changed_since_it_was_shown_is_a_conflict(
    service: AgentService, agent: dict
) -> None:
    plan = service.plan_snapshot(agent["id"])
    service.update(agent["id"], {"model_id": "gpt-5"}, actor="carol")
    with pytest.raises(Conflict) as raised:
        service.create_version(agent["id"], "Alice's changelog", expected_revision=plan["revision"], actor="alice")
    error = raised.value
    assert "carol" in str(error) and "model_id" in str(error)
    assert [(change["actor"], change["fields"]) for change in error.changes] == [("carol", ["model_id"])]
    assert service.get_versions(agent["id"]) == [], "nothing was saved"
    fresh = service.plan_snapshot(agent["id"], since_revision=plan["revision"])
    assert [(change["actor"], change["fields"]) for change in fresh["changes"]] == [("carol", ["model_id"])]
    version = service.create_version(
        agent["id"], "Alice's changelog", expected_revision=fresh["revision"], actor="alice"
    )
    assert json.loads(version["config_snapshot"])["model_id"] == "gpt-5"
    # The revision only guards the live config: versions saved meanwhile by others do not refuse it.
    service.create_version(agent["id"], "Bob's", actor="bob")
    service.create_version(agent["id"], "Alice's again", expected_revision=fresh["revision"], actor="alice")
    assert len(service.get_versions(agent["id"])) == 3


def test_the_snapshot_plan_says_what_a_new_version_would_hold(service: AgentService, agent: dict) -> None:
    first = service.plan_snapshot(agent["id"])
    assert (first["newest"], first["identical"], first["held_by"], first["changes"]) == (None, False, None, [])
    assert first["comparison"]["from"]["label"] == "nothing" and first["revision"] == agent["revision"]
    service.create_version(agent["id"], "v1")
    same = service.plan_snapshot(agent["id"], since_revision=agent["revision"])
    assert (same["newest"], same["identical"], same["held_by"], same["changes"]) == (1, True, 1, [])
    service.update(agent["id"], {"temperature": 0.1})
    service.create_version(agent["id"], "v2")
    service.update(agent["id"], {"temperature": 0.7})  # v1's config again
    back = service.plan_snapshot(agent["id"])
    assert (back["newest"], back["identical"], back["held_by"]) == (2, False, 1)
    assert [change["field"] for change in back["comparison"]["changes"]] == ["temperature"]
    assert (back["comparison"]["from"]["label"], back["comparison"]["to"]["label"]) == ("v2", "live")


def test_an_agent_deleted_is_named_with_who_deleted_it_and_when(service: AgentService, agent: dict) -> None:
    service.update(agent["id"], {"status": "archived"})
    service.delete_agent(agent["id"], actor="carol")
    deleted_at = service.audit_log(agent["id"], limit=1)[0]["at"]
    for operation in (
        lambda: service.get(agent["id"]),
        lambda: service.find_agent(agent["id"]),
        lambda: service.get_versions(agent["id"]),
        lambda: service.update(agent["id"], {"temperature": 0.1}),
        lambda: service.apply_edit(agent["id"], editable(agent), {**editable(agent), "temperature": 0.1}),
    ):
        with pytest.raises(KaizenError) as raised:
            operation()
        assert raised.value.code == "agent_not_found"
        assert str(raised.value) == (f"No agent {agent['id']!r}: 'Support Agent' was deleted by carol at {deleted_at}.")
        assert raised.value.deleted == {"name": "Support Agent", "by": "carol", "at": deleted_at}
    with pytest.raises(KaizenError) as raised:
        service.get("agt-never")
    assert str(raised.value) == "No agent 'agt-never'." and raised.value.deleted is None


def test_the_audit_log_keeps_old_and_new_values_of_an_update(service: AgentService, agent: dict) -> None:
    service.update(agent["id"], {"max_tokens": 4321}, actor="colleague")
    event = service.audit_log(agent["id"])[0]
    assert event["actor"] == "colleague" and event["action"] == "agent.update"
    assert event["detail"]["changes"] == {"max_tokens": {"old": 2048, "new": 4321}}
    assert event["detail"]["revision"] == 2


def test_the_actor_is_given_per_call_with_the_services_user_as_default(service: AgentService, agent: dict) -> None:
    version = service.create_version(agent["id"], "by the default user")
    other = service.create_version(agent["id"], "by a token", actor="ci-bot")
    assert version["created_by"] == "tester" and other["created_by"] == "ci-bot"
    with pytest.raises(KaizenError) as raised:
        service.create_version(agent["id"], actor="  ")
    assert raised.value.code == "invalid_value"


# -- no lost update: the editor's three-way merge ----------------------------------


def test_the_lost_update_scenario_keeps_both_changes(service: AgentService, agent: dict) -> None:
    """`e` opened; a colleague sets max_tokens; the edit of the prompt is saved: both stay."""
    opened = service.get(agent["id"])
    service.update(agent["id"], {"max_tokens": 4321}, actor="colleague")
    edited = {**editable(opened), "system_prompt": "You are terse."}
    result = service.apply_edit(agent["id"], editable(opened), edited, base_revision=opened["revision"])
    assert result["written"] == ["system_prompt"] and result["kept"] == ["max_tokens"]
    assert result["kept_by"] == ["colleague"]
    now = service.get(agent["id"])
    assert now["system_prompt"] == "You are terse." and now["max_tokens"] == 4321


def test_a_field_both_changed_is_a_conflict_with_both_values_and_nothing_is_written(
    service: AgentService, agent: dict
) -> None:
    opened = service.get(agent["id"])
    service.update(agent["id"], {"temperature": 0.2, "max_tokens": 10}, actor="colleague")
    edited = {**editable(opened), "temperature": 1.5, "description": "mine"}
    with pytest.raises(EditConflict) as raised:
        service.apply_edit(agent["id"], editable(opened), edited)
    error = raised.value
    assert error.code == "conflict"
    assert error.conflicts == [{"field": "temperature", "base": 0.7, "mine": 1.5, "theirs": 0.2}]
    assert "colleague" in str(error)
    now = service.get(agent["id"])
    assert now["description"] == "Handles inquiries", "nothing written until the person chooses"
    # The person keeps their value: the merge is done again from the agent as it is now.
    current = error.current
    chosen = {**editable(current), "temperature": 1.5, "description": "mine"}
    result = service.apply_edit(agent["id"], editable(current), chosen)
    assert sorted(result["written"]) == ["description", "temperature"]
    now = service.get(agent["id"])
    assert (now["temperature"], now["max_tokens"], now["description"]) == (1.5, 10, "mine")


def test_merge_fields_takes_only_the_persons_changes() -> None:
    base = {"a": 1, "b": 1, "c": 1, "d": 1}
    mine = {"a": 2, "b": 1, "c": 3, "d": 5}
    theirs = {"a": 1, "b": 9, "c": 3, "d": 6}
    merge = merge_fields(base, mine, theirs)
    assert merge.changes == {"a": 2}
    assert merge.kept == ["b"]
    assert merge.conflicts == [{"field": "d", "base": 1, "mine": 5, "theirs": 6}]
    # 1 and 1.0 are one value; True and 1 are not.
    assert merge_fields({"x": 1}, {"x": 1.0}, {"x": 1}).changes == {}
    assert merge_fields({"x": 1}, {"x": True}, {"x": 1}).changes == {"x": True}


# -- saved is a fact -------------------------------------------------------------


def test_saved_means_some_version_holds_the_live_config(service: AgentService, agent: dict) -> None:
    v1 = service.create_version(agent["id"], "v1")
    service.update(agent["id"], {"temperature": 0.2})
    service.create_version(agent["id"], "v2")
    rolled = service.rollback_to_version(agent["id"], v1["id"])
    assert rolled["saved_as_version"] is None, "v2 holds the live config already"
    assert rolled["unsaved_changes"] is False, "v1 holds the live config: saved, though not the newest"
    listed = {a["id"]: a for a in service.list_agents()}
    assert listed[agent["id"]]["unsaved_changes"] is False


def test_rolling_back_and_back_again_creates_no_duplicate_version(service: AgentService, agent: dict) -> None:
    v1 = service.create_version(agent["id"], "v1")
    service.update(agent["id"], {"temperature": 0.2})
    v2 = service.create_version(agent["id"], "v2")
    for target in (v1, v2, v1, v2):
        result = service.rollback_to_version(agent["id"], target["id"])
        assert result["saved_as_version"] is None
    assert [v["version_number"] for v in service.get_versions(agent["id"])] == [2, 1]


def test_a_rollback_saves_a_config_no_version_holds(service: AgentService, agent: dict) -> None:
    v1 = service.create_version(agent["id"], "v1")
    service.update(agent["id"], {"temperature": 0.2})
    plan = service.plan_rollback(agent["id"], v1["id"])
    assert plan["auto_save"] is True and plan["auto_save_changelog"] == "Auto: before rollback to v1"
    assert [change["field"] for change in plan["comparison"]["changes"]] == ["temperature"]
    result = service.rollback_to_version(agent["id"], v1["id"], expected_revision=plan["revision"])
    assert result["saved_as_version"] == 2 and result["changed"] == ["temperature"]
    saved = service.find_version(agent["id"], 2)
    assert saved["changelog"] == "Auto: before rollback to v1"
    assert json.loads(saved["config_snapshot"])["temperature"] == 0.2


def test_a_snapshot_missing_fields_added_later_is_read_with_defaults(
    service: AgentService, agent: dict, db_path: Path
) -> None:
    version = service.create_version(agent["id"], "v1")
    old_style = {"name": agent["name"], "model_id": "gpt-4", "system_prompt": "old", "temperature": 0.7}
    with raw_sql(db_path) as connection:
        connection.execute(
            "UPDATE agent_version SET config_snapshot = ? WHERE id = ?", (json.dumps(old_style), version["id"])
        )
    timeline = service.get_timeline(agent["id"])
    assert timeline[0]["damaged"] is None
    plan = service.plan_rollback(agent["id"], version["id"])
    assert plan["refused"] is None
    result = service.rollback_to_version(agent["id"], version["id"])
    assert (result["description"], result["max_tokens"], result["agent_type"]) == ("", 0, "chat")
    # Without the name or the model, a snapshot cannot be restored: damaged.
    with raw_sql(db_path) as connection:
        connection.execute(
            "UPDATE agent_version SET config_snapshot = ? WHERE id = ?", ('{"name": "x"}', version["id"])
        )
    plan = service.plan_rollback(agent["id"], version["id"])
    assert plan["refused"]["code"] == "damaged_snapshot" and "model_id" in plan["refused"]["message"]
    with pytest.raises(DamagedSnapshot):
        service.rollback_to_version(agent["id"], version["id"])


# -- plans: prune ------------------------------------------------------------------


def test_a_prune_plan_that_went_stale_is_refused_with_the_fresh_one(service: AgentService, agent: dict) -> None:
    for number in range(1, 6):
        service.update(agent["id"], {"max_tokens": number})
        service.create_version(agent["id"], f"v{number}")
    plan = service.plan_prune(agent["id"], 3)
    assert [v["version_number"] for v in plan["delete"]] == [2, 1]
    service.create_version(agent["id"], "taken meanwhile", actor="dana")
    with pytest.raises(StalePlan) as raised:
        service.prune(agent["id"], 3, plan_id=plan["plan_id"])
    assert raised.value.code == "conflict" and "dana" in str(raised.value)
    assert [v["version_number"] for v in raised.value.fresh["delete"]] == [3, 2, 1]
    assert len(service.get_versions(agent["id"])) == 6, "nothing deleted"
    result = service.prune(agent["id"], 3, plan_id=raised.value.fresh["plan_id"])
    assert result["deleted"] == 3


def test_a_prune_refused_for_a_label_set_meanwhile_names_the_label_and_who_set_it(
    service: AgentService, agent: dict
) -> None:
    for number in range(1, 5):
        service.update(agent["id"], {"max_tokens": number}, actor="root")
        service.create_version(agent["id"], f"v{number}", actor="root")
    plan = service.plan_prune(agent["id"], 2)
    assert [v["version_number"] for v in plan["delete"]] == [2, 1]
    service.set_label(agent["id"], "production", 2, actor="carol")
    with pytest.raises(StalePlan) as raised:
        service.prune(agent["id"], 2, plan_id=plan["plan_id"], actor="root")
    message = str(raised.value)
    # What changed since the preview, and only that: not root's snapshots before it.
    assert "set production → v2 by carol" in message, message
    assert "root" not in message and "added or deleted" not in message
    assert [(c["actor"], c["action"], c["summary"]) for c in raised.value.changes] == [
        ("carol", "label.set", "set production → v2")
    ]
    # A token not made by a plan (any text an HTTP client sends) is refused the same way, never an error.
    for made_up in ("stale", "0" * 16 + ".9223372036854775808", plan["plan_id"] + "0", ".-1", "a.b.c"):
        with pytest.raises(StalePlan):
            service.prune(agent["id"], 2, plan_id=made_up)
    assert [v["version_number"] for v in raised.value.fresh["delete"]] == [1]
    assert raised.value.fresh["kept_labelled"] == [
        {"version_number": 2, "id": plan["delete"][0]["id"], "labels": ["production"]}
    ]
    assert len(service.get_versions(agent["id"])) == 4, "nothing deleted"


def test_a_prune_plan_read_again_says_what_changed_since_the_one_shown(service: AgentService, agent: dict) -> None:
    for number in range(1, 5):
        service.update(agent["id"], {"max_tokens": number})
        service.create_version(agent["id"], f"v{number}")
    shown = service.plan_prune(agent["id"], 2)
    assert shown["changes"] == []
    # A change that leaves the plan as it was: the same plan, nothing to say.
    service.update(agent["id"], {"temperature": 0.3}, actor="erin")
    same = service.plan_prune(agent["id"], 2, since=shown["plan_id"])
    assert same["changes"] == [] and same["delete"] == shown["delete"]
    service.create_version(agent["id"], "v5", actor="dana")
    service.set_label(agent["id"], "staging", 1, actor="carol")
    fresh = service.plan_prune(agent["id"], 2, since=shown["plan_id"])
    assert [v["version_number"] for v in fresh["delete"]] == [3, 2]
    assert [(c["actor"], c["summary"]) for c in fresh["changes"]] == [
        ("erin", "set temperature 0.7 → 0.3"),
        ("dana", "snapshot v5"),
        ("carol", "set staging → v1"),
    ]
    # The fresh plan's id carries it out.
    assert service.prune(agent["id"], 2, plan_id=fresh["plan_id"])["deleted"] == 2


def test_a_prune_plan_warns_when_the_only_versions_holding_the_live_config_go(
    service: AgentService, agent: dict
) -> None:
    v1 = service.create_version(agent["id"], "v1")
    for number in range(2, 5):
        service.update(agent["id"], {"max_tokens": number})
        service.create_version(agent["id"], f"v{number}")
    service.rollback_to_version(agent["id"], v1["id"])
    plan = service.plan_prune(agent["id"], 2)
    assert plan["live_loses_version"] is True
    assert [v["matches_live"] for v in plan["delete"]] == [False, True]
    # Saving the live config again first: a kept version holds it, no warning.
    service.create_version(agent["id"], "keep the live config")
    assert service.plan_prune(agent["id"], 2)["live_loses_version"] is False


def test_a_prune_says_whether_the_versions_holding_the_live_config_went(service: AgentService, agent: dict) -> None:
    v1 = service.create_version(agent["id"], "v1")
    for number in range(2, 5):
        service.update(agent["id"], {"max_tokens": number})
        service.create_version(agent["id"], f"v{number}")
    service.rollback_to_version(agent["id"], v1["id"])
    service.create_version(agent["id"], "v5: v1 again")
    nothing = service.prune(agent["id"], 5)
    assert (nothing["deleted"], nothing["live_loses_version"]) == (0, False)
    held_still = service.prune(agent["id"], 4)  # v1 goes; v5 holds the live config too
    assert (held_still["deleted"], held_still["live_loses_version"]) == (1, False)
    v2 = service.find_version(agent["id"], 2)
    service.rollback_to_version(agent["id"], v2["id"])  # only v2 holds the live config now
    gone = service.prune(agent["id"], 3)
    assert (gone["deleted"], gone["oldest_deleted"], gone["live_loses_version"]) == (1, 2, True)
    assert service.get(agent["id"])["unsaved_changes"] is True


# -- names and deletion --------------------------------------------------------------


@pytest.mark.parametrize("other", ["support agent", "SUPPORT  AGENT", " Support Agent"])
def test_names_are_unique_ignoring_case(service: AgentService, agent: dict, other: str) -> None:
    with pytest.raises(NameTaken) as raised:
        service.create_agent({"name": other, "model_id": "m"})
    assert raised.value.code == "name_taken" and agent["id"] in str(raised.value)
    second = service.create_agent({"name": "Second", "model_id": "m"})
    with pytest.raises(NameTaken):
        service.update(second["id"], {"name": other})
    # Its own name in another case is a rename, not a clash.
    renamed = service.update(agent["id"], {"name": "SUPPORT AGENT"})
    assert renamed["name"] == "SUPPORT AGENT"


def test_unicode_case_folding_and_forms_name_one_name(service: AgentService) -> None:
    service.create_agent({"name": "Straße", "model_id": "m"})
    with pytest.raises(NameTaken):
        service.create_agent({"name": "STRASSE", "model_id": "m"})
    service.create_agent({"name": "R\u00e9sum\u00e9", "model_id": "m"})
    with pytest.raises(NameTaken):
        service.create_agent({"name": "re\u0301sume\u0301", "model_id": "m"})
    assert service.find_agent("RÉSUMÉ")["name"] == "R\u00e9sum\u00e9"


#: Names no URL reaches (a "/" or a dot segment), and control characters (C0, DEL, C1, bidi, U+2028).
UNREACHABLE_NAMES = ["a/b", "../x", "/", ".", "..", "tab\there", "two\nlines", "bell\x07", "del\x7f", "nel\x85",
                     "rtl\u202eevil", "isolate\u2066x", "para\u2029graph"]  # fmt: skip


@pytest.mark.parametrize("name", UNREACHABLE_NAMES)
def test_a_new_name_with_a_slash_or_a_control_character_is_refused(
    service: AgentService, agent: dict, name: str
) -> None:
    before = service.list_agents()
    with pytest.raises(InvalidValue) as refused:
        service.create_agent({"name": name, "model_id": "m"})
    assert refused.value.field == "name" and ("'/'" in str(refused.value) or "control characters" in str(
        refused.value) or "could not name" in str(refused.value))  # fmt: skip
    base = editable(agent)
    for rename in (
        lambda: service.update(agent["id"], {"name": name}),
        lambda: service.update_agent_with_version(agent["id"], {"name": name}, "rename"),
        lambda: service.apply_edit(agent["id"], base, {**base, "name": name}),
    ):
        with pytest.raises(InvalidValue):
            rename()
    assert service.list_agents() == before


def test_an_agent_named_before_the_rule_stays_reachable_by_id_and_may_keep_its_name(
    service: AgentService, agent: dict, db_path: Path
) -> None:
    rename_as_an_older_tool(db_path, agent["id"], "team/bot")
    assert [listed["name"] for listed in service.list_agents()] == ["team/bot"]
    assert service.find_agent(agent["id"])["name"] == "team/bot"
    # Changes that keep the name are not renames.
    assert service.update(agent["id"], {"temperature": 0.2, "name": "team/bot"})["name"] == "team/bot"
    current = service.get(agent["id"])
    edited = service.apply_edit(agent["id"], editable(current), {**editable(current), "temperature": 0.3})
    assert edited["agent"]["name"] == "team/bot"
    version = service.create_version(agent["id"], "named team/bot")
    service.update(agent["id"], {"name": "Team Bot"})
    # A rollback restores the name the version holds: one the agent had, not a new one.
    service.rollback_to_version(agent["id"], version["id"])
    assert service.get(agent["id"])["name"] == "team/bot"


def test_deleting_an_agent_takes_two_deliberate_steps(service: AgentService, agent: dict) -> None:
    service.create_version(agent["id"], "v1")
    service.create_version(agent["id"], "v2")
    plan = service.plan_delete_agent(agent["id"])
    assert plan["refused"]["code"] == "agent_not_archived" and plan["version_count"] == 2
    with pytest.raises(AgentNotArchived):
        service.delete_agent(agent["id"])
    assert service.get(agent["id"])["version_count"] == 2
    service.update(agent["id"], {"status": "archived"})
    assert service.plan_delete_agent(agent["id"])["refused"] is None
    result = service.delete_agent(agent["id"], actor="admin")
    assert result == {"agent_id": agent["id"], "name": "Support Agent", "versions_deleted": 2}
    assert service.list_agents() == []
    event = service.audit_log()[0]
    assert (event["action"], event["actor"], event["agent_id"]) == ("agent.delete", "admin", agent["id"])
    assert event["detail"]["name"] == "Support Agent" and event["detail"]["versions_deleted"] == 2
    # The name is free again.
    service.create_agent({"name": "support agent", "model_id": "m"})


# -- comparisons of any two of version / live / previous ---------------------------------


def test_compare_takes_versions_live_and_previous(service: AgentService, agent: dict) -> None:
    service.create_version(agent["id"], "v1")
    service.update(agent["id"], {"temperature": 0.2})
    service.create_version(agent["id"], "v2")
    service.update(agent["id"], {"max_tokens": 5})

    def fields(comparison: dict) -> list[str]:
        return [change["field"] for change in comparison["changes"]]

    assert fields(service.compare(agent["id"], "v1", "v2")) == ["temperature"]
    assert fields(service.compare(agent["id"], "v2", "live")) == ["max_tokens"]
    assert fields(service.compare(agent["id"], "live", "1")) == ["temperature", "max_tokens"]
    assert fields(service.compare(agent["id"], "previous", "v2")) == ["temperature"]
    first = service.compare(agent["id"], "previous", "v1")
    assert first["from"]["label"] == "nothing"
    with pytest.raises(KaizenError) as raised:
        service.compare(agent["id"], "previous", "live")
    assert raised.value.code == "invalid_value"
    with pytest.raises(KaizenError) as raised:
        service.compare(agent["id"], "v9", "live")
    assert raised.value.code == "version_not_found"


def test_a_deleted_version_is_named_by_number_and_who_deleted_it(service: AgentService, agent: dict) -> None:
    v1 = service.create_version(agent["id"], "v1")
    service.delete_version(v1["id"], actor="erin")
    with pytest.raises(KaizenError) as raised:
        service.find_version(agent["id"], "v1")
    assert raised.value.code == "version_not_found"
    assert "v1" in str(raised.value) and "deleted by erin" in str(raised.value)


def test_every_error_has_a_stable_code() -> None:
    import kaizen_tui.core.errors as errors

    codes = {name: getattr(errors, name).code for name in errors.__all__}
    assert all(code and code == code.lower() for code in codes.values())
    assert codes["AgentNotFound"] == "agent_not_found"
    assert codes["Conflict"] == codes["EditConflict"] == codes["StalePlan"] == "conflict"
    assert codes["InvalidValue"] == "invalid_value"


def test_get_config_is_never_stale_whoever_commits(service: AgentService, agent: dict, db_path: Path) -> None:
    """get_config keeps its answer only while nobody committed: this service, another, or another process."""
    first = service.get_config("Support Agent")
    assert first["config"]["temperature"] == 0.7 and first["agent_id"] == agent["id"]
    assert service.get_config("Support Agent") == first
    service.update(agent["id"], {"temperature": 0.2})
    assert service.get_config("Support Agent")["config"]["temperature"] == 0.2
    other = AgentService(str(db_path), user="other")
    try:
        other.update(agent["id"], {"temperature": 0.3})
    finally:
        other.close()
    again = service.get_config("Support Agent")
    assert again["config"]["temperature"] == 0.3 and again["revision"] == 3
    with raw_sql(db_path) as connection:  # another program entirely
        connection.execute("UPDATE agent SET max_tokens = 7, content_hash = 'x' WHERE id = ?", (agent["id"],))
    assert service.get_config("Support Agent")["config"]["max_tokens"] == 7


def test_a_version_deleted_meanwhile_is_named_by_number_not_by_id(service: AgentService, agent: dict) -> None:
    """A dialog holding a version's id: the error says 'v1 ... deleted meanwhile by', never 'ver-…'."""
    v1 = service.create_version(agent["id"], "v1")
    service.update(agent["id"], {"temperature": 0.2})
    service.delete_version(v1["id"], actor="frank")
    for attempt in (
        lambda: service.rollback_to_version(agent["id"], v1["id"]),
        lambda: service.plan_rollback(agent["id"], v1["id"]),
    ):
        with pytest.raises(KaizenError) as raised:
            attempt()
        assert raised.value.code == "version_not_found"
        assert "v1 of Support Agent (deleted meanwhile by frank" in str(raised.value)
        assert v1["id"] not in str(raised.value)
