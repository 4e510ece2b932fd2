"""The action registry (kaizen_tui.tui.actions) through what the person sees: keys, key bar, help, palette.

Each test walks the whole registry, so a new action is checked by adding
its entry: its keys run it where the registry says they apply (and its
owner has the method), the key bar shows it there, the help lists it, the
palette offers it and runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.widgets import Static

from kaizen_tui.service import AgentService
from kaizen_tui.tui.actions import ACTIONS, NAVIGATION, Scope, actions_in, key_bar_display, spell
from kaizen_tui.tui.app import KaizenApp
from kaizen_tui.tui.screens.compare import CompareScreen
from kaizen_tui.tui.screens.help import HelpScreen
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.widgets.chrome import KeyBar
from tests.support import main_screen, press, running_app, seed_small, settle

#: The action registry, the key bar, the help and the palette: nothing here depends on the database.
pytestmark = pytest.mark.sqlite_only

#: Wide enough for the key bar to show every key of a scope.
WIDE = (200, 40)

#: Actions the palette does not offer, and why.
NOT_IN_PALETTE = {
    "clear_filter": "esc, from any pane; with no filter shown it would do nothing",
    "command_palette": "the palette itself",
    "quit": "Textual's own Quit command is there",
}

#: The scopes reached by a key press from the main screen, in the order the tests visit them.
SCOPES = (Scope.APP, Scope.MAIN, Scope.AGENTS, Scope.FILTER, Scope.TIMELINE, Scope.DIFF, Scope.COMPARE)


@pytest.fixture
def seeded(service: AgentService) -> AgentService:
    seed_small(service)
    return service


def record_actions(monkeypatch: pytest.MonkeyPatch, calls: list[str], scope: Scope | None = None) -> None:
    """Replace the methods the registry's actions run by ones that only note the action's name in ``calls``.

    ``scope``: the actions bound there, with the owners they have there;
    None: every action, with the owner the palette runs it on.
    """

    def recorder(name: str) -> Callable[..., None]:
        def action(self: Any, *args: Any) -> None:
            calls.append(name)

        return action

    for action in ACTIONS:
        if scope is not None and scope not in action.scopes:
            continue
        for where in [scope] if scope is not None else action.scopes:  # the palette: on every screen it is on
            applied = action.in_scope(where)
            screen = where.screen
            owner = KaizenApp if applied.owner == "app" else CompareScreen if screen is Scope.COMPARE else MainScreen
            monkeypatch.setattr(owner, f"action_{action.name}", recorder(action.name))


async def enter_scope(pilot: Any, scope: Scope) -> None:
    """Put the focus where the keys of ``scope`` apply, with the real actions (before any are replaced)."""
    app: KaizenApp = pilot.app
    screen = main_screen(app)
    screen.set_focus(screen.agents_table)  # on Billing Bot: its live row, then v1
    await settle(pilot)
    if scope is Scope.MAIN:
        # esc (clear filter) applies while the filter is shown, from any pane.
        await press(pilot, "slash")
        screen.set_focus(screen.agents_table)
    elif scope is Scope.FILTER:
        await press(pilot, "slash")
    elif scope is Scope.TIMELINE:
        await press(pilot, "enter", "j")  # on a version, not the live row
    elif scope is Scope.DIFF:
        await press(pilot, "enter", "j")
        screen.set_focus(screen.diff)
    elif scope is Scope.COMPARE:
        # Support Agent's v3 against v2: two versions shown, so r and R both apply.
        await press(pilot, "j", "enter", "enter")
        assert isinstance(app.screen, CompareScreen)
    await settle(pilot)


def key_bar_text(app: KaizenApp) -> str:
    return app.screen.query_one(KeyBar).render().plain


# -- the keys --------------------------------------------------------------------


@pytest.mark.parametrize("scope", SCOPES, ids=lambda scope: scope.name.lower())
async def test_every_key_runs_its_action_where_the_registry_binds_it(
    seeded: AgentService, monkeypatch: pytest.MonkeyPatch, scope: Scope
) -> None:
    async with running_app(seeded, size=WIDE) as pilot:
        await enter_scope(pilot, scope)
        focused = pilot.app.focused
        calls: list[str] = []
        record_actions(monkeypatch, calls, scope)
        for action in actions_in(scope):
            for key in action.keys:
                await press(pilot, key)
                assert calls == [action.name], f"{key} in the {scope.value}"
                calls.clear()
                assert pilot.app.focused is focused  # the recorder went nowhere: the next key is in the same place


@pytest.mark.parametrize("scope", SCOPES, ids=lambda scope: scope.name.lower())
async def test_the_key_bar_shows_the_registry_labels(seeded: AgentService, scope: Scope) -> None:
    # Their order is the registry's, except that a key the widget's base class
    # binds keeps its place (enter comes first on the timeline): the SVG
    # snapshots hold the order.
    async with running_app(seeded, size=WIDE) as pilot:
        await enter_scope(pilot, scope)
        shown = key_bar_text(pilot.app)
        for action in actions_in(scope):
            item = f"{key_bar_display(action.keys[0])} {action.label}"
            if action.show:
                assert item in shown, f"{item!r} in the key bar of the {scope.value}: {shown!r}"
            else:
                assert item not in shown
            for key in action.keys[1:]:  # f1 for help, q for back: bound, not shown
                assert f"{key_bar_display(key)} {action.label}" not in shown


def test_every_action_is_bound_somewhere_and_no_key_twice_in_a_scope() -> None:
    for action in ACTIONS:
        assert action.scopes, action.name
    for scope in Scope:
        keys = [key for action in actions_in(scope) for key in action.keys]
        assert len(keys) == len(set(keys)), scope


# -- the help --------------------------------------------------------------------


async def test_the_help_lists_every_action_keys_first(seeded: AgentService) -> None:
    async with running_app(seeded, size=WIDE) as pilot:
        await press(pilot, "question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        lefts = [str(static.content) for static in pilot.app.screen.query(".help-key").results(Static)]
        rights = [str(static.content) for static in pilot.app.screen.query(".help-text").results(Static)]
        rows = dict(zip(lefts, rights))
        # The keys are what help is opened for: they come first, the actions before moving around.
        assert lefts[0] == "Keys"
        headings = ["Keys", "Moving around", "More keys", "Markers", "Notes"]
        assert [lefts.index(heading) for heading in headings] == sorted(lefts.index(heading) for heading in headings)
        keys_section = lefts[: lefts.index("Markers")]
        assert keys_section[1:7] == ["s", "c", "space", "r", "p", "t"]
        for keys, text in NAVIGATION:
            assert rows[keys] == text
        written = " ".join(keys_section).split()
        for action in ACTIONS:
            assert action.help_key_text in keys_section, action.name
            assert action.help in rows[action.help_key_text], action.name
            for key in action.keys:  # f1 as well as ?
                assert spell(key) in written, (action.name, key)


async def test_help_at_80x24_opens_on_the_actions_people_came_for(seeded: AgentService) -> None:
    async with running_app(seeded, size=(80, 24)) as pilot:
        await press(pilot, "question_mark")
        help_screen = pilot.app.screen
        assert isinstance(help_screen, HelpScreen)
        scroll = help_screen.query_one("#help-scroll")
        in_view = scroll.region
        shown = {
            str(static.content)
            for static in help_screen.query(".help-key").results(Static)
            if in_view.contains_region(static.region)
        }
        # Snapshot, compare, mark, roll back, prune, label and copy: on the first screen, no scrolling.
        assert {"s", "c", "space", "r", "p", "t", "y"} <= shown, shown
        assert "j k ↑ ↓" not in shown  # moving around comes after them


# -- the command palette ---------------------------------------------------------


def palette_titles(app: KaizenApp, screen: Any) -> dict[str, Any]:
    return {command.title: command for command in app.get_system_commands(screen)}


async def test_the_palette_offers_every_action_where_it_applies(seeded: AgentService) -> None:
    async with running_app(seeded, size=WIDE) as pilot:
        on_main = palette_titles(pilot.app, pilot.app.screen)
        await enter_scope(pilot, Scope.COMPARE)
        on_compare = palette_titles(pilot.app, pilot.app.screen)
        for action in ACTIONS:
            if action.palette is None:
                assert action.name in NOT_IN_PALETTE
                continue
            title, description = action.palette
            on_main_screen = any(scope.screen is Scope.MAIN for scope in action.scopes)
            on_compare_screen = Scope.COMPARE in action.scopes
            for offered, expected in ((on_main, on_main_screen), (on_compare, on_compare_screen)):
                if action.owner == "app" or expected:
                    # The keys in parentheses: the palette teaches them.
                    assert offered[title].help == f"{description} ({action.palette_key_text})"
                else:
                    assert title not in offered
        assert "Quit" in on_main  # Textual's own


@pytest.mark.parametrize("where", [Scope.TIMELINE, Scope.COMPARE], ids=["main", "compare"])
async def test_each_palette_command_runs_its_action(
    seeded: AgentService, monkeypatch: pytest.MonkeyPatch, where: Scope
) -> None:
    async with running_app(seeded, size=WIDE) as pilot:
        await enter_scope(pilot, where)
        calls: list[str] = []
        record_actions(monkeypatch, calls)
        commands = palette_titles(pilot.app, pilot.app.screen)
        ran = 0
        for action in ACTIONS:
            if action.palette is None or action.palette[0] not in commands:
                continue
            pilot.app.call_later(commands[action.palette[0]].callback)
            await settle(pilot)
            assert calls == [action.name], action.palette[0]
            calls.clear()
            ran += 1
        assert ran >= 3
