"""Pilot tests: rollbacks and prunes while someone else changes the same agent.

The TUI carries out a rollback or a prune by the plan it showed: when the
agent changed meanwhile, nothing is done and the dialog shows the fresh
plan. The other writer is the service called from the test while a dialog
is open.
"""

from __future__ import annotations

import sqlite3

import pytest
from textual.widgets import Static

from kaizen_tui.core.schema import parse_snapshot
from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.modals import (
    PruneModal,
    RollbackModal,
)
from kaizen_tui.tui.widgets.diff import DiffBody
from tests.support import (
    SIZE,
    audit_actions,
    make_app,
    open_agent,
    press,
    seed_small,
    settle,
    toasts,
)


@pytest.fixture
async def ids(service: AgentService) -> dict:
    return await seed_small(service)


# -- rollback -----------------------------------------------------------------------------


async def test_a_rollback_refused_as_stale_shows_the_fresh_plan_and_y_confirms_it(service, ids):
    v1, _v2, _v3 = ids["support_versions"]
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_agent(pilot, "Support Agent")
        await press(pilot, "G", "r")
        modal = pilot.app.screen
        assert isinstance(modal, RollbackModal)
        assert "nothing is lost" in modal.query_one("#plan-note", Static).content.plain
        await service.update(ids["support"], {"max_tokens": 4321}, actor="colleague")
        await press(pilot, "y")
        # Not rolled back: the dialog stays, says who changed what, and shows the fresh plan.
        assert pilot.app.screen is modal
        agent = await service.get(ids["support"])
        assert agent["max_tokens"] == 4321 and len(await service.get_versions(ids["support"])) == 3
        note = modal.query_one("#plan-note", Static).content.plain
        assert (
            note.splitlines()[0]
            == "⚠ Changed meanwhile by colleague (max_tokens): nothing was rolled back. Fresh preview below."
        )
        assert 'saved first as a new version "Auto: before rollback to v1"' in note
        assert "4321" in modal.query_one(DiffBody).text
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert (await service.compare_with_live(ids["support"], v1))["identical"]
        versions = await service.get_versions(ids["support"])
        assert versions[0]["changelog"] == "Auto: before rollback to v1"
        assert parse_snapshot(versions[0]["config_snapshot"])["max_tokens"] == 4321
        assert "Rolled back Support Agent to v1 (unsaved changes saved as v4 first)" in toasts(pilot.app)


async def test_the_rollback_dialog_presents_the_plan(service, ids, db_path):
    _v1, v2, _v3 = ids["support_versions"]
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Billing Bot: unsaved changes, saved first.
        await press(pilot, "enter", "G", "r")
        assert "they are saved first" in pilot.app.screen.query_one("#plan-note", Static).content.plain
        await press(pilot, "n", "shift+tab")  # back to the agents
        # A version damaged after the timeline was read: the plan refuses it, y does nothing.
        await open_agent(pilot, "Support Agent")
        await press(pilot, "j")
        with sqlite3.connect(db_path) as connection:
            connection.execute("UPDATE agent_version SET config_snapshot = '{' WHERE id = ?", (v2,))
        await press(pilot, "r")
        modal = pilot.app.screen
        assert isinstance(modal, RollbackModal)
        assert "Cannot roll back" in modal.query_one("#plan-note", Static).content.plain
        assert not modal.query_one(DiffBody).display
        await press(pilot, "y")
        assert pilot.app.screen is modal
        await press(pilot, "escape")
    assert await audit_actions(service, "version.rollback") == 0


# -- prune --------------------------------------------------------------------------------


async def test_a_prune_refused_as_stale_shows_the_fresh_plan_and_y_confirms_it(service, ids):
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_agent(pilot, "Support Agent")
        await press(pilot, "p", "2")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)
        assert [v["version_number"] for v in modal.doomed] == [1]
        await service.create_version(ids["support"], "Snapshot by a colleague", actor="colleague")
        await press(pilot, "y")
        # Nothing deleted: the dialog stays with the fresh plan and one line about it.
        assert pilot.app.screen is modal
        assert [v["version_number"] for v in await service.get_versions(ids["support"])] == [4, 3, 2, 1]
        assert [v["version_number"] for v in modal.doomed] == [2, 1]
        summary = modal.query_one("#prune-summary", Static).content.plain
        assert (
            summary.splitlines()[0]
            == "⚠ Versions were saved or deleted meanwhile: nothing was deleted. Fresh preview below."
        )
        assert any("colleague" in toast for toast in toasts(pilot.app, "warning"))  # the service's sentence
        assert "(v1–v2)" in summary
        assert "it has 4)" in modal.query_one("#prune-intro", Static).content.plain
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert [v["version_number"] for v in await service.get_versions(ids["support"])] == [4, 3]
        assert any(
            toast.startswith("Pruned 2 versions of Support Agent; kept the 2 newest") for toast in toasts(pilot.app)
        )


async def test_the_prune_warning_about_the_live_config_comes_from_the_plan(service, ids):
    support = ids["support"]
    v1, _v2, _v3 = ids["support_versions"]
    await service.rollback_to_version(support, v1)  # the live config is v1's again: only v1 holds it
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_agent(pilot, "Support Agent")
        await press(pilot, "p", "2")
        modal = pilot.app.screen
        assert modal.plan["live_loses_version"]
        assert "v1 equals the live config and goes" in modal.query_one("#prune-summary", Static).content.plain
        await press(pilot, "3")  # keep 23: nothing goes
        assert "equals the live config" not in modal.query_one("#prune-summary", Static).content.plain
        await press(pilot, "n")
