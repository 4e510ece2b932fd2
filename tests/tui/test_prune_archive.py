"""Pilot tests: the prune dialog's "archive them to" field.

Empty, the prune archives nothing (as before). With a file typed, the
versions that go are written there first; while the field has focus the
dialog's letter keys (y, n, h, l, j, k) are letters of the name; a file that
is there already keeps the dialog open, deleting nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, Input, Static

from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.plans import PruneModal
from tests.support import audit_actions, press, running_app, toasts

NAME = "history.jsonl"  # h, y, j, l and n: every letter key of the dialog


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder a relative file name typed in the dialog lands in."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def summary(modal: PruneModal) -> str:
    return modal.query_one("#prune-summary", Static).content.plain


async def test_a_file_typed_in_the_prune_dialog_gets_the_versions_first(service, ids, in_tmp):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1", "tab", *NAME)
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)  # y and n were letters: neither pruned nor cancelled
        assert modal.query_one("#archive", Input).value == NAME
        assert modal.query_one("#keep", Input).value == "1"
        assert f"they are written to {NAME} first" in summary(modal)
        await press(pilot, "enter")  # the name is typed: on to the buttons
        assert modal.focused is modal.query_one("#cancel", Button)
        assert audit_actions(service, "version.prune") == 0
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert any(f"; archived to {in_tmp / NAME}" in toast for toast in toasts(pilot.app))
    assert [v["version_number"] for v in service.get_versions(ids["support"])] == [3]
    restored = service.import_file(in_tmp / NAME)
    assert restored["versions_added"] == 2
    assert [v["version_number"] for v in service.get_versions(ids["support"])] == [3, 2, 1]


async def test_an_empty_archive_field_archives_nothing(service, ids, in_tmp):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "2", "y")
        assert isinstance(pilot.app.screen, MainScreen)
        assert not any("archived" in toast for toast in toasts(pilot.app))
    assert list(in_tmp.glob("*.jsonl")) == []
    assert [v["version_number"] for v in service.get_versions(ids["support"])] == [3, 2]


async def test_a_file_that_is_there_keeps_the_dialog_open_and_deletes_nothing(service, ids, in_tmp):
    (in_tmp / NAME).write_text("precious\n", encoding="utf-8")
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1", "tab", *NAME, "enter", "y")
        modal = pilot.app.screen
        assert isinstance(modal, PruneModal)
        assert "exists already" in summary(modal)
        assert "--overwrite" not in summary(modal), "a flag of the CLI means nothing here"
        assert modal.focused is modal.query_one("#archive", Input)  # back to the name, to change it
        assert len(service.get_versions(ids["support"])) == 3
        await press(pilot, "end", "2", "enter")  # history.jsonl2
        assert "exists already" not in summary(modal)
        await press(pilot, "y")
        assert isinstance(pilot.app.screen, MainScreen)
    assert (in_tmp / NAME).read_text(encoding="utf-8") == "precious\n"
    assert (in_tmp / f"{NAME}2").exists()
    assert len(service.get_versions(ids["support"])) == 1


async def test_escape_cancels_from_the_archive_field(service, ids, in_tmp):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "p", "1", "tab", *"old", "escape")
        assert isinstance(pilot.app.screen, MainScreen)
    assert len(service.get_versions(ids["support"])) == 3
    assert not (in_tmp / "old").exists()
