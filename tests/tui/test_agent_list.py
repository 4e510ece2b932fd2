"""The agents list with many agents: it draws only what is on screen, and every key still works."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.main import MainScreen
from tests.support import press, running_app, settle

AGENTS = 1200


@pytest.fixture
def many(service: AgentService) -> list[str]:
    """1,200 agents named ``agent 0000`` .. ``agent 1199``; the even ones have a version."""
    names = []
    for number in range(AGENTS):
        agent = service.create_agent({"name": f"agent {number:04d}", "model_id": "m", "status": "active"})
        if number % 2 == 0:
            service.create_version(agent["id"])
        names.append(agent["name"])
    return names


def shown_lines(screen: MainScreen) -> list[str]:
    """The text of the agents list as drawn, header first."""
    table = screen.agents_table
    return [table.render_line(y).text for y in range(table.scrollable_content_region.height)]


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_g_and_G_reach_both_ends_of_a_long_list(service: AgentService, many: list[str]) -> None:
    async with running_app(service, size=(100, 30)) as pilot:
        app = pilot.app
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.query_one("#agents-pane").border_title == f"Agents ({AGENTS})"
        lines = shown_lines(screen)
        assert "Name" in lines[0] and "Vers" in lines[0]
        assert "agent 0000" in lines[1]

        await press(pilot, "G")
        assert screen.agents_table.cursor_key == screen.agent_id
        assert screen.agents_table.agent(screen.agent_id)["name"] == "agent 1199"
        assert any("agent 1199" in line for line in shown_lines(screen))
        assert "agent 1199" in str(screen.query_one("#timeline-pane").border_title)

        await press(pilot, "g")
        assert screen.agents_table.agent(screen.agent_id)["name"] == "agent 0000"
        assert "agent 0000" in shown_lines(screen)[1]


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_page_keys_move_by_what_is_visible(service: AgentService, many: list[str]) -> None:
    async with running_app(service, size=(100, 30)) as pilot:
        app = pilot.app
        screen = app.screen
        table = screen.agents_table
        visible_rows = len(shown_lines(screen)) - 1
        await press(pilot, "pagedown")
        assert table.cursor_row == visible_rows
        assert any(f"agent {visible_rows:04d}" in line for line in shown_lines(screen))
        await press(pilot, "j", "j", "k")
        assert table.cursor_row == visible_rows + 1
        await press(pilot, "pageup")
        assert table.cursor_row == 1


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_a_click_picks_an_agent_and_a_second_click_opens_its_timeline(
    service: AgentService, many: list[str]
) -> None:
    async with running_app(service, size=(100, 30)) as pilot:
        app = pilot.app
        screen = app.screen
        table = screen.agents_table
        await pilot.click(table, offset=(5, 4))  # line 0 is the header: row 3
        await settle(pilot)
        assert table.agent(screen.agent_id)["name"] == "agent 0003"
        assert screen.focused is table
        await pilot.click(table, offset=(5, 4))
        await settle(pilot)
        assert screen.focused is screen.timeline


async def test_the_list_follows_changes_and_keeps_its_cursor(
    service: AgentService, many: list[str], db_path: Path
) -> None:
    async with running_app(service, size=(100, 30)) as pilot:
        app = pilot.app
        screen = app.screen
        await press(pilot, "G")
        chosen = screen.agent_id
        # Another process snapshots an agent near the top and adds one that sorts first.
        other = AgentService(str(db_path), user="someone")
        try:
            first = other.find_agent("agent 0001")["id"]
            other.create_version(first)
            other.create_agent({"name": "aaa newcomer", "model_id": "m"})
            renamed = other.find_agent("agent 0005")["id"]
            other.update(renamed, {"name": "zzz renamed"})
        finally:
            other.close()
        for _ in range(40):
            await pilot.pause(0.1)
            if len(screen.agents_table.agents) == AGENTS + 1:
                break
        await settle(pilot)
        table = screen.agents_table
        assert len(table.agents) == AGENTS + 1
        assert table.cursor_key == chosen  # still on agent 1199, now one row further down
        assert table.agent(first)["version_count"] == 1
        # Exactly what a full read of the database gives, in its order.
        assert [agent["id"] for agent in table.agents] == [agent["id"] for agent in service.list_agents()]
        assert table.agents[-1]["id"] == renamed
        await press(pilot, "g")
        assert table.agent(screen.agent_id)["name"] == "aaa newcomer"


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_at_80x24_the_focused_agents_list_shows_five_agents(service: AgentService, many: list[str]) -> None:
    async with running_app(service, size=(80, 24)) as pilot:
        app = pilot.app
        screen = app.screen
        assert screen.focused is screen.agents_table
        agent_lines = [line for line in shown_lines(screen)[1:] if line.strip()]
        assert len(agent_lines) >= 5


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_a_narrow_list_gives_the_names_the_room(service: AgentService) -> None:
    """At 40 columns type and status give way, so a long name is shown whole."""
    service.create_agent({"name": "Invoice Extraction Pipeline", "model_id": "m", "agent_type": "pipeline"})
    async with running_app(service, size=(40, 12)) as pilot:
        app = pilot.app
        lines = shown_lines(app.screen)
        assert "Type" not in lines[0] and "Vers" in lines[0]
        assert "Invoice Extraction Pipeline" in lines[1]
    async with running_app(service, size=(100, 30)) as pilot:
        app = pilot.app
        assert "Type" in shown_lines(app.screen)[0]
