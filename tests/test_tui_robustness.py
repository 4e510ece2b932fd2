"""Pilot tests of the TUI under stress: long histories, tiny terminals, resizing,
keys typed while the database works, hostile text, read-only databases.

Each test drives the app as a person would and then checks the database,
not only the screen. None of them measures time.
"""

from __future__ import annotations

import pytest
from test_tui_support import burst, frozen_now, long_history, press, seed_small, settle, slow_down
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import TextArea

from kaizen_tui.app import KaizenApp
from kaizen_tui.screens.compare import CompareScreen
from kaizen_tui.screens.main import MainScreen
from kaizen_tui.screens.modals import EditorModal
from kaizen_tui.service import AgentService
from kaizen_tui.widgets.lists import Timeline

SIZE = (100, 30)


def make_app(service: AgentService) -> KaizenApp:
    return KaizenApp(service, now=frozen_now)


def main_screen(app: KaizenApp) -> MainScreen:
    return next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))


def title_of(screen: MainScreen, pane: str) -> str:
    title = screen.query_one(pane).border_title
    return title.plain if isinstance(title, Content) else Content.from_markup(title).plain


# -- long histories -----------------------------------------------------------------


async def test_G_jumps_to_the_oldest_version_of_a_long_history_and_g_back(service, db_path):
    await long_history(service, db_path, 2000)
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main_screen(pilot.app)
        timeline = screen.timeline
        await press(pilot, "enter", "G")
        assert timeline.current["version_number"] == 1
        assert "v1 (first version)" in screen.diff.text
        assert timeline.row_count <= timeline.max_rows  # a window, not 2,000 rows
        await press(pilot, "k")
        assert timeline.current["version_number"] == 2
        assert "v1 → v2" in screen.diff.text
        # Mark v1, go back to the newest: the mark is kept though v1 is out of the window.
        await press(pilot, "j", "space", "g")
        assert timeline.current["version_number"] == 2000
        assert timeline.row_count <= timeline.max_rows
        assert "⚑ v1" in title_of(screen, "#timeline-pane")
        await press(pilot, "c")
        assert isinstance(pilot.app.screen, CompareScreen)
        comparison = pilot.app.screen.comparison
        assert (comparison["from"]["label"], comparison["to"]["label"]) == ("v1", "v2000")


async def test_moving_across_the_pages_of_a_long_history(service, db_path, monkeypatch):
    # Small pages, so a few keys cross several page boundaries.
    monkeypatch.setattr(Timeline, "PAGE_SIZE", 10)
    monkeypatch.setattr(Timeline, "PREFETCH", 3)
    await long_history(service, db_path, 2000)
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = main_screen(pilot.app)
        timeline = screen.timeline
        await press(pilot, "enter")
        await burst(pilot, *"j" * 25)  # typed at once: some wait for their page
        assert timeline.current["version_number"] == 1975
        assert timeline.row_count <= timeline.max_rows
        assert "v1974 → v1975" in screen.diff.text
        await burst(pilot, *"k" * 24)
        assert timeline.current["version_number"] == 1999
        await burst(pilot, "G", *"k" * 25)
        assert timeline.current["version_number"] == 26
        assert timeline.row_count <= timeline.max_rows
        assert "v25 → v26" in screen.diff.text
        await burst(pilot, *"j" * 30)  # past the end: stays on v1
        assert timeline.current["version_number"] == 1
        await press(pilot, "g", "j")
        assert timeline.current["version_number"] == 1999


# -- keys typed while the database works -------------------------------------------
#
# The service is slowed down (every call takes 0.2 s more, in its thread), so
# the keys below arrive while agents, timelines, previews and diffs load.


async def audit_actions(service: AgentService, action: str) -> int:
    return sum(1 for event in await service.audit_log(limit=1000) if event["action"] == action)


async def test_keys_typed_before_the_first_load_wait_for_it(service):
    ids = await seed_small(service)
    slow_down(service)
    async with make_app(service).run_test(size=SIZE) as pilot:
        # All at once, before anything is shown: a snapshot of the first agent.
        await burst(pilot, "s", *"Fix", "space", *"it", "enter")
        versions = await service.get_versions(ids["billing"])
        assert [(v["version_number"], v["changelog"]) for v in versions] == [(2, "Fix it"), (1, "Initial")]
        assert len(await service.get_versions(ids["support"])) == 3


async def test_a_snapshot_typed_while_the_timeline_loads(service):
    ids = await seed_small(service)
    slow_down(service)
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        # Cancelled while loading: nothing is saved.
        await pilot.press("j", "s", *"abc", "escape")
        await settle(pilot)
        assert len(await service.get_versions(ids["support"])) == 3
        # Confirmed while loading: exactly one version, with that changelog, of the agent picked.
        await pilot.press("k", "j", "s", *"Longer", "enter")
        await settle(pilot)
        versions = await service.get_versions(ids["support"])
        assert [(v["version_number"], v["changelog"]) for v in versions][:2] == [(4, "Longer"), (3, "Longer answers")]
        assert len(await service.get_versions(ids["billing"])) == 1
        assert await audit_actions(service, "version.create") == 5  # the seed's four, and this one


async def test_rollback_typed_while_the_timeline_loads_acts_on_the_version_reached(service):
    ids = await seed_small(service)
    v1, _v2, _v3 = ids["support_versions"]
    slow_down(service)
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await burst(pilot, "j", "enter", "G", "r", "y")
        assert (await service.compare_with_live(ids["support"], v1))["identical"]
        assert await audit_actions(service, "version.rollback") == 1
        assert len(await service.get_versions(ids["support"])) == 3  # nothing was unsaved


async def test_delete_and_prune_typed_while_loading(service):
    ids = await seed_small(service)
    v1, v2, v3 = ids["support_versions"]
    slow_down(service)
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("j", "enter", "j", "x", "y")  # v2, typed before its timeline came
        await settle(pilot)
        assert [v["id"] for v in await service.get_versions(ids["support"])] == [v3, v1]
        # y before the preview of "keep 1" came: it still prunes to 1, once.
        await pilot.press("p", "1", "y")
        await settle(pilot)
        assert [v["id"] for v in await service.get_versions(ids["support"])] == [v3]
        assert await audit_actions(service, "version.prune") == 1
        assert await audit_actions(service, "version.delete") == 1


async def test_compare_typed_while_loading_compares_what_the_keys_chose(service):
    ids = await seed_small(service)
    v1, _v2, v3 = ids["support_versions"]
    slow_down(service)
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await burst(pilot, "j", "enter", "G", "space", "g", "c", "j")
        assert isinstance(pilot.app.screen, CompareScreen)
        comparison = pilot.app.screen.comparison
        assert (comparison["from"]["version_id"], comparison["to"]["version_id"]) == (v1, v3)
        await burst(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)


async def test_repeated_keys_do_not_repeat_actions(service):
    ids = await seed_small(service)
    slow_down(service)
    async with make_app(service).run_test(size=SIZE) as pilot:
        await settle(pilot)
        await burst(pilot, "j", "enter", "r", "r", "r", "n", "x", "x", "n")
        assert isinstance(pilot.app.screen, MainScreen)
        assert not any(isinstance(screen, ModalScreen) for screen in pilot.app.screen_stack)
        assert (await service.get(ids["support"]))["max_tokens"] == 2048
        assert len(await service.get_versions(ids["support"])) == 3
        # Saving the new agent twice quickly creates it once.
        await press(pilot, "n")
        modal = pilot.app.screen
        assert isinstance(modal, EditorModal)
        area = modal.query_one(TextArea)
        area.text = area.text.replace("name: New agent", "name: Twice")
        await burst(pilot, "ctrl+o", "ctrl+o")
        assert [agent["name"] for agent in await service.list_agents()].count("Twice") == 1
