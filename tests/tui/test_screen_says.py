"""Pilot tests: what the screen says (plain words, drawn panes, keys that apply, where you are)."""

from __future__ import annotations

import pytest
from textual.content import Content
from textual.widgets import Static, TextArea

from kaizen_tui.agent_file import parse_agent_text
from kaizen_tui.core.errors import KaizenError
from kaizen_tui.tui.screens.audit import AuditScreen
from kaizen_tui.tui.screens.editing import strip_error, with_error
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.modals import EditorModal
from kaizen_tui.tui.screens.plans import RollbackModal
from kaizen_tui.tui.widgets.text import named_line
from tests.support import long_history, main_screen, press, running_app, screen_text, toasts


def title_of(screen, pane: str) -> str:
    title = screen.query_one(pane).border_title
    return title.plain if isinstance(title, Content) else Content.from_markup(title).plain


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_ctrl_c_says_how_to_quit_in_plain_words(service, ids):
    async with running_app(service) as pilot:
        await press(pilot, "ctrl+c")
        said = toasts(pilot.app)
        assert "Press q to quit." in said
        assert not any("[b]" in message for message in said)


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_in_16_colours_a_dialog_keeps_the_panes_behind_drawn(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "G", "r")
        assert isinstance(pilot.app.screen, RollbackModal)
        in_256_colours = screen_text(pilot.app).splitlines()
        pilot.app.theme = "ansi-dark"  # what TERM=xterm gives (app.py on_mount)
        await press(pilot)
        assert pilot.app.screen.styles.background.a == 0
        in_16_colours = screen_text(pilot.app).splitlines()
        # Around the dialog, the panes behind are drawn as in 256 colours: borders, markers.
        assert [line[:2] + line[-2:] for line in in_16_colours] == [line[:2] + line[-2:] for line in in_256_colours]
        assert sum(line[:1] in "╭│╰┏┃┗" for line in in_16_colours) > 10


async def test_the_filter_folds_case_and_accents(service, ids):
    service.create_agent({"name": "Résumé Screener", "model_id": "gpt-4o", "system_prompt": "Read CVs."})
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "slash", *"resume")
        assert [agent["name"] for agent in screen.agents_table.agents] == ["Résumé Screener"]
        await press(pilot, *["backspace"] * 6, *"RÉSUMÉ")
        assert [agent["name"] for agent in screen.agents_table.agents] == ["Résumé Screener"]


async def test_after_a_prune_the_oldest_kept_version_is_not_called_the_first(service, ids):
    service.prune(ids["support"], 2)  # v1 goes
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "j", "enter", "G")  # Support Agent's v2, the oldest kept
        assert screen.timeline.current["version_number"] == 2
        assert "v2 (oldest kept; v1 deleted)" in screen.diff.text
        assert "first version" not in screen.diff.text


async def test_a_long_timeline_says_where_the_cursor_is(service, db_path):
    long_history(service, db_path, 500)
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "enter")
        assert "v500 1/500" in title_of(screen, "#timeline-pane")
        await press(pilot, "G")
        assert "v1 500/500" in title_of(screen, "#timeline-pane")
        await press(pilot, "k", "k")
        assert "v3 498/500" in title_of(screen, "#timeline-pane")


def test_the_line_an_editor_error_names_is_that_line_of_the_file_reopened():
    text = "name: A\nmodel_id: m\nsystem_prompt: x\ntemperature: [\n"
    try:
        parse_agent_text(strip_error(text), "Your YAML")
    except KaizenError as error:
        message = str(error)
    assert "line 5" in message  # of the text saved
    reopened = with_error(text, message)
    named = named_line(reopened.splitlines()[0])
    assert named is not None and named == len(reopened.splitlines()) + 1  # the end of the file, as in the text
    # Saved again with the comments on top: the error is of the text without them.
    again = with_error(reopened, "Your YAML is not valid YAML at line 4, column 14: x")
    assert again.splitlines()[named_line(again.splitlines()[0]) - 1] == "temperature: ["


@pytest.mark.sqlite_only  # layout and keys only: the database does not change what is tested
async def test_the_in_app_editor_puts_the_cursor_on_the_line_an_error_names(service, ids, monkeypatch):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        modal = pilot.app.screen
        assert isinstance(modal, EditorModal)
        area = modal.query_one(TextArea)
        lines = area.text.splitlines()
        bad = next(i for i, line in enumerate(lines) if line.startswith("temperature:"))
        lines[bad] = "temperature: [1, 2"
        area.text = "\n".join(lines) + "\n"
        area.move_cursor((0, 0))
        await press(pilot, "ctrl+o")
        assert pilot.app.screen is modal
        error = str(modal.query_one("#editor-error").content)
        line = named_line(error)
        assert line is not None
        assert area.cursor_location[0] == line - 1
        assert abs(area.cursor_location[0] - bad) <= 1  # on (or next to) the line broken


async def test_L_shows_who_did_what_to_the_agent_newest_first(service, ids):
    service.update(ids["support"], {"temperature": 0.2}, actor="dana")
    async with running_app(service) as pilot:
        await press(pilot, "j", "L")  # Support Agent
        view = pilot.app.screen
        assert isinstance(view, AuditScreen)
        lines = view.query_one("#audit-log", Static).content.plain.splitlines()
        assert lines[0].startswith("When (UTC)")
        newest = lines[1]
        assert "dana" in newest and "agent.update" in newest and "set temperature 0.5 → 0.2" in newest
        assert "snapshot v3" in lines[2]
        assert "Billing" not in "\n".join(lines)  # only the highlighted agent's events
        assert len(lines) == 1 + len(service.audit_trail(ids["support"], 200))
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)
