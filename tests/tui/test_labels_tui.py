"""Pilot tests of labels in the TUI: the timeline shows them, ``t`` sets, moves or removes one, ``T`` the ledger.

The dialog shows what moving a label changes for everyone on it (the diff
between the version it leaves and the one it goes to) and carries the move
out compare-and-swap: a label moved by someone else meanwhile keeps the
dialog open with the fresh preview. A protected label moves only once its
name is typed. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input, Static

from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.labels import LabelModal, LedgerScreen
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.lists import label_chips
from tests.support import (
    burst,
    main_screen,
    press,
    running_app,
    screen_text,
    settle,
    toasts,
    write_raw_snapshot,
)

#: Markup, an escape sequence, a bidi override: shown as characters, never acted on.
HOSTILE = "[bold]loud[/bold] \x1b[31mred\x1b[0m \u202eevil"


def typed(text: str) -> list[str]:
    """The keys that type ``text`` (a space is the ``space`` key)."""
    return ["space" if char == " " else char for char in text]


def summary(app: Any) -> str:
    return str(app.screen.query_one("#label-summary", Static).render())


def dialog(app: Any) -> LabelModal:
    screen = app.screen
    assert isinstance(screen, LabelModal), type(screen).__name__
    return screen


async def open_label_dialog(pilot: Any, label: str = "") -> LabelModal:
    """``t`` on the highlighted version, then the label typed (its preview read)."""
    await press(pilot, "t")
    modal = dialog(pilot.app)
    assert modal.focused is modal.query_one("#label", Input)  # typing comes first; enter never confirms
    if label:
        await press(pilot, *typed(label))
    return modal


async def confirm(pilot: Any, reason: str = "", protect: str | None = None) -> None:
    """enter to the reason, type it, enter (to the protected label's field, if any, then enter), then y."""
    await press(pilot, "enter", *typed(reason), "enter")
    if protect is not None:
        await press(pilot, *typed(protect), "enter")
    modal = dialog(pilot.app)
    assert modal.focused is modal.query_one("#cancel", Button)  # the buttons, Cancel first
    await press(pilot, "y")


def where(service: AgentService, agent_id: str) -> dict[str, int]:
    return {row["label"]: row["version_number"] for row in service.list_labels(agent_id)}


# -- the timeline ----------------------------------------------------------------------


async def test_the_timeline_shows_each_versions_labels(service, ids):
    support = ids["support"]
    service.set_label(support, "production", 2, reason="launch")
    service.set_label(support, "staging", 3)
    service.set_label(support, "canary", 3)
    async with running_app(service, agent="Support Agent") as pilot:
        screen = main_screen(pilot.app)
        text = screen_text(pilot.app)
        rows = {line.split()[1]: line for line in text.splitlines() if " v" in line and "ago" in line}
        # Labels come before the changelog; what does not fit is counted (the pane is narrow at 100x30).
        assert "[canary] +1 Long" in rows["v3"]
        assert "[production]" in rows["v2"]
        assert "[" not in rows["v1"].split("ago")[1]
        # The status line names them all, for the highlighted version.
        assert "[canary] [staging]" in str(screen.status.render())
        await press(pilot, "j")
        assert "[production]" in str(screen.status.render())


def test_label_chips_fit_the_room_they_are_given():
    assert label_chips([], 20) == ""
    assert label_chips(["production", "staging"], 30) == "[production] [staging]"
    assert label_chips(["production", "staging", "canary"], 20) == "[production] +2"
    cut = label_chips(["a-very-long-label-name-indeed", "b"], 14)
    assert cut.startswith("[a-very") and cut.endswith("…] +1") and len(cut) <= 14


@pytest.mark.both_backends  # what changed is read from each backend its own way
async def test_labels_moved_by_another_process_appear_after_the_reload(service, ids, db_path):
    async with running_app(service, agent="Support Agent") as pilot:
        screen = main_screen(pilot.app)
        assert "[staging]" not in screen_text(pilot.app)
        other = AgentService(str(db_path), user="colleague")
        try:
            other.set_label(ids["support"], "staging", 3, reason="from the CLI")
        finally:
            other.close()
        screen.poll_changes()  # what the timer (or PostgreSQL's announcement) does
        await settle(pilot)
        assert "[staging]" in screen_text(pilot.app)


# -- setting and moving ------------------------------------------------------------------


async def test_t_sets_a_new_label_with_a_reason(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "staging")
        assert "New label staging: it will point at v3" in summary(pilot.app)
        assert not modal.query_one(DiffBody).display  # nothing to compare: the label is new
        assert str(modal.query_one("#confirm", Button).label) == "Set  y"
        await confirm(pilot, "Try the longer answers")
        assert isinstance(pilot.app.screen, MainScreen)
        assert "Support Agent: staging → v3 (new label)" in toasts(pilot.app)
        assert "[staging]" in screen_text(pilot.app)
    assert where(service, ids["support"]) == {"staging": 3}
    [entry] = service.label_history(ids["support"])
    assert (entry["action"], entry["to_version"], entry["reason"], entry["actor"]) == (
        "set",
        3,
        "Try the longer answers",
        "tester",
    )


async def test_moving_a_label_previews_what_changes_for_everyone_on_it(service, ids):
    service.set_label(ids["support"], "production", 1, reason="launch")
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "production")
        text = summary(pilot.app)
        assert "Move production  v1 → v3" in text and "tester" in text  # where it is, since when, by whom
        diff = modal.query_one(DiffBody)
        assert diff.display
        assert "For everyone on production: v1 → v3" in diff.text
        assert "system_prompt" in diff.text and "max_tokens" in diff.text and "2048" in diff.text
        assert str(modal.query_one("#confirm", Button).label) == "Move  y"
        await confirm(pilot, "Longer answers for everyone")
        assert "Support Agent: production → v3 (was v1)" in toasts(pilot.app)
    assert where(service, ids["support"]) == {"production": 3}
    newest = service.label_history(ids["support"])[0]
    assert (newest["from_version"], newest["to_version"]) == (1, 3)


async def test_a_label_moved_by_someone_else_meanwhile_keeps_the_dialog_open_with_the_fresh_preview(
    service, ids, db_path
):
    service.set_label(ids["support"], "production", 1)
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "production")
        assert "v1 → v3" in summary(pilot.app)
        other = AgentService(str(db_path), user="colleague")
        other.clock = service.clock  # one clock: the ledger lists entries by their time
        try:
            other.set_label(ids["support"], "production", 2, reason="hotfix")
        finally:
            other.close()
        await confirm(pilot, "mine")
        assert pilot.app.screen is modal  # nothing moved: the dialog stays
        text = summary(pilot.app)
        assert "Moved meanwhile" in text and "colleague" in text and "Nothing moved." in text
        assert "v2 → v3" in text  # the fresh preview
        assert "For everyone on production: v2 → v3" in modal.query_one(DiffBody).text
        assert where(service, ids["support"]) == {"production": 2}
        # y on the fresh preview moves it, from where it is now.
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert "Support Agent: production → v3 (was v2)" in toasts(pilot.app)
    assert where(service, ids["support"]) == {"production": 3}
    assert [entry["actor"] for entry in service.label_history(ids["support"])] == [
        "tester",
        "colleague",
        "tester",
    ]


async def test_a_protected_label_moves_only_once_its_name_is_typed(service, ids):
    service.set_label(ids["support"], "production", 1)
    service.protect_label("production")
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "production")
        assert "Protected label: type production in the Confirm field" in summary(pilot.app)
        assert modal.query_one("#protect-row").display
        assert modal.query_one("#confirm", Button).has_class("-idle")  # dimmed: y does nothing yet
        # Straight to the buttons and y: refused, the field to type the name in has focus.
        await press(pilot, "tab", "tab", "tab")
        assert modal.focused is modal.query_one("#cancel", Button)
        await press(pilot, "y")
        assert pilot.app.screen is modal
        assert any("is a protected label: type production" in message for message in toasts(pilot.app, "warning"))
        assert modal.focused is modal.query_one("#protect", Input)
        assert where(service, ids["support"]) == {"production": 1}
        # A name that is not the label's is not a confirmation: y puts the focus back in the field.
        await press(pilot, *typed("prod"), "enter", "y")
        assert pilot.app.screen is modal
        assert where(service, ids["support"]) == {"production": 1}
        assert modal.focused is modal.query_one("#protect", Input)
        await press(pilot, *typed("production"), "enter")  # focused, the field's text is selected: typing replaces it
        assert not modal.query_one("#confirm", Button).has_class("-idle")
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert "Support Agent: production → v3 (was v1)" in toasts(pilot.app)
    assert where(service, ids["support"]) == {"production": 3}


async def test_a_damaged_version_is_refused_and_y_does_nothing(service, ids, db_path):
    write_raw_snapshot(db_path, ids["support_versions"][1])  # v2
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "j")
        modal = await open_label_dialog(pilot, "staging")
        assert "Cannot point staging at v2" in summary(pilot.app) and "damaged" in summary(pilot.app)
        assert modal.query_one("#confirm", Button).has_class("-idle")  # dimmed: y does nothing yet
        await press(pilot, "enter", "enter", "y")
        assert pilot.app.screen is modal
        assert any("Cannot point staging at v2" in message for message in toasts(pilot.app, "warning"))
        await press(pilot, "n")
        assert isinstance(pilot.app.screen, MainScreen)
    assert where(service, ids["support"]) == {}
    assert service.label_history(ids["support"]) == []


async def test_a_label_already_there_says_so_and_y_changes_nothing(service, ids):
    service.set_label(ids["support"], "staging", 3)
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "staging")
        assert "staging already points at v3" in summary(pilot.app) and "nothing to move" in summary(pilot.app)
        await press(pilot, "enter", "enter", "y")
        assert pilot.app.screen is modal
        await press(pilot, "escape")
    assert len(service.label_history(ids["support"])) == 1


async def test_names_are_checked_as_they_are_typed(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "Prod")
        assert "use lower-case letters" in summary(pilot.app)
        await press(pilot, "backspace", "backspace", "backspace", "backspace", "7")
        assert "only digits" in summary(pilot.app)
        await press(pilot, "enter", "enter", "y")
        assert pilot.app.screen is modal
        assert any("only digits" in message for message in toasts(pilot.app, "warning"))
    assert where(service, ids["support"]) == {}


async def test_up_and_down_pick_the_agents_labels(service, ids):
    service.set_label(ids["support"], "production", 1)
    service.set_label(ids["support"], "staging", 2)
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot)
        field = modal.query_one("#label", Input)
        await press(pilot, "down")
        assert field.value == "production"
        assert "v1 → v3" in summary(pilot.app)
        await press(pilot, "down")
        assert field.value == "staging"
        assert "v2 → v3" in summary(pilot.app)
        await press(pilot, "up")
        assert field.value == "production"


async def test_keys_typed_ahead_set_the_label_once_its_preview_is_shown(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await burst(pilot, "t", *"canary", "enter", "enter", "y")
        assert isinstance(pilot.app.screen, MainScreen)
    assert where(service, ids["support"]) == {"canary": 3}


# -- removing ----------------------------------------------------------------------------


async def test_x_in_the_dialog_removes_the_label_after_a_confirmation(service, ids):
    service.set_label(ids["support"], "staging", 2)
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "staging")
        await press(pilot, "enter", *typed("not needed"), "enter")
        assert modal.query_one("#remove", Button).display
        await press(pilot, "x")
        assert pilot.app.screen is modal  # x only says what removing does
        assert "Remove staging: it points at v2" in summary(pilot.app)
        assert str(modal.query_one("#confirm", Button).label) == "Remove  y"
        assert modal.focused is modal.query_one("#cancel", Button)
        assert where(service, ids["support"]) == {"staging": 2}
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert "Support Agent: removed staging (was v2)" in toasts(pilot.app)
    assert where(service, ids["support"]) == {}
    newest = service.label_history(ids["support"])[0]
    assert (newest["action"], newest["from_version"], newest["reason"]) == ("remove", 2, "not needed")


async def test_a_label_removed_meanwhile_is_not_removed_twice(service, ids, db_path):
    service.set_label(ids["support"], "staging", 2)
    async with running_app(service, agent="Support Agent") as pilot:
        modal = await open_label_dialog(pilot, "staging")
        await press(pilot, "enter", "enter", "x")
        other = AgentService(str(db_path), user="colleague")
        try:
            other.remove_label(ids["support"], "staging")
        finally:
            other.close()
        await press(pilot, "y")
        assert pilot.app.screen is modal
        text = summary(pilot.app)
        assert "Moved meanwhile" in text and "is not set" in text
        assert "New label staging" in text  # the fresh preview: no removal left to do
    assert [entry["actor"] for entry in service.label_history(ids["support"])] == ["colleague", "tester"]


async def test_x_on_a_labelled_version_says_to_move_the_label_first(service, ids):
    service.set_label(ids["support"], "production", 3)
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "x")
        assert isinstance(pilot.app.screen, MainScreen)
        assert any("the label production names it" in message for message in toasts(pilot.app, "warning"))
    assert len(service.get_versions(ids["support"])) == 3


# -- the ledger ----------------------------------------------------------------------------


async def test_T_shows_the_ledger_newest_first_and_f_filters_by_label(service, ids):
    support = ids["support"]
    service.set_label(support, "production", 1, reason="launch")
    service.set_label(support, "staging", 2, reason="try the friendlier prompt")
    service.set_label(support, "production", 3, reason="longer answers")
    service.remove_label(support, "staging", reason="done")
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "T")
        ledger = pilot.app.screen
        assert isinstance(ledger, LedgerScreen)
        text = screen_text(pilot.app)
        assert "Label ledger · Support Agent" in text
        assert "Now: production → v3" in text
        order = [text.index(part) for part in ("v2 → removed", "v1 → v3", "set → v2", "set → v1")]
        assert order == sorted(order)  # newest first
        for reason in ("launch", "try the friendlier prompt", "longer answers", "done"):
            assert f"“{reason}”" in text
        await press(pilot, "f")
        assert ledger.only == "production"
        text = screen_text(pilot.app)
        assert "production only" in text and "set → v2" not in text and "set → v1" in text
        await press(pilot, "f", "f")
        assert ledger.only is None
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)


async def test_hostile_text_in_the_ledger_is_shown_literally(service, ids):
    service.set_label(ids["support"], "production", 2, reason=HOSTILE, actor="[i]mallory[/i]")
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "T")
        text = screen_text(pilot.app)
        assert "[bold]loud[/bold] ␛[31mred␛[0m <U+202E>evil" in text
        assert "[i]mallory" in text  # the column's width of it
        assert "\x1b" not in text and "\u202e" not in text
        await press(pilot, "escape", "j", "t", *"production")
        text = screen_text(pilot.app)
        assert "[i]mallory[/i]" in text  # who put it where it is
        assert "\x1b" not in text


# -- read-only ------------------------------------------------------------------------------


async def test_a_read_only_database_refuses_t_with_the_reason_and_still_shows_the_ledger(
    service: AgentService, ids: dict, db_path: Path
):
    service.set_label(ids["support"], "production", 1, reason="launch")
    service.close()
    read_only = AgentService(str(db_path), read_only=True)
    try:
        async with running_app(read_only, agent="Support Agent") as pilot:
            screen = main_screen(pilot.app)
            bar = screen.query_one(KeyBar).render().plain
            assert "t label" not in bar and "T label ledger" in bar
            await press(pilot, "t")
            assert isinstance(pilot.app.screen, MainScreen)
            assert any(
                message.startswith("Cannot label a version:") and "read-only" in message
                for message in toasts(pilot.app, "warning")
            )
            await press(pilot, "T")
            assert isinstance(pilot.app.screen, LedgerScreen)
            assert "“launch”" in screen_text(pilot.app)
    finally:
        read_only.close()
    reopened = AgentService(str(db_path))
    try:
        assert len(reopened.label_history(ids["support"])) == 1
    finally:
        reopened.close()


async def test_prune_keeps_a_labelled_version_and_says_so(service, ids):
    service.set_label(ids["support"], "production", 1)
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1")
        assert "Also keeps v1 (production): a label names it." in screen_text(pilot.app)
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert any(
            message.startswith("Pruned 1 version of Support Agent; kept the 1 newest and v1 (production) for its label")
            for message in toasts(pilot.app)
        ), toasts(pilot.app)
    assert [version["version_number"] for version in service.get_versions(ids["support"])] == [3, 1]
