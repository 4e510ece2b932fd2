"""Pilot tests: every key of the TUI, checking the database afterwards."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.content import Content
from textual.geometry import Region
from textual.widgets import Button, Input, Static, TextArea

from kaizen_tui.core.schema import parse_snapshot
from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.compare import CompareScreen
from kaizen_tui.tui.screens.editing import EditAgainModal
from kaizen_tui.tui.screens.help import HelpScreen, help_content
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.modals import ConfirmModal, EditorModal
from kaizen_tui.tui.screens.plans import PruneModal, RollbackModal
from kaizen_tui.tui.screens.snapshot import SnapshotModal
from kaizen_tui.tui.widgets.chrome import StatusLine
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.lists import LIVE_KEY, Timeline
from tests.support import (
    SIZE,
    audit_actions,
    fake_editor,
    long_history,
    main_screen,
    open_agent,
    press,
    rename_as_an_older_tool,
    running_app,
    settle,
    toasts,
    write_raw_snapshot,
)

# -- browsing -------------------------------------------------------------------


async def test_opens_on_agents_with_timeline_and_diff(service, ids):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        assert [agent["name"] for agent in screen.agents_table.agents] == ["Billing Bot", "Support Agent"]
        assert screen.focused is screen.agents_table
        # Billing Bot has unsaved changes: the live row comes first.
        assert screen.timeline.cursor_key == LIVE_KEY
        assert "Unsaved changes" in screen.diff.text


async def test_j_k_g_G_move_and_enter_goes_to_the_timeline(service, ids):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "j")
        assert screen.agent_id == ids["support"]
        await press(pilot, "k")
        assert screen.agent_id == ids["billing"]
        await press(pilot, "G")
        assert screen.agent_id == ids["support"]
        await press(pilot, "g")
        assert screen.agent_id == ids["billing"]
        await press(pilot, "down", "enter")
        assert screen.focused is screen.timeline
        v1, v2, v3 = ids["support_versions"]
        assert screen.timeline.cursor_key == v3
        await press(pilot, "j")
        assert screen.timeline.cursor_key == v2
        assert "v1 → v2" in screen.diff.text
        await press(pilot, "G")
        assert screen.timeline.cursor_key == v1
        await press(pilot, "k", "up")
        assert screen.timeline.cursor_key == v3
        await press(pilot, "G", "g")
        assert screen.timeline.cursor_key == v3


async def test_tab_and_shift_tab_switch_panes(service, ids):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "tab")
        assert screen.focused is screen.timeline
        await press(pilot, "tab")
        assert screen.focused is screen.diff
        await press(pilot, "tab")
        assert screen.focused is screen.agents_table
        await press(pilot, "shift+tab")
        assert screen.focused is screen.diff


async def test_slash_filters_as_you_type_and_escape_clears(service, ids):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "slash", "s", "u")
        assert [agent["name"] for agent in screen.agents_table.agents] == ["Support Agent"]
        assert screen.agent_id == ids["support"]
        await press(pilot, "escape")
        assert len(screen.agents_table.agents) == 2
        assert screen.focused is screen.agents_table
        # The cursor stays on the agent that was picked through the filter.
        assert screen.agent_id == ids["support"]


async def test_a_filter_matching_nothing_leaves_no_stale_diff_title(service, ids):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        assert "Unsaved changes" in str(screen.query_one("#diff-pane").border_title)
        await press(pilot, "slash", *"zzz")
        assert screen.agents_table.agents == []
        assert "No agent matches the filter" in screen.diff.text
        assert str(screen.query_one("#diff-pane").border_title) == "Diff"


async def test_enter_on_a_version_shows_its_diff_full_screen(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "j", "enter")
        assert isinstance(pilot.app.screen, CompareScreen)
        body = pilot.app.screen.query_one(DiffBody)
        assert "v1 → v2" in body.text
        assert "politely" in body.text
        # The status line tells what the key bar below it does not.
        assert (
            str(pilot.app.screen.query_one(StatusLine).content)
            == "j/k scroll · g/G top/bottom · r roll back to v2 · R roll back to v1"
        )
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)


# -- snapshot -------------------------------------------------------------------


async def test_s_snapshots_with_a_changelog(service, ids):
    async with running_app(service) as pilot:
        await press(pilot, "s")
        assert isinstance(pilot.app.screen, SnapshotModal)
        await press(pilot, *"Cool", "space", *"bot", "enter")
        assert isinstance(pilot.app.screen, MainScreen)
        versions = service.get_versions(ids["billing"])
        assert [v["version_number"] for v in versions] == [2, 1]
        assert versions[0]["changelog"] == "Cool bot"
        assert versions[0]["created_by"] == "tester"
        assert "Saved v2 of Billing Bot" in toasts(pilot.app)
        screen = main_screen(pilot.app)
        assert screen.timeline.cursor_key == versions[0]["id"]
        assert not screen.timeline.show_live_row


async def test_s_then_escape_cancels(service, ids):
    async with running_app(service) as pilot:
        await press(pilot, "s")
        await pilot.press(*"no")
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)
        assert len(service.get_versions(ids["billing"])) == 1


# -- mark and compare --------------------------------------------------------------


async def test_space_marks_and_c_compares_marked_with_highlighted(service, ids):
    v1, _v2, v3 = ids["support_versions"]
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        await press(pilot, "G", "space")
        assert screen.timeline.marked == v1
        await press(pilot, "g", "c")
        assert isinstance(pilot.app.screen, CompareScreen)
        comparison = pilot.app.screen.comparison
        assert (comparison["from"]["version_id"], comparison["to"]["version_id"]) == (v1, v3)
        text = pilot.app.screen.query_one(DiffBody).text
        assert "system_prompt" in text and "politely" in text
        await press(pilot, "escape")
        # space again unmarks.
        await press(pilot, "G", "space")
        assert screen.timeline.marked is None


async def test_c_without_a_mark_compares_highlighted_with_live(service, ids):
    v1, _v2, _v3 = ids["support_versions"]
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "G", "c")
        comparison = pilot.app.screen.comparison
        assert comparison["from"]["version_id"] == v1
        assert comparison["to"]["label"] == "live"


async def test_from_the_compare_view_r_and_R_roll_back_to_either_version_shown(service, ids):
    _v1, v2, v3 = ids["support_versions"]
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        await press(pilot, "G", "space", "k", "c")  # v1 marked, v2 highlighted
        compare = pilot.app.screen
        assert isinstance(compare, CompareScreen)
        assert "r roll back to v2 · R roll back to v1" in compare.query_one(StatusLine).content.plain
        await press(pilot, "R")  # the older: v1, through the usual dialog
        modal = pilot.app.screen
        assert isinstance(modal, RollbackModal) and modal.focused is modal.query_one("#cancel", Button)
        assert "live config → v1" in modal.query_one(DiffBody).text
        await press(pilot, "n")  # cancelled: back on the compare view, nothing done
        assert pilot.app.screen is compare
        assert audit_actions(service, "version.rollback") == 0
        await press(pilot, "r", "y")  # the newer: v2
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.compare_with_live(ids["support"], v2)["identical"]
        assert "Rolled back Support Agent to v2" in toasts(pilot.app)
        assert screen.timeline.cursor_key == v2
        assert v3 in [entry["id"] for entry in screen.timeline.entries]


async def test_after_esc_from_compare_the_cursor_is_on_a_version_compared(service, ids):
    _v1, v2, v3 = ids["support_versions"]
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        await press(pilot, "G", "space", "g", "c")  # v1 against v3
        await press(pilot, "escape")
        assert screen.timeline.cursor_key == v3
        await press(pilot, "c")
        # While the view is open the cursor behind it moves (a reload after another process's change):
        screen.timeline.move_cursor(row=screen.timeline.get_row_index(v2))
        assert screen.timeline.cursor_key == v2
        await press(pilot, "escape")
        assert screen.timeline.cursor_key == v3  # back on the newer version compared


# -- rollback -------------------------------------------------------------------------


async def test_r_then_y_rolls_back(service, ids):
    v1, _v2, _v3 = ids["support_versions"]
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "G", "r")
        modal = pilot.app.screen
        assert isinstance(modal, ConfirmModal)
        assert modal.focused is modal.query_one("#cancel", Button)
        # The dialog shows the change from the live config to v1.
        body = modal.query_one(DiffBody).text
        assert "live config → v1" in body and "politely" in body
        await press(pilot, "y")
        comparison = service.compare_with_live(ids["support"], v1)
        assert comparison["identical"]
        assert len(service.get_versions(ids["support"])) == 3  # nothing was unsaved
        assert "Rolled back Support Agent to v1" in toasts(pilot.app)
        assert main_screen(pilot.app).timeline.cursor_key == v1


async def test_r_saves_unsaved_changes_first(service, ids):
    async with running_app(service) as pilot:
        await press(pilot, "enter", "G", "r")
        lines = " ".join(
            static.content.plain for static in pilot.app.screen.query("Static") if hasattr(static.content, "plain")
        )
        assert "unsaved changes" in lines
        await press(pilot, "y")
        versions = service.get_versions(ids["billing"])
        assert versions[0]["changelog"] == "Auto: before rollback to v1"
        assert parse_snapshot(versions[0]["config_snapshot"])["temperature"] == 0.2
        agent = service.get(ids["billing"])
        assert agent["temperature"] == 0.7
        assert any("saved as v2 first" in toast for toast in toasts(pilot.app))


async def test_r_then_n_escape_or_enter_on_cancel_changes_nothing(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "G")
        for key in ("n", "escape", "enter"):  # enter presses the focused button: Cancel
            await press(pilot, "r")
            assert isinstance(pilot.app.screen, ConfirmModal)
            await press(pilot, key)
            assert isinstance(pilot.app.screen, MainScreen), key
        agent = service.get(ids["support"])
        assert agent["max_tokens"] == 2048


async def test_r_on_a_damaged_version_is_refused(service, ids, db_path):
    v1, _v2, _v3 = ids["support_versions"]
    write_raw_snapshot(db_path, v1)
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        await press(pilot, "G")
        assert screen.timeline.current["damaged"]
        assert "damaged" in screen.diff.text
        await press(pilot, "r")
        assert isinstance(pilot.app.screen, MainScreen)
        assert any("damaged" in toast for toast in toasts(pilot.app))
        assert service.get(ids["support"])["max_tokens"] == 2048


async def test_r_on_the_version_the_live_config_equals_says_so_without_a_dialog(service, ids):
    _v1, _v2, v3 = ids["support_versions"]
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        assert screen.timeline.cursor_key == v3 and screen.timeline.current["matches_live"]
        await press(pilot, "r")
        assert isinstance(pilot.app.screen, MainScreen)
        assert "Support Agent already has the config of v3: nothing to roll back." in toasts(pilot.app)
    assert len(service.get_versions(ids["support"])) == 3
    assert audit_actions(service, "version.rollback") == 0


async def test_the_rollback_dialog_shrinks_when_there_is_nothing_to_change(service, ids):
    # Opened on a version the live config equals (the timeline had not seen
    # the change yet): the note says so, and no empty diff box fills the screen.
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        agent, entry = screen.timeline.agent, screen.timeline.current
        pilot.app.push_screen(RollbackModal(pilot.app.service, agent, entry))
        await settle(pilot)
        modal = pilot.app.screen
        assert "nothing will change" in modal.query_one("#plan-note", Static).content.plain
        assert not modal.query_one(DiffBody).display
        assert not modal.query_one(".dialog").has_class("-diff")
        assert modal.query_one(".dialog").size.height < SIZE[1] // 2
        await press(pilot, "n")


# -- prune and delete ----------------------------------------------------------------


async def test_p_prunes_to_the_number_typed(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)
        assert modal.focused is modal.query_one("#keep", Input)
        assert modal.query_one("#keep", Input).value == ""  # no default to delete on
        assert modal.doomed == []
        await press(pilot, "2")
        assert [v["version_number"] for v in modal.doomed] == [1]
        await press(pilot, "y")
        versions = service.get_versions(ids["support"])
        assert [v["version_number"] for v in versions] == [3, 2]
        assert any(toast.startswith("Pruned 1 version of Support Agent") for toast in toasts(pilot.app))


async def test_p_then_y_deletes_nothing_on_a_number_nobody_typed(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "y")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)  # y refused: the dialog stays
        assert len(service.get_versions(ids["support"])) == 3
        assert audit_actions(service, "version.prune") == 0
        assert any("Type how many versions to keep" in toast for toast in toasts(pilot.app, "warning"))
        await press(pilot, "enter")  # enter on the empty field: still nothing
        assert pilot.app.screen is modal
        assert len(service.get_versions(ids["support"])) == 3


async def test_enter_in_the_prune_field_previews_the_number_typed_and_y_confirms(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1", "enter")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)  # enter kept the dialog open
        assert [v["version_number"] for v in modal.doomed] == [2, 1]
        assert "Deletes 2 versions (v1–v2)" in modal.query_one("#prune-summary", Static).content.plain
        assert len(service.get_versions(ids["support"])) == 3  # enter deleted nothing
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert [v["version_number"] for v in service.get_versions(ids["support"])] == [3]


async def test_the_prune_list_is_one_line_a_version_and_never_uses_the_damaged_mark(service, ids):
    support = ids["support"]
    service.update(support, {"max_tokens": 4000})
    service.create_version(support, "A long changelog " + "that goes on and on " * 10)
    service.update(support, {"max_tokens": 5000})
    service.create_version(support, "Newest")
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1")
        modal = pilot.app.screen
        assert [v["version_number"] for v in modal.doomed] == [4, 3, 2, 1]
        doomed = modal.query_one("#prune-doomed", Static)
        lines = doomed.content.plain.splitlines()
        assert [line[:6] for line in lines] == ["  - v4", "  - v3", "  - v2", "  - v1"]
        assert "✗" not in doomed.content.plain
        assert doomed.size.height == 4  # the long changelog is cut, not wrapped
        await press(pilot, "n")
    assert len(service.get_versions(support)) == 5


async def test_p_then_escape_keeps_everything(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1", "escape")
        assert len(service.get_versions(ids["support"])) == 3


async def test_x_deletes_the_highlighted_version_after_confirmation(service, ids):
    v1, _v2, v3 = ids["support_versions"]
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "j", "x")
        assert isinstance(pilot.app.screen, ConfirmModal)
        await press(pilot, "n")
        assert len(service.get_versions(ids["support"])) == 3
        await press(pilot, "x", "y")
        assert [v["id"] for v in service.get_versions(ids["support"])] == [v3, v1]
        assert "Deleted v2 of Support Agent" in toasts(pilot.app)


async def test_a_failure_is_a_toast_not_a_traceback(service, ids):
    _v1, v2, _v3 = ids["support_versions"]
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "j", "x")
        service.delete_version(v2)  # someone else was faster
        await press(pilot, "y")
        assert any("No version" in message for message in toasts(pilot.app, "error"))
        assert isinstance(pilot.app.screen, MainScreen)


# -- edit and new ---------------------------------------------------------------------


async def test_e_edits_in_the_editor_from_EDITOR(service, ids, tmp_path, monkeypatch):
    monkeypatch.setenv(
        "EDITOR",
        fake_editor(
            tmp_path,
            "p = pathlib.Path(sys.argv[1]); t = p.read_text()\n"
            "assert 'system_prompt: |' in t\n"  # the prompt is block text
            "p.write_text(t.replace('temperature: 0.5', 'temperature: 0.3'))\n",
        ),
    )
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        agent = service.get(ids["support"])
        assert agent["temperature"] == 0.3
        assert agent["unsaved_changes"]
        assert any(toast.startswith("Updated the live config of Support Agent") for toast in toasts(pilot.app))
        assert main_screen(pilot.app).timeline.cursor_key == LIVE_KEY


async def test_e_with_invalid_yaml_keeps_the_text_for_another_try(service, ids, tmp_path, monkeypatch):
    seen = tmp_path / "seen.txt"
    monkeypatch.setenv(
        "VISUAL",
        fake_editor(
            tmp_path,
            f"p = pathlib.Path(sys.argv[1]); t = p.read_text(); seen = pathlib.Path({str(seen)!r})\n"
            "if not seen.exists():\n"
            "    seen.write_text(t)\n"
            "    p.write_text(t.replace('temperature: 0.5', 'temperature: 5.0'))\n"
            "else:\n"
            "    seen.write_text(t)\n"
            "    p.write_text(t.replace('temperature: 5.0', 'temperature: 0.4'))\n",
        ),
    )
    async with running_app(service, agent="Support Agent") as pilot:
        await pilot.press("e")
        for _ in range(20):
            await pilot.pause()
            if isinstance(pilot.app.screen, EditAgainModal):
                break
        assert isinstance(pilot.app.screen, EditAgainModal)
        assert "temperature" in pilot.app.screen.error
        assert service.get(ids["support"])["temperature"] == 0.5
        await press(pilot, "e")
        second = seen.read_text()
        assert second.startswith("# ✗ temperature")  # the reason, on top of...
        assert "temperature: 5.0" in second  # ...what was typed
        assert service.get(ids["support"])["temperature"] == 0.4


async def test_e_without_an_editor_opens_the_in_app_editor(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        modal = pilot.app.screen
        assert isinstance(modal, EditorModal)
        area = modal.query_one(TextArea)
        area.text = area.text.replace("max_tokens: 2048", "max_tokens: -5")
        await press(pilot, "ctrl+o")
        assert pilot.app.screen is modal  # refused, still open, text kept
        assert "max_tokens" in str(modal.query_one("#editor-error").content)
        assert "max_tokens: -5" in area.text
        area.text = area.text.replace("max_tokens: -5", "max_tokens: 512")
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.get(ids["support"])["max_tokens"] == 512


async def test_n_creates_an_agent_from_the_template(service, ids):
    async with running_app(service) as pilot:
        await press(pilot, "n")
        modal = pilot.app.screen
        assert isinstance(modal, EditorModal)
        area = modal.query_one(TextArea)
        await press(pilot, "ctrl+o")
        assert pilot.app.screen is modal  # the unchanged template creates nothing
        # Markup, shown as typed (a closing tag's "/" no new name may hold: no URL could reach it).
        area.text = area.text.replace("name: New agent", "name: Triage [bold]Bot")
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, MainScreen)
        agents = {agent["name"]: agent for agent in service.list_agents()}
        assert "Triage [bold]Bot" in agents
        assert agents["Triage [bold]Bot"]["system_prompt"].startswith("You are a helpful assistant.\n")
        assert main_screen(pilot.app).agent_id == agents["Triage [bold]Bot"]["id"]
        assert "Created agent Triage [bold]Bot; s saves its first version" in toasts(pilot.app)


async def test_escape_twice_discards_in_app_edits(service, ids):
    async with running_app(service) as pilot:
        await press(pilot, "n")
        modal = pilot.app.screen
        modal.query_one(TextArea).text = "name: Something"
        await press(pilot, "escape")
        assert pilot.app.screen is modal
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)
        assert len(service.list_agents()) == 2


# -- view keys ------------------------------------------------------------------------


async def test_u_toggles_split_and_unified(service, ids):
    async with running_app(service, size=(140, 36), agent="Support Agent") as pilot:
        await press(pilot, "j", "enter")
        body = pilot.app.screen.query_one(DiffBody)
        assert body.is_split  # 140 columns: room for both sides
        await press(pilot, "u")
        assert not body.is_split
        await press(pilot, "escape")
        assert main_screen(pilot.app).diff.split_mode == "unified"
        await press(pilot, "u")
        assert main_screen(pilot.app).diff.is_split


async def test_help_shows_every_key_and_marker(service, ids):
    async with running_app(service) as pilot:
        for key in ("question_mark", "f1"):
            await press(pilot, key)
            assert isinstance(pilot.app.screen, HelpScreen)
            text = help_content().plain
            for word in ("space", "roll back", "prune", "ctrl+p", "◆", "⚑", "✗", "●"):
                assert word in text
            await press(pilot, "escape")
            assert isinstance(pilot.app.screen, MainScreen)


async def test_ctrl_p_palette_offers_every_action(service, ids):
    async with running_app(service) as pilot:
        titles = [command.title for command in pilot.app.get_system_commands(pilot.app.screen)]
        for title in (
            "Snapshot",
            "Mark version",
            "Compare",
            "Roll back",
            "Prune",
            "Delete version",
            "Edit agent",
            "New agent",
            "Help",
        ):
            assert title in titles
        await press(pilot, "ctrl+p")
        assert isinstance(pilot.app.screen, CommandPalette)
        await press(pilot, "escape")


async def test_palette_command_runs_the_action(service, ids):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        command = next(c for c in pilot.app.get_system_commands(screen) if c.title == "Snapshot")
        pilot.app.call_later(command.callback)
        await settle(pilot)
        assert isinstance(pilot.app.screen, SnapshotModal)


async def test_q_quits(service, ids):
    async with running_app(service) as pilot:
        app = pilot.app
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


# -- beyond the basics -------------------------------------------------------------------


@pytest.mark.both_backends  # what changed is read from each backend its own way
async def test_changes_by_another_process_show_up_keeping_the_cursor(service, ids, db_path):
    _v1, v2, _v3 = ids["support_versions"]
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        await press(pilot, "j")
        assert screen.timeline.cursor_key == v2
        other = AgentService(str(db_path), user="colleague")
        try:
            other.update(ids["support"], {"temperature": 0.9})
            new = other.create_version(ids["support"], "From the CLI")
        finally:
            other.close()
        screen.poll_changes()  # what the 1-second timer does
        await settle(pilot)
        assert screen.timeline.entries[0]["id"] == new["id"]
        assert screen.timeline.cursor_key == v2
        assert screen.agents_table.agent(ids["support"])["version_count"] == 4


@pytest.mark.sqlite_only  # layout: where the view is, not how the change is read
async def test_a_version_saved_by_someone_else_shows_at_the_top_of_a_timeline_scrolled_to_the_top(service, db_path):
    long_history(service, db_path, 40)
    async with running_app(service, size=(80, 24)) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "enter", "j")  # the timeline, on v39: the view at the top
        timeline = screen.timeline
        agent_id = timeline.agent["id"]
        assert timeline.current["version_number"] == 39 and timeline.scroll_y == 0
        service.update(agent_id, {"max_tokens": 4100}, actor="colleague")
        service.create_version(agent_id, "From the CLI", actor="colleague")
        screen.poll_changes()  # what the 1-second timer does
        await settle(pilot)
        # Like a log: the view stays at the top and shows v41 arriving there; the cursor stays on v39.
        assert timeline.current["version_number"] == 39
        assert timeline.scroll_y == 0
        assert [entry["version_number"] for entry in timeline.entries[:3]] == [41, 40, 39]
        assert timeline.cursor_row == 2
        assert "(41)" in str(screen.query_one("#timeline-pane").border_title)
        # Scrolled away from the top, the view holds still: the cursor's row stays where it is on the screen.
        await press(pilot, *"j" * 15)
        on_screen = timeline.cursor_row - timeline.scroll_y
        assert timeline.scroll_y > 0
        service.update(agent_id, {"max_tokens": 4200}, actor="colleague")
        service.create_version(agent_id, "Again", actor="colleague")
        screen.poll_changes()
        await settle(pilot)
        assert timeline.current["version_number"] == 24
        assert timeline.cursor_row - timeline.scroll_y == on_screen


@pytest.mark.both_backends  # each backend opens read-only its own way
async def test_read_only_database_browses_and_says_why_keys_are_unavailable(service, ids, db_path):
    service.close()
    read_only = AgentService(str(db_path), read_only=True)
    try:
        async with running_app(read_only) as pilot:
            screen = main_screen(pilot.app)
            assert screen.query_one("#topbar").read_only
            await open_agent(pilot, "Support Agent")
            for key in ("s", "r", "p", "x", "e", "n"):
                await press(pilot, key)
                assert isinstance(pilot.app.screen, MainScreen), key
            warnings = toasts(pilot.app, "warning")
            assert len(warnings) == 6
            assert all("read-only" in message for message in warnings)
            await press(pilot, "G", "space", "g", "c")
            assert isinstance(pilot.app.screen, CompareScreen)  # comparing still works
    finally:
        read_only.close()
    assert len(AgentService(str(db_path)).get_versions(ids["support"])) == 3


async def test_data_is_shown_literally(service, db_path):
    agent = service.create_agent(
        {
            "name": "Evil Agent",
            "model_id": "m",
            "system_prompt": "Line one\nUse [b]markup[/b] and \x1b]0;title\x07 escapes",
        }
    )
    rename_as_an_older_tool(db_path, agent["id"], "[bold red]Evil[/] \x1b[31mAgent")  # refused to new names now
    service.create_version(agent["id"], "[link=http://x]click[/link]")
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        await press(pilot, "enter")
        assert "[b]markup[/b]" in screen.diff.text
        assert "␛]0;title␇" in screen.diff.text
        assert "\x1b" not in screen.diff.text
        assert "[link=http://x]click[/link]" in str(screen.status.content)
        title = Content.from_markup(screen.query_one("#timeline-pane").border_title).plain
        assert "[bold red]Evil[/] ␛[31mAgent" in title


async def test_empty_database_tells_how_to_create_an_agent(service):
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        text = str(screen.query_one("#empty").content)
        assert "No agents yet" in text and "Press n" in text
        await press(pilot, "n")
        assert isinstance(pilot.app.screen, EditorModal)


async def test_timeline_loads_pages_lazily_and_keeps_a_window(service, monkeypatch):
    monkeypatch.setattr(Timeline, "PAGE_SIZE", 5)
    monkeypatch.setattr(Timeline, "WINDOW_PAGES", 2)
    monkeypatch.setattr(Timeline, "PREFETCH", 2)
    agent = service.create_agent({"name": "Busy", "model_id": "m"})
    for number in range(1, 24):
        service.update(agent["id"], {"max_tokens": number})
        service.create_version(agent["id"], f"step {number}")
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        assert screen.timeline.row_count == 5
        await press(pilot, "enter", "j", "j", "j")
        assert screen.timeline.row_count == 10  # the next page, not everything
        await press(pilot, *"j" * 6)
        assert screen.timeline.current["version_number"] == 14
        assert screen.timeline.row_count == 10  # the first page was let go
        await press(pilot, "G")
        assert screen.timeline.current["version_number"] == 1
        assert screen.timeline.row_count <= 10
        await press(pilot, "g")
        assert screen.timeline.current["version_number"] == 23


async def test_no_color_and_light_theme_still_work(service, ids, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    async with running_app(service, size=(80, 24)) as pilot:
        app = pilot.app
        assert app.no_color
        await open_agent(pilot, "Support Agent")
        app.theme = "textual-light"
        await press(pilot, "j")
        assert "v1 → v2" in main_screen(app).diff.text
        app.theme = "ansi-dark"
        await press(pilot, "enter")
        assert "politely" in app.screen.query_one(DiffBody).text


async def test_the_status_line_is_cut_with_an_ellipsis_in_a_narrow_window(service, ids):
    support = ids["support"]
    service.update(support, {"max_tokens": 4000})
    service.create_version(support, "A long changelog " + "that goes on and on " * 10 + "THE END")
    async with running_app(service, size=(80, 24)) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        status = screen.query_one(StatusLine)
        assert "THE END" in str(status.content)
        [strip] = status.render_lines(Region(0, 0, status.outer_size.width, 1))
        shown = strip.text.rstrip()
        assert shown.endswith("…") and "THE END" not in shown
        assert status.size.height == 1


async def test_a_partly_damaged_version_is_still_compared(service, ids, db_path):
    _v1, v2, _v3 = ids["support_versions"]
    write_raw_snapshot(db_path, v2, '{"name": "Support Agent", "temperature": "warm", "max_tokens": 1024}')
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        await press(pilot, "j")
        text = screen.diff.text
        assert "✗ v2: snapshot is damaged" in text
        assert "warm" in text  # what could be read is compared
        await press(pilot, "j")  # v1: sound, shown as usual
        assert "damaged" not in screen.diff.text
