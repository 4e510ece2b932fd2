"""The demo database is complete: varied agents with realistic histories."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaizen_tui.core.errors import KaizenError
from kaizen_tui.demo import demo_db_path, ensure_demo_database, seed_demo
from kaizen_tui.service import AgentService


@pytest.fixture
def demo(service: AgentService) -> AgentService:
    seed_demo(service)
    return service


def test_demo_has_varied_agents_with_realistic_histories(demo: AgentService) -> None:
    agents = demo.list_agents()
    assert len(agents) >= 5
    assert {a["agent_type"] for a in agents} == {"chat", "task", "pipeline", "custom"}
    assert all(3 <= a["version_count"] <= 12 for a in agents)
    assert any(len(a["system_prompt"].encode()) > 4096 for a in agents)
    assert any(a["extra"].get("tools") for a in agents)
    assert [a["name"] for a in agents if a["unsaved_changes"]] == ["Onboarding Concierge"]
    for agent in agents:
        versions = demo.get_versions(agent["id"])
        prompts = {v["config_snapshot"] for v in versions}
        assert "\n" in agent["system_prompt"]
        assert all(v["changelog"] for v in versions)
        assert len(prompts) >= 2 or agent["name"] == "Onboarding Concierge"
        assert len({v["created_by"] for v in versions} | {agent["created_by"]}) >= 1


def test_demo_times_are_spread_over_past_weeks(demo: AgentService) -> None:
    agents = demo.list_agents()
    times = sorted([v["created_at"] for a in agents for v in demo.get_versions(a["id"])])
    assert times[0].startswith("2026-09") and times[-1] >= "2026-10-20"
    assert demo.user == "tester" and demo.clock() > "2026-11", "seeding restores the service's user and clock"


def test_seeding_refuses_a_database_with_agents(demo: AgentService) -> None:
    with pytest.raises(KaizenError, match="already has agents"):
        seed_demo(demo)


def test_ensure_demo_database_fills_once_and_keeps_changes(tmp_path: Path) -> None:
    path = ensure_demo_database(None)
    assert Path(path) == demo_db_path() and demo_db_path().is_relative_to(tmp_path)
    service = AgentService(path)
    try:
        first = service.list_agents()
        service.update(first[0]["id"], {"temperature": 1.9})
    finally:
        service.close()
    ensure_demo_database(None)
    service = AgentService(path)
    try:
        again = service.list_agents()
    finally:
        service.close()
    assert len(again) == len(first) and again[0]["temperature"] == 1.9


def test_demo_read_only_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "ro.db"
    assert ensure_demo_database(str(target), read_only=True) == str(target)
    assert not target.exists()


def test_demo_started_by_several_processes_at_once_is_filled_once(tmp_path: Path) -> None:
    import subprocess
    import sys

    target = tmp_path / "race.db"
    code = "import sys; from kaizen_tui.demo import ensure_demo_database; ensure_demo_database(sys.argv[1])"
    processes = [subprocess.Popen([sys.executable, "-c", code, str(target)], stderr=subprocess.PIPE) for _ in range(3)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    service = AgentService(str(target))
    try:
        agents = service.list_agents()
    finally:
        service.close()
    assert len(agents) == 6 and len({a["name"] for a in agents}) == 6


def test_the_demo_database_a_user_opens_has_its_labels_and_their_ledger(db_path: Path) -> None:
    """--demo copies the demo in from a scratch file: labels, the ledger and protected names come too."""
    target = ensure_demo_database(str(db_path))
    service = AgentService(target)
    try:
        agents = service.list_agents()
        labels = [row for agent in agents for row in service.list_labels(agent["id"])]
        ledger = [entry for agent in agents for entry in service.label_history(agent["id"])]
        assert any(row["label"] == "production" and row["protected"] for row in labels)
        assert len(ledger) > len(labels), "the labels have a history"
    finally:
        service.close()
