"""Pilot tests: what the TUI says when an action fails, and that nothing typed is lost.

An agent deleted while it was being edited: who deleted it and when, and
the choice to create it anew from the text. A dialog whose action failed
(the database unreachable, read-only...) stays open with what was typed.
The line that says the database cannot be reached stays until it answers
again; on a real PostgreSQL server stopped and started again at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static, TextArea

from kaizen_tui.core.errors import DatabaseUnavailable, KaizenError
from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.editing import AgentDeletedModal, EditAgainModal
from kaizen_tui.tui.screens.labels import LabelModal
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.modals import EditorModal
from kaizen_tui.tui.screens.plans import PruneModal
from kaizen_tui.tui.screens.snapshot import SnapshotModal
from kaizen_tui.tui.widgets.connection import UnreachableLine
from tests.postgres_server import PostgresServer
from tests.support import fake_editor, main_screen, press, running_app, settle, toasts

#: The faces' wiring runs on SQLite; the one test that needs PostgreSQL starts a server of its own.
pytestmark = pytest.mark.sqlite_only

DOWN = DatabaseUnavailable("Cannot reach PostgreSQL at db.example:5432: connection refused (is the server running?).")


def words(text: str) -> list[str]:
    """The keys that type ``text``."""
    return ["space" if char == " " else char for char in text]


def line(app: Any) -> UnreachableLine:
    return main_screen(app).query_one(UnreachableLine)


def delete_meanwhile(db_path: Path | str, agent_id: str, who: str = "carol") -> str:
    """Another process archives and deletes the agent; when, as the audit log says."""
    other = AgentService(str(db_path), user=who)
    try:
        other.update(agent_id, {"status": "archived"})
        other.delete_agent(agent_id)
        return str(other.audit_log(agent_id, limit=1)[0]["at"])
    finally:
        other.close()


def failing(service: AgentService, name: str, error: KaizenError) -> Any:
    """Make ``service.<name>`` raise ``error``; returns the real method (to put back)."""
    real = getattr(service, name)

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    setattr(service, name, fail)
    return real


# -- an agent deleted while it is edited ---------------------------------------------------


async def test_saving_an_edit_of_an_agent_deleted_meanwhile_offers_to_create_it_anew(service, ids, db_path):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        editor = pilot.app.screen
        assert isinstance(editor, EditorModal)
        area = editor.query_one(TextArea)
        area.text = area.text.replace("temperature: 0.5", "temperature: 0.3")
        when = delete_meanwhile(db_path, ids["support"])
        await press(pilot, "ctrl+o")
        modal = pilot.app.screen
        assert isinstance(modal, AgentDeletedModal)
        text = "\n".join(str(static.render()) for static in modal.query(Static))
        assert "Support Agent was deleted by carol at" in text and when[:10] in text
        # Back (focused): the text as typed, with the reason; nothing created.
        await press(pilot, "escape")
        assert pilot.app.screen is editor and "temperature: 0.3" in area.text
        error = editor.query_one("#editor-error", Static).content.plain
        assert f"No agent {ids['support']!r}: 'Support Agent' was deleted by carol at {when}" in error
        assert service.list_agents() == [service.find_agent("Billing Bot")]
        # Saved again: asked again; c creates it anew from the text.
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, AgentDeletedModal)
        await press(pilot, "c")
        assert isinstance(pilot.app.screen, MainScreen)
        anew = service.find_agent("Support Agent")
        assert anew["id"] != ids["support"] and anew["version_count"] == 0
        assert (anew["temperature"], anew["max_tokens"], anew["created_by"]) == (0.3, 2048, "tester")
        assert (
            "Created Support Agent anew from your text (the one you edited was deleted by carol); "
            "s saves its first version"
        ) in toasts(pilot.app)
        assert main_screen(pilot.app).agent_id == anew["id"]


async def test_creating_anew_when_the_name_was_taken_meanwhile_keeps_the_text(service, ids, db_path):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        editor = pilot.app.screen
        area = editor.query_one(TextArea)
        delete_meanwhile(db_path, ids["support"])
        service.create_agent({"name": "support agent", "model_id": "m"}, actor="dana")
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, AgentDeletedModal)
        await press(pilot, "c")
        assert pilot.app.screen is editor  # not created: the name is taken; the text is kept
        error = editor.query_one("#editor-error", Static).content.plain
        assert "already named 'Support Agent'" in error and "saving creates it anew" in error
        area.text = area.text.replace("name: Support Agent", "name: Support Agent 2")
        await press(pilot, "ctrl+o")  # the choice stands: created, no second question
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.find_agent("Support Agent 2")["system_prompt"].startswith("You are the support")


async def test_the_only_agent_created_anew_gets_the_keys(service, db_path):
    # Its deletion emptied the list meanwhile (the panes gave way to "No agents yet"): once it is
    # created anew the keys go to the list, as after the first agent of an empty database.
    agent = service.create_agent({"name": "Solo", "model_id": "gpt-4o"})
    async with running_app(service) as pilot:
        await press(pilot, "e")
        editor = pilot.app.screen
        delete_meanwhile(db_path, agent["id"])
        main_screen(pilot.app).poll_changes()
        await settle(pilot)
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, AgentDeletedModal)
        await press(pilot, "c")
        screen = main_screen(pilot.app)
        assert pilot.app.screen is screen and editor not in pilot.app.screen_stack
        assert screen.focused is screen.agents_table
        await press(pilot, "j", "n")  # list keys: j moves nothing, n opens a new agent's editor
        assert screen.filter_text == "" and isinstance(pilot.app.screen, EditorModal)


async def test_an_edit_in_EDITOR_of_an_agent_deleted_meanwhile_is_created_anew(
    service, ids, db_path, tmp_path, monkeypatch
):
    # The case: the editor closes, the agent is gone; who deleted it, and c creates it anew.
    script = (
        "from kaizen_tui.service import AgentService\n"
        f"service = AgentService({str(db_path)!r}, user='carol')\n"
        f"service.update({ids['support']!r}, {{'status': 'archived'}})\n"
        f"service.delete_agent({ids['support']!r})\n"
        "service.close()\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('max_tokens: 2048', 'max_tokens: 999'))\n"
    )
    monkeypatch.setenv("EDITOR", fake_editor(tmp_path, script))
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "e")
        modal = pilot.app.screen
        assert isinstance(modal, AgentDeletedModal)
        assert modal.error.deleted is not None and modal.error.deleted["by"] == "carol"
        await press(pilot, "escape")  # back: the text is kept, to edit again or discard
        assert isinstance(pilot.app.screen, EditAgainModal)
        assert "was deleted by carol" in pilot.app.screen.error
        monkeypatch.setenv("EDITOR", fake_editor(tmp_path, "pass\n"))  # saved as it is
        await press(pilot, "e")  # the editor again (keys typed before it starts are not for the app)
        assert isinstance(pilot.app.screen, AgentDeletedModal)
        await press(pilot, "c")
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.find_agent("Support Agent")["max_tokens"] == 999


async def test_e_on_an_agent_already_deleted_says_who_deleted_it_and_when(service, ids, db_path):
    async with running_app(service, agent="Support Agent") as pilot:
        marker = service.change_marker()

        def unchanged() -> int:
            return marker

        service.change_marker = unchanged  # type: ignore[method-assign]  # the screen has not seen it yet
        when = delete_meanwhile(db_path, ids["support"])
        await press(pilot, "e")
        assert isinstance(pilot.app.screen, MainScreen)
        assert f"'Support Agent' was deleted by carol at {when}." in toasts(pilot.app, "error")[-1]


# -- dialogs whose action failed keep what was typed ---------------------------------------


async def test_a_label_move_that_failed_keeps_the_dialog_the_label_and_the_reason(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        real = failing(service, "set_label", DOWN)
        poll = failing(service, "change_marker", DOWN)  # down for the main screen's poll too
        await press(pilot, "t", *"canary", "enter", *words("first canary"), "enter", "y")
        modal = pilot.app.screen
        assert isinstance(modal, LabelModal)
        assert (modal.typed_label, modal.reason) == ("canary", "first canary")
        assert modal.query_one("#label-summary", Static).content.plain.startswith(f"✗ {DOWN}")
        assert line(pilot.app).showing  # the main screen says it too, and keeps saying it
        service.set_label, service.change_marker = real, poll  # type: ignore[method-assign]
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        [entry] = service.label_history(ids["support"])
        assert entry["reason"] == "first canary"


async def test_a_prune_that_failed_keeps_the_dialog_the_number_and_the_archive_file(
    service, ids, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    archive = "old.jsonl"
    async with running_app(service, agent="Support Agent") as pilot:
        real = failing(service, "prune", DOWN)
        await press(pilot, "p", "1", "tab", *archive, "enter", "y")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)
        assert (modal.query_one("#keep", Input).value, modal.archive) == ("1", archive)
        assert modal.query_one("#prune-summary", Static).content.plain.startswith(f"✗ {DOWN}")
        service.prune = real  # type: ignore[method-assign]
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
    assert [v["version_number"] for v in service.get_versions(ids["support"])] == [3]
    assert (tmp_path / archive).exists()


async def test_a_new_agent_that_failed_keeps_its_text(service, ids):
    async with running_app(service) as pilot:
        real = failing(service, "create_agent", DOWN)
        await press(pilot, "n")
        editor = pilot.app.screen
        area = editor.query_one(TextArea)
        area.text = area.text.replace("name: New agent", "name: Careful Agent")
        await press(pilot, "ctrl+o")
        assert pilot.app.screen is editor and "name: Careful Agent" in area.text
        assert str(DOWN) in editor.query_one("#editor-error", Static).content.plain
        service.create_agent = real  # type: ignore[method-assign]
        await press(pilot, "ctrl+o")
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.find_agent("Careful Agent")["model_id"] == "gpt-4o"


# -- the database cannot be reached ----------------------------------------------------------


async def test_the_unreachable_line_stays_until_a_poll_gets_an_answer(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        screen = main_screen(pilot.app)
        assert not line(pilot.app).display
        real = failing(service, "change_marker", DOWN)
        for _ in range(2):  # every poll while it is down: the line stays, no toast piles up
            screen.poll_changes()
            await settle(pilot)
            assert line(pilot.app).display and str(DOWN) in line(pilot.app).content.plain
        assert toasts(pilot.app, "error") == []
        service.change_marker = real  # type: ignore[method-assign]
        screen.poll_changes()
        await settle(pilot)
        assert not line(pilot.app).display
        assert any("can be reached again" in toast for toast in toasts(pilot.app))


# -- on a PostgreSQL server stopped and started again ------------------------------------------


async def test_postgresql_stopped_and_started_again_under_an_open_tui(stoppable_postgres: PostgresServer) -> None:
    url = stoppable_postgres.new_database()
    service = AgentService(url, user="tester")
    try:
        agent = service.create_agent({"name": "Support Agent", "model_id": "gpt-4o"})
        async with running_app(service) as pilot:
            screen = main_screen(pilot.app)
            stoppable_postgres.stop_serving()
            screen.poll_changes()  # what the timer does
            await settle(pilot)
            shown = line(pilot.app)
            assert shown.display and "Cannot reach PostgreSQL at 127.0.0.1:" in shown.content.plain
            # An action meanwhile fails, keeping what was typed; the line stays.
            await press(pilot, "s", *"Before", "space", *"restart", "enter")
            modal = pilot.app.screen
            assert isinstance(modal, SnapshotModal)
            assert modal.query_one("#changelog", Input).value == "Before restart"
            assert "PostgreSQL" in modal.query_one("#snapshot-note", Static).content.plain
            assert shown.display
            stoppable_postgres.start_serving()
            for _ in range(10):  # the pool may take a few rounds to connect again
                screen.poll_changes()
                await settle(pilot)
                if not shown.display:
                    break
            assert not shown.display
            assert any("can be reached again" in toast for toast in toasts(pilot.app))
            await press(pilot, "enter")
            assert isinstance(pilot.app.screen, MainScreen)
            assert service.get_versions(agent["id"])[0]["changelog"] == "Before restart"
    finally:
        service.close()
