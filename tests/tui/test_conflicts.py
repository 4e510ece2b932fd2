"""Pilot tests: edits, rollbacks and prunes while someone else changes the same agent.

The TUI saves an edit as a three-way merge (only what the person changed is
written), and carries out a rollback or a prune by the plan it showed: when
the agent changed meanwhile, nothing is done and the dialog shows the fresh
plan. The other writer is a second process ($EDITOR runs one) or the
service called from the test while a dialog is open.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Button, Static, TextArea

from kaizen_tui.core.schema import parse_snapshot
from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.editing import EditAgainModal
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.merge import MERGE_VALUE_CHARS, MERGE_VALUE_LINES, MergeConflictModal
from kaizen_tui.tui.screens.modals import EditorModal
from kaizen_tui.tui.screens.plans import PruneModal, RollbackModal
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.lists import LIVE_KEY
from tests.support import (
    PROMPT_V2,
    audit_actions,
    fake_editor,
    main_screen,
    open_agent,
    press,
    raw_sql,
    running_app,
    screen_text,
    settle,
    toasts,
)


def in_french(text: str) -> str:
    return text.replace("Answer briefly and politely.", "Answer in French.")


FRENCH = in_french(PROMPT_V2)
#: What the fake $EDITOR does to the text ``t``: the prompt in French, as :func:`in_french`...
EDIT_IN_FRENCH = "t.replace('Answer briefly and politely.', 'Answer in French.')"
#: ...and max_tokens 1000, which the colleague sets to 4321 meanwhile: a conflict.
EDIT_IN_FRENCH_1000 = EDIT_IN_FRENCH + ".replace('max_tokens: 2048', 'max_tokens: 1000')"


def editor_with_a_colleague(tmp_path: Path, db_path: Path, agent_id: str, edit: str) -> str:
    """A fake $EDITOR: while it is open, a colleague (another process) sets max_tokens to 4321, once.

    ``edit`` is Python run on the file's text ``t``, returning the new text.
    The second time it runs (edit again) the colleague does nothing more.
    """
    seen = tmp_path / "editor-runs.txt"
    return fake_editor(
        tmp_path,
        "from kaizen_tui.service import AgentService\n"
        f"runs = pathlib.Path({str(seen)!r})\n"
        "first = not runs.exists()\n"
        "runs.write_text(runs.read_text() + 'x' if runs.exists() else 'x')\n"
        "if first:\n"
        f"    service = AgentService({str(db_path)!r}, user='colleague')\n"
        f"    service.update({agent_id!r}, {{'max_tokens': 4321}}, actor='colleague')\n"
        "    service.close()\n"
        "p = pathlib.Path(sys.argv[1]); t = p.read_text()\n"
        f"p.write_text({edit})\n",
    )


async def open_the_editor_then_a_colleague_edits(pilot: Any, service: AgentService, agent_id: str) -> EditorModal:
    """``e`` opens the in-app editor; while it is open, a colleague sets max_tokens to 4321."""
    await press(pilot, "e")
    editor = pilot.app.screen
    assert isinstance(editor, EditorModal)
    service.update(agent_id, {"max_tokens": 4321}, actor="colleague")
    return editor


async def edit_in_the_app(pilot: Any, old: str, new: str) -> None:
    """``e``, then in the in-app editor ``old`` replaced by ``new``, then ``ctrl+o``."""
    await press(pilot, "e")
    area = pilot.app.screen.query_one(TextArea)
    area.text = area.text.replace(old, new)
    await press(pilot, "ctrl+o")


# -- edits --------------------------------------------------------------------------------


async def test_an_edit_in_EDITOR_keeps_what_a_colleague_changed_meanwhile(service, ids, tmp_path, db_path, monkeypatch):
    monkeypatch.setenv("EDITOR", editor_with_a_colleague(tmp_path, db_path, ids["support"], EDIT_IN_FRENCH))
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        assert isinstance(pilot.app.screen, MainScreen)
        agent = service.get(ids["support"])
        assert agent["system_prompt"] == FRENCH  # the person's change
        assert agent["max_tokens"] == 4321  # the colleague's, kept
        assert agent["temperature"] == 0.5
        message = next(
            toast for toast in toasts(pilot.app) if toast.startswith("Updated the live config of Support Agent")
        )
        assert "(system_prompt)" in message
        assert "kept max_tokens as colleague changed it meanwhile" in message


async def test_an_edit_in_the_app_keeps_what_a_colleague_changed_meanwhile(service, ids, monkeypatch):
    # Who changed the kept fields comes with apply_edit's answer (kept_by): the TUI reads no audit log itself.
    def no_log(*args: Any, **kwargs: Any) -> list:
        raise AssertionError("the TUI read the audit log")

    monkeypatch.setattr(service, "audit_log", no_log)
    async with running_app(service, agent="Support Agent") as pilot:
        editor = await open_the_editor_then_a_colleague_edits(pilot, service, ids["support"])
        area = editor.query_one(TextArea)
        area.text = in_french(area.text)
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, MainScreen)
        agent = service.get(ids["support"])
        assert (agent["system_prompt"], agent["max_tokens"]) == (FRENCH, 4321)
        assert any("kept max_tokens as colleague changed it meanwhile" in toast for toast in toasts(pilot.app))


async def test_a_conflict_in_EDITOR_is_settled_field_by_field(service, ids, tmp_path, db_path, monkeypatch):
    monkeypatch.setenv("EDITOR", editor_with_a_colleague(tmp_path, db_path, ids["support"], EDIT_IN_FRENCH_1000))
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        modal = pilot.app.screen
        assert isinstance(modal, MergeConflictModal)
        assert [conflict["field"] for conflict in modal.conflicts] == ["max_tokens"]
        text = screen_text(pilot.app)
        assert "max_tokens" in text and "theirs  4321" in text and "yours   1000" in text
        assert "colleague" in text  # the message says who
        assert modal.focused is modal.query_one("#cancel", Button)
        # Nothing is written until the person chooses; y without a choice says so.
        agent = service.get(ids["support"])
        assert (agent["system_prompt"], agent["max_tokens"]) == (PROMPT_V2, 4321)
        await press(pilot, "y")
        assert pilot.app.screen is modal
        assert any("Choose yours (m) or theirs (t) for max_tokens" in toast for toast in toasts(pilot.app, "warning"))
        await press(pilot, "m", "y")
        assert isinstance(pilot.app.screen, MainScreen)
        agent = service.get(ids["support"])
        assert (agent["system_prompt"], agent["max_tokens"]) == (FRENCH, 1000)
        assert any(
            toast.startswith("Updated the live config of Support Agent (system_prompt, max_tokens)")
            for toast in toasts(pilot.app)
        )


async def test_going_back_from_a_conflict_in_EDITOR_keeps_the_text_then_theirs_wins(
    service, ids, tmp_path, db_path, monkeypatch
):
    monkeypatch.setenv("EDITOR", editor_with_a_colleague(tmp_path, db_path, ids["support"], EDIT_IN_FRENCH_1000))
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        assert isinstance(pilot.app.screen, MergeConflictModal)
        await press(pilot, "escape")
        # Back: why it was not saved, and the choice to edit the kept text again.
        assert isinstance(pilot.app.screen, EditAgainModal)
        assert "max_tokens" in pilot.app.screen.error and "Nothing was saved" in pilot.app.screen.error
        agent = service.get(ids["support"])
        assert (agent["system_prompt"], agent["max_tokens"]) == (PROMPT_V2, 4321)
        await press(pilot, "e")  # the editor again, on the text as typed: the conflict is still there
        assert isinstance(pilot.app.screen, MergeConflictModal)
        await press(pilot, "T", "y")  # all theirs
        assert isinstance(pilot.app.screen, MainScreen)
        agent = service.get(ids["support"])
        assert (agent["system_prompt"], agent["max_tokens"]) == (FRENCH, 4321)
        message = next(
            toast for toast in toasts(pilot.app) if toast.startswith("Updated the live config of Support Agent")
        )
        assert "(system_prompt)" in message and "kept max_tokens as colleague changed it meanwhile" in message


async def test_a_settled_conflict_still_keeps_what_the_colleague_alone_changed(service, ids):
    # The colleague changed max_tokens (so did the person: a conflict) and the
    # description (the person did not): settling max_tokens keeps the description.
    async with running_app(service, agent="Support Agent") as pilot:
        editor = await open_the_editor_then_a_colleague_edits(pilot, service, ids["support"])
        service.update(ids["support"], {"description": "Set by the colleague"}, actor="colleague")
        area = editor.query_one(TextArea)
        area.text = in_french(area.text).replace("max_tokens: 2048", "max_tokens: 1000")
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, MergeConflictModal)
        assert [conflict["field"] for conflict in pilot.app.screen.conflicts] == ["max_tokens"]
        await press(pilot, "m", "y")
        assert isinstance(pilot.app.screen, MainScreen)
        agent = service.get(ids["support"])
        assert (agent["system_prompt"], agent["max_tokens"]) == (FRENCH, 1000)
        assert agent["description"] == "Set by the colleague"
        message = next(
            toast for toast in toasts(pilot.app) if toast.startswith("Updated the live config of Support Agent")
        )
        assert "(system_prompt, max_tokens)" in message
        assert "kept description as colleague changed it meanwhile" in message


async def test_a_conflict_in_the_app_editor_goes_back_to_the_text_or_is_settled(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        editor = await open_the_editor_then_a_colleague_edits(pilot, service, ids["support"])
        area = editor.query_one(TextArea)
        area.text = in_french(area.text).replace("max_tokens: 2048", "max_tokens: 1000")
        await press(pilot, "ctrl+o")
        modal = pilot.app.screen
        assert isinstance(modal, MergeConflictModal)
        await press(pilot, "escape")
        assert pilot.app.screen is editor  # back to editing, the text as typed
        assert "max_tokens: 1000" in area.text and "Answer in French." in area.text
        assert "Nothing was saved" in str(editor.query_one("#editor-error", Static).content)
        assert service.get(ids["support"])["max_tokens"] == 4321
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, MergeConflictModal)
        await press(pilot, "space", "space", "t", "y")  # mine, theirs, then theirs
        assert isinstance(pilot.app.screen, MainScreen)
        agent = service.get(ids["support"])
        assert (agent["system_prompt"], agent["max_tokens"]) == (FRENCH, 4321)


async def test_the_merge_dialog_shows_data_literally(service, ids):
    hostile = "[bold red]theirs[/]\x1b[2J"
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        editor = pilot.app.screen
        service.update(ids["support"], {"description": hostile}, actor="[i]colleague[/i]")
        area = editor.query_one(TextArea)
        area.text = area.text.replace("description: Handles inquiries", "description: '[link=x]mine[/link]'")
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, MergeConflictModal)
        text = screen_text(pilot.app)
        assert "[bold red]theirs[/]␛[2J" in text
        assert "[link=x]mine[/link]" in text
        assert "[i]colleague[/i]" in text
        await press(pilot, "M", "y")
        assert service.get(ids["support"])["description"] == "[link=x]mine[/link]"


async def test_the_merge_dialog_shows_a_huge_value_cut(service, ids):
    huge = "word " * 200_000  # 1 MB on one line
    many = "\n".join(f"line {number}" for number in range(1000))
    conflicts = [{"field": "system_prompt", "base": PROMPT_V2, "mine": huge, "theirs": many}]
    async with running_app(service) as pilot:
        pilot.app.push_screen(MergeConflictModal("Support Agent", "Changed meanwhile.", conflicts))
        await settle(pilot)
        shown = pilot.app.screen.query_one("#conflict-0", Static).content.plain
        assert len(shown) < 3 * MERGE_VALUE_CHARS
        assert f"… {len(huge) - MERGE_VALUE_CHARS:,} more characters" in shown
        assert f"line {MERGE_VALUE_LINES - 1}\n" in shown and f"… {1000 - MERGE_VALUE_LINES:,} more lines" in shown
        await press(pilot, "M", "y")  # still chosen and saved as ever
        assert isinstance(pilot.app.screen, MainScreen)


async def test_after_an_edit_the_diff_shows_what_it_changed(service, ids):
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        assert "v2 → v3" in screen.diff.text
        await edit_in_the_app(pilot, "temperature: 0.5", "temperature: 0.3")
        assert screen.timeline.cursor_key == LIVE_KEY
        assert "v3 → live config" in screen.diff.text
        assert "0.3" in screen.diff.text
        # Edited again, on the live row: the diff follows (not the one before this edit).
        await edit_in_the_app(pilot, "temperature: 0.3", "temperature: 1.1")
        assert screen.timeline.cursor_key == LIVE_KEY
        assert "1.1" in screen.diff.text and "0.3" not in screen.diff.text
        # Edited back to what v3 holds: no live row; the diff is the highlighted version's.
        await edit_in_the_app(pilot, "temperature: 1.1", "temperature: 0.5")
        key = screen.timeline.cursor_key
        assert key != LIVE_KEY
        assert screen.diff.comparison == service.compare_with_previous(key)
        assert "1.1" not in screen.diff.text


async def test_after_an_edit_in_EDITOR_the_diff_shows_what_it_changed(service, ids, tmp_path, monkeypatch):
    script = (
        "p = pathlib.Path(sys.argv[1])\np.write_text(p.read_text().replace('temperature: 0.2', 'temperature: 0.9'))\n"
    )
    monkeypatch.setenv("EDITOR", fake_editor(tmp_path, script))
    async with running_app(service) as pilot:
        screen = main_screen(pilot.app)
        # Billing Bot: the live row (temperature 0.2, unsaved) is highlighted.
        assert screen.timeline.cursor_key == LIVE_KEY and "0.2" in screen.diff.text
        await press(pilot, "e")
        assert service.get(ids["billing"])["temperature"] == 0.9
        assert screen.timeline.cursor_key == LIVE_KEY
        assert "0.9" in screen.diff.text and "0.2" not in screen.diff.text


async def test_a_poll_right_after_an_edit_does_not_undo_where_the_edit_put_the_cursor(service, ids):
    async with running_app(service) as pilot:
        screen = await open_agent(pilot, "Support Agent")
        assert "v2 → v3" in screen.diff.text
        service.update(ids["support"], {"temperature": 0.3})
        # What a saved edit does, then the poll that saw the change a moment later.
        screen.reload(keep_agent=ids["support"], keep_version=LIVE_KEY, top=True)
        screen.reload()
        await settle(pilot)
        assert screen.timeline.cursor_key == LIVE_KEY
        assert "v3 → live config" in screen.diff.text and "0.3" in screen.diff.text


# -- rollback -----------------------------------------------------------------------------


async def test_a_rollback_refused_as_stale_shows_the_fresh_plan_and_y_confirms_it(service, ids):
    v1, _v2, _v3 = ids["support_versions"]
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "G", "r")
        modal = pilot.app.screen
        assert isinstance(modal, RollbackModal)
        assert "nothing is lost" in modal.query_one("#plan-note", Static).content.plain
        service.update(ids["support"], {"max_tokens": 4321}, actor="colleague")
        await press(pilot, "y")
        # Not rolled back: the dialog stays, says who changed what, and shows the fresh plan.
        assert pilot.app.screen is modal
        agent = service.get(ids["support"])
        assert agent["max_tokens"] == 4321 and len(service.get_versions(ids["support"])) == 3
        note = modal.query_one("#plan-note", Static).content.plain
        assert (
            note.splitlines()[0]
            == "⚠ Changed meanwhile by colleague (max_tokens): nothing was rolled back. Fresh preview below."
        )
        assert 'saved first as a new version "Auto: before rollback to v1"' in note
        assert "4321" in modal.query_one(DiffBody).text
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.compare_with_live(ids["support"], v1)["identical"]
        versions = service.get_versions(ids["support"])
        assert versions[0]["changelog"] == "Auto: before rollback to v1"
        assert parse_snapshot(versions[0]["config_snapshot"])["max_tokens"] == 4321
        assert "Rolled back Support Agent to v1 (unsaved changes saved as v4 first)" in toasts(pilot.app)


async def test_the_rollback_dialog_presents_the_plan(service, ids, db_path):
    _v1, v2, _v3 = ids["support_versions"]
    async with running_app(service) as pilot:
        # Billing Bot: unsaved changes, saved first.
        await press(pilot, "enter", "G", "r")
        assert "they are saved first" in pilot.app.screen.query_one("#plan-note", Static).content.plain
        await press(pilot, "n", "shift+tab")  # back to the agents
        # A version damaged after the timeline was read: the plan refuses it, y does nothing.
        await open_agent(pilot, "Support Agent")
        await press(pilot, "j")
        with raw_sql(db_path) as connection:
            connection.execute("UPDATE agent_version SET config_snapshot = '{' WHERE id = ?", (v2,))
        await press(pilot, "r")
        modal = pilot.app.screen
        assert isinstance(modal, RollbackModal)
        assert "Cannot roll back" in modal.query_one("#plan-note", Static).content.plain
        assert not modal.query_one(DiffBody).display
        await press(pilot, "y")
        assert pilot.app.screen is modal
        await press(pilot, "escape")
    assert audit_actions(service, "version.rollback") == 0


async def test_a_rollback_dialog_whose_version_another_process_deleted_names_it_by_number(service, ids, db_path):
    v1, _v2, _v3 = ids["support_versions"]
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "G", "r")
        modal = pilot.app.screen
        assert isinstance(modal, RollbackModal) and modal.plan is not None
        other = AgentService(str(db_path))  # another process
        other.delete_version(v1, actor="dana")
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        errors = toasts(pilot.app, "error")
        assert errors and "v1" in errors[-1] and "deleted meanwhile by dana" in errors[-1]
        assert v1 not in " ".join(toasts(pilot.app)) and "ver-" not in " ".join(toasts(pilot.app))
        assert audit_actions(service, "version.rollback") == 0


# -- prune --------------------------------------------------------------------------------


async def test_a_prune_refused_as_stale_shows_the_fresh_plan_and_y_confirms_it(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "2")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)
        assert [v["version_number"] for v in modal.doomed] == [1]
        service.create_version(ids["support"], "Snapshot by a colleague", actor="colleague")
        await press(pilot, "y")
        # Nothing deleted: the dialog stays with the fresh plan and one line about it.
        assert pilot.app.screen is modal
        assert [v["version_number"] for v in service.get_versions(ids["support"])] == [4, 3, 2, 1]
        assert [v["version_number"] for v in modal.doomed] == [2, 1]
        summary = modal.query_one("#prune-summary", Static).content.plain
        assert (
            summary.splitlines()[0]
            == "⚠ Changed meanwhile: snapshot v4 by colleague. Nothing was deleted: the preview below is fresh."
        )
        assert any("colleague" in toast for toast in toasts(pilot.app, "warning"))  # the service's sentence
        assert "(v1–v2)" in summary
        assert "it has 4)" in modal.query_one("#prune-intro", Static).content.plain
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert [v["version_number"] for v in service.get_versions(ids["support"])] == [4, 3]
        assert any(
            toast.startswith("Pruned 2 versions of Support Agent; kept the 2 newest") for toast in toasts(pilot.app)
        )


async def test_a_prune_refused_for_a_label_set_meanwhile_says_which_label_and_who(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "2")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)
        assert [v["version_number"] for v in modal.doomed] == [1]
        service.set_label(ids["support"], "production", 1, actor="carol")
        await press(pilot, "y")
        assert pilot.app.screen is modal
        assert len(service.get_versions(ids["support"])) == 3  # nothing deleted
        summary = modal.query_one("#prune-summary", Static).content.plain
        assert summary.splitlines()[0] == (
            "⚠ Changed meanwhile: set production → v1 by carol. Nothing was deleted: the preview below is fresh."
        )
        assert "Nothing to delete" in summary  # v1 is kept for its label now
        assert any("set production → v1 by carol" in toast for toast in toasts(pilot.app, "warning"))
        assert not any("added or deleted" in toast for toast in toasts(pilot.app))
        await press(pilot, "n")


async def test_the_prune_preview_refreshes_when_a_label_moves_or_a_version_comes(service, ids):
    v1, v2, _v3 = ids["support_versions"]
    service.set_label(ids["support"], "staging", v2, actor="carol")
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)
        assert [v["version_number"] for v in modal.doomed] == [1]
        summary = modal.query_one("#prune-summary", Static)
        assert "Also keeps v2 (staging)" in summary.content.plain
        service.set_label(ids["support"], "staging", v1, actor="carol")
        main_screen(pilot.app).poll_changes()  # what the 1-second timer (or PostgreSQL's announcement) does
        await settle(pilot)
        # Shown without a key pressed: v2 goes now, v1 stays for the label, and a line says why.
        assert [v["version_number"] for v in modal.doomed] == [2]
        assert summary.content.plain.splitlines()[0] == (
            "⚠ Changed meanwhile: moved staging v2 → v1 by carol. The preview below is fresh."
        )
        assert "Also keeps v1 (staging)" in summary.content.plain
        service.update(ids["support"], {"max_tokens": 7777})
        service.create_version(ids["support"], "By dana", actor="dana")
        main_screen(pilot.app).poll_changes()
        await settle(pilot)
        assert [v["version_number"] for v in modal.doomed] == [3, 2]
        assert "snapshot v4 by dana" in summary.content.plain.splitlines()[0]
        assert "it has 4)" in modal.query_one("#prune-intro", Static).content.plain
        # y prunes what is shown now.
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
    assert [v["version_number"] for v in service.get_versions(ids["support"])] == [4, 1]


async def test_the_prune_warning_about_the_live_config_comes_from_the_plan(service, ids):
    support = ids["support"]
    v1, _v2, _v3 = ids["support_versions"]
    service.rollback_to_version(support, v1)  # the live config is v1's again: only v1 holds it
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "2")
        modal = pilot.app.screen
        assert modal.plan["live_loses_version"]
        assert "v1 equals the live config and goes" in modal.query_one("#prune-summary", Static).content.plain
        await press(pilot, "3")  # keep 23: nothing goes
        assert "equals the live config" not in modal.query_one("#prune-summary", Static).content.plain
        await press(pilot, "n")
