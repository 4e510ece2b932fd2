"""Pilot tests of the TUI under stress: long histories, tiny terminals, resizing,
keys typed while the database works, hostile text, read-only databases.

Each test drives the app as a person would and then checks the database,
not only the screen. None of them measures time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.content import Content
from textual.errors import NoWidget
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Static, TextArea

from kaizen_tui.service import AgentService
from kaizen_tui.tui.app import KaizenApp
from kaizen_tui.tui.screens.compare import CompareScreen
from kaizen_tui.tui.screens.help import HelpScreen
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.modals import ConfirmModal, EditorModal
from kaizen_tui.tui.screens.plans import PruneModal
from kaizen_tui.tui.screens.snapshot import SnapshotModal
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.lists import Timeline
from tests.support import (
    SIZE,
    audit_actions,
    burst,
    database_rows,
    long_history,
    main_screen,
    make_app,
    press,
    rename_as_an_older_tool,
    running_app,
    screen_text,
    seed_small,
    settle,
    slow_down,
    toasts,
)


def title_of(screen: MainScreen, pane: str) -> str:
    title = screen.query_one(pane).border_title
    return title.plain if isinstance(title, Content) else Content.from_markup(title).plain


def shown(app: KaizenApp, widget: Widget) -> bool:
    """Is the widget on the screen, with its middle not covered or cut off?"""
    region = widget.region
    if not region.area:
        return False
    try:
        found, _ = app.screen.get_widget_at(*region.center)
    except NoWidget:
        return False
    return widget in found.ancestors_with_self


def buttons_shown(app: KaizenApp) -> bool:
    buttons = list(app.screen.query(Button))
    return bool(buttons) and all(shown(app, button) for button in buttons)


# -- long histories -----------------------------------------------------------------


async def test_G_jumps_to_the_oldest_version_of_a_long_history_and_g_back(service, db_path):
    long_history(service, db_path, 2000)
    async with running_app(service) as pilot:
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
    long_history(service, db_path, 2000)
    async with running_app(service) as pilot:
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
# The service is slowed down (every call takes 0.1 s more, in its thread; a load
# is two to five calls), so the keys below arrive while agents, timelines,
# previews and diffs load.


async def test_keys_typed_before_the_first_load_wait_for_it(service, ids):
    slow_down(service)
    async with make_app(service).run_test(size=SIZE) as pilot:
        # All at once, before anything is shown: a snapshot of the first agent.
        await burst(pilot, "s", *"Fix", "space", *"it", "enter")
        versions = service.get_versions(ids["billing"])
        assert [(v["version_number"], v["changelog"]) for v in versions] == [(2, "Fix it"), (1, "Initial")]
        assert len(service.get_versions(ids["support"])) == 3


async def test_a_snapshot_typed_while_the_timeline_loads(service, ids):
    slow_down(service)
    async with running_app(service) as pilot:
        # Cancelled while loading: nothing is saved.
        await pilot.press("j", "s", *"abc", "escape")
        await settle(pilot)
        assert len(service.get_versions(ids["support"])) == 3
        # Confirmed while loading: exactly one version, with that changelog, of the agent picked.
        await pilot.press("k", "j", "s", *"Longer", "enter")
        await settle(pilot)
        versions = service.get_versions(ids["support"])
        assert [(v["version_number"], v["changelog"]) for v in versions][:2] == [(4, "Longer"), (3, "Longer answers")]
        assert len(service.get_versions(ids["billing"])) == 1
        assert audit_actions(service, "version.create") == 5  # the seed's four, and this one


async def test_rollback_typed_while_the_timeline_loads_acts_on_the_version_reached(service, ids):
    v1, _v2, _v3 = ids["support_versions"]
    slow_down(service)
    async with running_app(service) as pilot:
        await burst(pilot, "j", "enter", "G", "r", "y")
        assert service.compare_with_live(ids["support"], v1)["identical"]
        assert audit_actions(service, "version.rollback") == 1
        assert len(service.get_versions(ids["support"])) == 3  # nothing was unsaved


async def test_delete_and_prune_typed_while_loading(service, ids):
    v1, _v2, v3 = ids["support_versions"]
    slow_down(service)
    async with running_app(service) as pilot:
        await pilot.press("j", "enter", "j", "x", "y")  # v2, typed before its timeline came
        await settle(pilot)
        assert [v["id"] for v in service.get_versions(ids["support"])] == [v3, v1]
        # y before the preview of "keep 1" came: it still prunes to 1, once.
        await pilot.press("p", "1", "y")
        await settle(pilot)
        assert [v["id"] for v in service.get_versions(ids["support"])] == [v3]
        assert audit_actions(service, "version.prune") == 1
        assert audit_actions(service, "version.delete") == 1


async def test_compare_typed_while_loading_compares_what_the_keys_chose(service, ids):
    v1, _v2, v3 = ids["support_versions"]
    slow_down(service)
    async with running_app(service) as pilot:
        await burst(pilot, "j", "enter", "G", "space", "g", "c", "j")
        assert isinstance(pilot.app.screen, CompareScreen)
        comparison = pilot.app.screen.comparison
        assert (comparison["from"]["version_id"], comparison["to"]["version_id"]) == (v1, v3)
        await burst(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_repeated_keys_do_not_repeat_actions(service, ids):
    slow_down(service)
    async with running_app(service) as pilot:
        await burst(pilot, "j", "enter", "G", "r", "r", "r", "n", "x", "x", "n")
        assert isinstance(pilot.app.screen, MainScreen)
        assert not any(isinstance(screen, ModalScreen) for screen in pilot.app.screen_stack)
        assert service.get(ids["support"])["max_tokens"] == 2048
        assert len(service.get_versions(ids["support"])) == 3
        # Saving the new agent twice quickly creates it once.
        await press(pilot, "n")
        modal = pilot.app.screen
        assert isinstance(modal, EditorModal)
        area = modal.query_one(TextArea)
        area.text = area.text.replace("name: New agent", "name: Twice")
        await burst(pilot, "ctrl+o", "ctrl+o")
        assert [agent["name"] for agent in service.list_agents()].count("Twice") == 1


# -- tiny terminals and resizing ---------------------------------------------------


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
@pytest.mark.parametrize("size", [(40, 12), (20, 8)])
async def test_every_key_works_in_a_tiny_terminal(service, ids, size):
    async with running_app(service, size=size) as pilot:
        app = pilot.app
        screen = main_screen(app)
        assert shown(app, screen.agents_table)
        await burst(pilot, "j", "k", "G", "g", "j")  # Support Agent
        assert screen.agent_id == ids["support"]
        # The focused pane is shown, whatever is hidden to make room for it.
        await burst(pilot, "tab")
        assert screen.focused is screen.timeline and shown(app, screen.timeline)
        await burst(pilot, "tab")
        assert screen.focused is screen.diff and shown(app, screen.diff)
        await burst(pilot, "tab", "enter")
        assert screen.focused is screen.timeline and shown(app, screen.timeline)
        await burst(pilot, "G", "space", "g", "c")
        assert isinstance(app.screen, CompareScreen) and shown(app, app.screen.query_one("#compare-diff"))
        await burst(pilot, "escape", "enter")
        assert isinstance(app.screen, CompareScreen)
        await burst(pilot, "escape", "u", "u")
        # Dialogs fit: their buttons (and fields) are on the screen, and they act.
        await burst(pilot, "s")
        assert isinstance(app.screen, SnapshotModal) and shown(app, app.screen.query_one(Input))
        await burst(pilot, *"tiny", "enter")
        assert service.get_versions(ids["support"])[0]["changelog"] == "tiny"
        await burst(pilot, "G", "r")
        assert isinstance(app.screen, ConfirmModal) and buttons_shown(app)
        await burst(pilot, "j", "k", "n", "x")
        assert isinstance(app.screen, ConfirmModal) and buttons_shown(app)
        await burst(pilot, "n", "p")
        assert isinstance(app.screen, PruneModal) and buttons_shown(app)
        await burst(pilot, "j", "escape", "question_mark")
        assert isinstance(app.screen, HelpScreen) and shown(app, app.screen.query_one("#help-scroll"))
        await burst(pilot, "j", "escape", "e")
        assert isinstance(app.screen, EditorModal) and buttons_shown(app)
        assert shown(app, app.screen.query_one(TextArea))
        await burst(pilot, "escape", "slash")
        assert shown(app, screen.query_one("#filter"))
        await burst(pilot, "s", "u", "escape")
        assert isinstance(app.screen, MainScreen)
        assert len(service.get_versions(ids["support"])) == 4  # only the snapshot changed anything
        assert service.get(ids["support"])["max_tokens"] == 2048
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


def wholly_shown(app: KaizenApp, widget: Widget) -> bool:
    """Is every line of the widget on the screen (none scrolled away or cut off by its container or the window)?"""
    geometry = app.screen.find_widget(widget)
    return shown(app, widget) and geometry.region.intersection(geometry.clip) == geometry.region


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
@pytest.mark.parametrize("size", [(80, 24), (60, 18), (100, 30), (120, 40)])
async def test_the_prune_dialog_shows_its_warnings_first_and_the_list_scrolls_under_them(service, db_path, size):
    agent = long_history(service, db_path, 30)
    versions = service.get_versions(agent["id"])
    service.set_label(agent["id"], "production", 3)
    service.rollback_to_version(agent["id"], versions[-1]["id"])  # the live config is v1's: v1 goes
    async with running_app(service, size=size) as pilot:
        app = pilot.app
        await burst(pilot, "enter", "p", "1")
        modal = app.screen
        assert isinstance(modal, PruneModal) and len(modal.doomed) == 28
        summary = modal.query_one("#prune-summary", Static)
        text = str(summary.content)
        # What a person confirms is in view before any key: the warnings first, then what goes.
        assert text.index("v1 equals the live config and goes") < text.index("Also keeps v3 (production)")
        assert text.index("Also keeps v3 (production)") < text.index("Deletes 28 versions (v1–v29)")
        assert wholly_shown(app, summary), size
        assert buttons_shown(app), size
        body = modal.query_one(".dialog-body")
        assert shown(app, body) and body.max_scroll_y > 0  # the list is cut: it scrolls
        hint = str(modal.query_one("#prune-scroll-hint", Static).content)
        key_bar = modal.query_one(KeyBar)
        # The keys that scroll are named: in the key bar, or (where it is left out for room) by the buttons.
        assert "j/k scroll" in (key_bar.render().plain if key_bar.display else hint), size
        steps = min(3, body.max_scroll_y)
        await burst(pilot, *"j" * steps)  # typed faster than the screen refreshes: each counts
        assert body.scroll_y == steps
        assert wholly_shown(app, summary), size  # the list scrolled under the warnings
        await burst(pilot, *"j" * (body.max_scroll_y + 2))
        # At the end: the oldest version, v1, the one equal to the live config, is in view.
        assert body.scroll_y == body.max_scroll_y
        lines = str(modal.query_one("#prune-doomed", Static).content).splitlines()
        assert lines[-1].startswith("  ◆ v1 ") and len(lines) == 28
        await burst(pilot, "y")
    assert [v["version_number"] for v in service.get_versions(agent["id"])] == [30, 3]


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_keys_typed_quickly_scroll_help_and_the_rollback_diff_a_line_each(service):
    seed_small(service)
    async with running_app(service, size=(80, 24)) as pilot:
        app = pilot.app
        await burst(pilot, "question_mark", "j", "j", "j")
        assert isinstance(app.screen, HelpScreen)
        assert app.screen.query_one("#help-scroll").scroll_y == 3
        await burst(pilot, "escape", "j", "enter", "G", "r")
        assert isinstance(app.screen, ConfirmModal)
        diff = app.screen.query_one(DiffBody)
        assert diff.max_scroll_y >= 3
        await burst(pilot, "j", "j", "j")
        assert diff.scroll_y == 3
        await burst(pilot, "n")


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_resizing_while_a_dialog_is_open(service, ids):
    v1, v2, v3 = ids["support_versions"]
    sizes = [(20, 8), (130, 40)]

    async def resize(*size: int) -> None:
        await pilot.resize_terminal(*size)
        await settle(pilot)

    async with running_app(service) as pilot:
        await burst(pilot, "j", "enter", "G", "r")
        for size in sizes:
            await resize(*size)
            assert isinstance(pilot.app.screen, ConfirmModal) and buttons_shown(pilot.app), size
        await burst(pilot, "n")
        assert service.get(ids["support"])["max_tokens"] == 2048  # n still cancels
        await burst(pilot, "r")
        await resize(20, 8)
        await burst(pilot, "y")
        assert service.compare_with_live(ids["support"], v1)["identical"]  # y still confirms

        await burst(pilot, "p")
        await resize(40, 12)
        await burst(pilot, "2")
        await resize(*SIZE)
        await burst(pilot, "y")
        assert [v["id"] for v in service.get_versions(ids["support"])] == [v3, v2]

        await burst(pilot, "s", *"ab")
        await resize(20, 8)
        await burst(pilot, "c")
        await resize(*SIZE)
        await burst(pilot, "enter")
        assert service.get_versions(ids["support"])[0]["changelog"] == "abc"

        await burst(pilot, "question_mark")
        for size in sizes:
            await resize(*size)
            assert isinstance(pilot.app.screen, HelpScreen), size
        await burst(pilot, "escape", "n")
        modal = pilot.app.screen
        assert isinstance(modal, EditorModal)
        await resize(20, 8)
        area = modal.query_one(TextArea)
        area.text = area.text.replace("name: New agent", "name: Resized")
        await resize(*SIZE)
        await burst(pilot, "ctrl+o")
        assert "Resized" in [agent["name"] for agent in service.list_agents()]


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_resizing_keeps_the_cursor_deep_in_a_long_history(service, db_path):
    long_history(service, db_path, 1000)
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await burst(pilot, "enter", "G", "k")
        for size in [(20, 8), (140, 40)]:
            await pilot.resize_terminal(*size)
            await settle(pilot)
            assert screen.timeline.current["version_number"] == 2, size
        assert "v1 → v2" in screen.diff.text


# -- hostile text -------------------------------------------------------------------

#: Markup, escape sequences, DEL, emoji, wide characters, right-to-left text and bidi overrides.
EVIL = (
    "[bold]B[/] [/] [link=http://x]x[/link] \x1b[31mred\x1b[0m \x1b]0;pwned\x07 \x7fdel "
    "🙂👍🏽 日本語テキスト שלום \u202eevil\u202c \u2066iso\u2069 tab\there"
)
#: What must never reach the terminal: control characters and bidi controls.
FORBIDDEN = {
    chr(code)
    for code in [
        *range(0x20),
        *range(0x7F, 0xA0),
        0x202A,
        0x202B,
        0x202C,
        0x202D,
        0x202E,
        0x2066,
        0x2067,
        0x2068,
        0x2069,
    ]
}


def assert_shown_safely(app: KaizenApp) -> str:
    text = screen_text(app)
    leaked = sorted({f"U+{ord(char):04X}" for line in text.split("\n") for char in line if char in FORBIDDEN})
    assert not leaked, f"{type(app.screen).__name__} sent {leaked} to the terminal"
    return text


async def test_hostile_text_in_every_field_is_shown_literally(service, db_path):
    agent = service.create_agent(
        {
            "name": "Evil",
            "description": EVIL,
            "model_id": "m",
            "system_prompt": EVIL,
            "extra": {"evil": EVIL, "[bold]key[/]": ["\x1b[2J", EVIL]},
        }
    )
    rename_as_an_older_tool(db_path, agent["id"], "Evil " + EVIL[:60])  # new names refuse control characters
    service.create_version(agent["id"], EVIL)
    service.update(agent["id"], {"system_prompt": EVIL + "\n" + EVIL, "description": EVIL + "\nmore"})
    service.create_version(agent["id"], "second " + EVIL)
    service.update(agent["id"], {"system_prompt": "short", "extra": {"evil": "gone"}})
    async with running_app(service, size=(120, 36), notifications=True) as pilot:
        screen = main_screen(pilot.app)
        text = assert_shown_safely(pilot.app)
        assert "[bold]B[/] [/]" in text and "␛[31mred" in text and "<U+202E>" in text
        await press(pilot, "enter", "j")  # the live row, then v2
        assert "␡del" in screen.diff.text and "[/]" in screen.diff.text
        assert_shown_safely(pilot.app)
        # Every screen and dialog that shows the agent's data.
        for keys in (["c"], ["enter"], ["r"], ["x"], ["p", "1"], ["s"], ["e"]):
            await press(pilot, *keys)
            assert not isinstance(pilot.app.screen, MainScreen), keys
            assert_shown_safely(pilot.app)
            await press(pilot, "escape")
            if not isinstance(pilot.app.screen, MainScreen):
                await press(pilot, "escape")  # the editor asks before dropping edits
            assert isinstance(pilot.app.screen, MainScreen), keys
        await press(pilot, "j", "u")
        pilot.app.notify("A toast quoting " + EVIL, severity="error")
        await settle(pilot)
        assert "A toast quoting" in assert_shown_safely(pilot.app)
    # Nothing was changed by looking.
    assert len(service.get_versions(agent["id"])) == 2


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_a_1mb_prompt_is_shown_without_holding_up_the_keys(service):
    big = "\n".join(f"{number:06d} {EVIL}" for number in range(7000))  # ~1 MB, hostile on every line
    agent = service.create_agent({"name": "Big", "model_id": "m", "system_prompt": "small"})
    service.create_version(agent["id"], "small")
    service.update(agent["id"], {"system_prompt": big})
    service.create_version(agent["id"], "1 MB")
    service.update(agent["id"], {"system_prompt": big.replace("000123", "changed")})
    async with running_app(service, size=(120, 36)) as pilot:
        screen = main_screen(pilot.app)
        assert "changed" in screen.diff.text  # the live row: one line of 1 MB changed
        # v2 adds 7,000 long lines: a part is drawn, the rest summed up.
        await press(pilot, "enter", "j")
        assert "more lines of this diff are not shown" in screen.diff.text
        assert_shown_safely(pilot.app)
        # Keys typed while a huge diff is laid out act at once.
        await burst(pilot, "k", "j", "j")
        assert screen.timeline.current["version_number"] == 1
        assert "v1 (first version)" in screen.diff.text
        await press(pilot, "c")
        assert "v1 → live" in pilot.app.screen.query_one("#compare-diff").text
        await press(pilot, "escape", "r")
        assert "What changes: live config → v1" in pilot.app.screen.query_one("#confirm-diff").text
        assert_shown_safely(pilot.app)
        await press(pilot, "n")
    assert len(service.get_versions(agent["id"])) == 2


# -- read-only ----------------------------------------------------------------------


def fingerprint(db_path: Path) -> list:
    """Every row of every table: equal fingerprints, unchanged database."""
    return database_rows(db_path)


async def test_read_only_refuses_every_change_with_the_reason(service, ids, db_path):
    service.close()
    before = fingerprint(db_path)
    read_only = AgentService(str(db_path), read_only=True)
    try:
        async with running_app(read_only) as pilot:
            app = pilot.app
            # Typed at once, with the confirmations a person would type after them.
            await burst(pilot, "s", "tab", "G", "r", "y", "x", "y", "p", "1", "y", "e", "n", "y")
            assert isinstance(app.screen, MainScreen)
            warnings = toasts(app, "warning")
            for what in ("snapshot", "roll back", "delete a version", "prune", "edit", "create an agent"):
                assert any(message.startswith(f"Cannot {what}:") and "read-only" in message for message in warnings), (
                    what
                )
            # The command palette's actions are refused the same way.
            screen = main_screen(app)
            for title in ("Snapshot", "Roll back", "Prune", "Delete version", "Edit agent", "New agent"):
                command = next(c for c in app.get_system_commands(screen) if c.title == title)
                app.call_later(command.callback)
                await settle(pilot)
                assert isinstance(app.screen, MainScreen), title
            # The key bar offers none of the changes, on any pane.
            for pane in (screen.agents_table, screen.timeline, screen.diff):
                screen.set_focus(pane)
                await settle(pilot)
                bar = app.screen.query_one(KeyBar).render().plain
                for label in ("snapshot", "edit", "new agent", "prune", "rollback", "delete"):
                    assert label not in bar, (label, bar)
                assert "help" in bar
            screen.set_focus(screen.timeline)
            await settle(pilot)
            # Browsing and comparing still work.
            await press(pilot, "space", "g", "c")
            assert isinstance(app.screen, CompareScreen)
            assert "rollback" not in app.screen.query_one(KeyBar).render().plain
    finally:
        read_only.close()
    assert fingerprint(db_path) == before
    assert len(ids["support_versions"]) == 3
