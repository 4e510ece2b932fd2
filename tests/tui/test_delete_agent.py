"""Pilot tests: D deletes an agent in two deliberate steps, archive then delete, each with a dialog."""

from __future__ import annotations

from typing import Any

from textual.widgets import Button, Static

from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.plans import DeleteAgentModal
from kaizen_tui.tui.widgets.chrome import KeyBar
from tests.support import (
    audit_actions,
    main_screen,
    press,
    running_app,
    screen_text,
    settle,
    toasts,
)


async def press_D(pilot: Any) -> str:
    """Press D: the dialog opens with Cancel focused. What the screen shows."""
    await press(pilot, "D")
    modal = pilot.app.screen
    assert isinstance(modal, DeleteAgentModal)
    assert modal.focused is modal.query_one("#cancel", Button)
    return screen_text(pilot.app)


async def test_D_archives_an_agent_first_then_deletes_it(service, ids):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "j")
        assert screen.agent_id == ids["support"]
        text = await press_D(pilot)
        assert "Archive Support Agent?" in text
        assert "only an archived agent can be deleted" in text
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.get(ids["support"])["status"] == "archived"
        assert "Archived Support Agent; D again deletes it" in toasts(pilot.app)

        text = await press_D(pilot)
        assert "Delete Support Agent?" in text
        assert ids["support"] in text and "3 versions" in text and "This cannot be undone." in text
        await press(pilot, "enter")  # Cancel has focus
        assert isinstance(pilot.app.screen, MainScreen)
        assert len(service.list_agents()) == 2

        await press(pilot, "D", "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert [agent["name"] for agent in service.list_agents()] == ["Billing Bot"]
        assert "Deleted agent Support Agent and its 3 versions" in toasts(pilot.app)
        assert [agent["name"] for agent in screen.agents_table.agents] == ["Billing Bot"]
    assert audit_actions(service, "agent.delete") == 1


async def test_D_on_an_agent_changed_meanwhile_shows_the_fresh_plan(service, ids):
    service.update(ids["support"], {"status": "archived"})
    async with running_app(service) as pilot:
        await press(pilot, "j", "D")
        modal = pilot.app.screen
        assert isinstance(modal, DeleteAgentModal)
        service.update(ids["support"], {"status": "active"}, actor="colleague")
        await press(pilot, "y")
        assert pilot.app.screen is modal  # nothing deleted: it is not archived any more
        assert len(service.list_agents()) == 2
        note = modal.query_one("#plan-note", Static).content.plain
        assert note.startswith("⚠ Changed meanwhile by colleague (status): nothing was changed.")
        assert "only an archived agent can be deleted" in note
        await press(pilot, "n")
    assert len(service.list_agents()) == 2


async def test_D_is_in_the_key_bar_of_the_agents_and_in_the_palette(service, ids):
    async with running_app(service, size=(160, 30)) as pilot:
        screen = main_screen(pilot.app)
        assert "D delete agent" in screen.query_one("#keys", KeyBar).render().plain
        await press(pilot, "enter")  # the timeline: D is the agents list's key
        assert "D delete agent" not in screen.query_one("#keys", KeyBar).render().plain
        command = next(c for c in pilot.app.get_system_commands(screen) if c.title == "Delete agent")
        pilot.app.call_later(command.callback)
        await settle(pilot)
        assert isinstance(pilot.app.screen, DeleteAgentModal)  # on the agent under the agents cursor
        assert pilot.app.screen.agent["id"] == ids["billing"]
        await press(pilot, "n")
    assert len(service.list_agents()) == 2


async def test_D_fits_a_tiny_terminal(service, ids):
    service.update(ids["billing"], {"status": "archived"})
    async with running_app(service, size=(40, 12)) as pilot:
        await press(pilot, "D")
        modal = pilot.app.screen
        assert isinstance(modal, DeleteAgentModal)
        for button in modal.query(Button):
            assert button.region.area and modal.region.contains_region(button.region)
        await press(pilot, "y")
    assert [agent["name"] for agent in service.list_agents()] == ["Support Agent"]


async def test_D_on_a_read_only_database_says_why_not(service, ids, db_path):
    service.close()
    read_only = AgentService(str(db_path), read_only=True)
    try:
        async with running_app(read_only) as pilot:
            await press(pilot, "D")
            assert isinstance(pilot.app.screen, MainScreen)
            assert any(
                message.startswith("Cannot delete an agent:") and "read-only" in message
                for message in toasts(pilot.app, "warning")
            )
    finally:
        read_only.close()
