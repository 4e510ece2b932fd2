"""Pilot tests: the snapshot dialog saves what it showed, never a change made meanwhile.

The rule (a snapshot with an expected revision is refused when the live
config changed) is the service's, tested on both backends in
tests/core/test_rules.py; here, its wiring: the dialog carries the revision
the person was shown, and a refusal keeps it open with who changed what, a
fresh preview and the changelog as typed.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from textual.widgets import Input, Static

from kaizen_tui.core.errors import DatabaseUnavailable, ReadOnlyDatabase
from kaizen_tui.core.schema import parse_snapshot
from kaizen_tui.service import AgentService
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.screens.snapshot import SnapshotModal
from kaizen_tui.tui.widgets.diff import DiffBody
from tests.support import press, running_app, settle, toasts

#: The wiring of the faces is tested on SQLite; the rule itself on both backends.
pytestmark = pytest.mark.sqlite_only

CHANGED_BY_CAROL = "⚠ Changed meanwhile by carol (model_id): nothing was saved. Fresh preview below."


def note(modal: SnapshotModal) -> str:
    return modal.query_one("#snapshot-note", Static).content.plain


def typed(modal: SnapshotModal) -> str:
    return modal.query_one("#changelog", Input).value


def freeze_the_main_screen(service: AgentService) -> None:
    """The main screen's poll sees no change from now on: it goes on showing what it read."""
    marker = service.change_marker()

    def unchanged() -> int:
        return marker

    service.change_marker = unchanged  # type: ignore[method-assign]


async def test_a_change_made_while_the_dialog_is_open_is_not_saved_under_the_persons_changelog(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        await press(pilot, "s", *"Tighter", "space", *"answers")
        modal = pilot.app.screen
        assert isinstance(modal, SnapshotModal)
        assert "The live config equals v3" in note(modal)
        service.update(ids["support"], {"model_id": "gpt-5"}, actor="carol")
        await press(pilot, "enter")
        # Nothing saved: the dialog stays, says who changed what, shows the fresh preview, keeps the changelog.
        assert pilot.app.screen is modal
        assert len(service.get_versions(ids["support"])) == 3
        assert note(modal).splitlines()[0] == CHANGED_BY_CAROL
        diff = modal.query_one(DiffBody)
        assert diff.display and "gpt-5" in diff.text and "v3 → live config" in diff.text
        assert typed(modal) == "Tighter answers"
        # Enter on the fresh preview saves what it shows, under the person's name and changelog.
        await press(pilot, "enter")
        assert isinstance(pilot.app.screen, MainScreen)
        newest = service.get_versions(ids["support"])[0]
        assert (newest["version_number"], newest["changelog"], newest["created_by"]) == (4, "Tighter answers", "tester")
        assert parse_snapshot(newest["config_snapshot"])["model_id"] == "gpt-5"
        assert "Saved v4 of Support Agent" in toasts(pilot.app)


async def test_enter_typed_before_the_preview_came_saves_only_what_the_main_screen_showed(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        freeze_the_main_screen(service)
        service.update(ids["support"], {"model_id": "gpt-5"}, actor="carol")  # not on the screen yet
        # The preview is slow to come: s, the changelog and enter all act on what the main screen showed.
        gate = threading.Event()
        plan_snapshot = service.plan_snapshot

        def slow_plan(*args: Any, **kwargs: Any) -> dict[str, Any]:
            gate.wait(timeout=60)  # in the worker's thread, as a slow database would (bounded: a failed test ends)
            return plan_snapshot(*args, **kwargs)

        service.plan_snapshot = slow_plan  # type: ignore[method-assign]
        await press(pilot, "s", *"Mine", "enter", ignoring={"snapshot-plan"})
        modal = pilot.app.screen
        assert isinstance(modal, SnapshotModal)
        assert len(service.get_versions(ids["support"])) == 3, "refused: the screen showed gpt-4o"
        gate.set()
        await settle(pilot)
        assert note(modal).splitlines()[0] == CHANGED_BY_CAROL
        assert "gpt-5" in modal.query_one(DiffBody).text and typed(modal) == "Mine"
        await press(pilot, "enter")
        assert isinstance(pilot.app.screen, MainScreen)
        assert len(service.get_versions(ids["support"])) == 4


async def test_a_preview_that_finds_a_change_the_main_screen_did_not_show_says_who_made_it(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        freeze_the_main_screen(service)
        service.update(ids["support"], {"model_id": "gpt-5"}, actor="carol")
        await press(pilot, "s")
        modal = pilot.app.screen
        assert isinstance(modal, SnapshotModal)
        assert note(modal).splitlines()[0] == CHANGED_BY_CAROL
        assert "gpt-5" in modal.query_one(DiffBody).text
        await press(pilot, *"Seen", "enter")
        assert isinstance(pilot.app.screen, MainScreen)
        newest = service.get_versions(ids["support"])[0]
        assert newest["changelog"] == "Seen" and parse_snapshot(newest["config_snapshot"])["model_id"] == "gpt-5"


async def test_the_preview_shows_what_the_new_version_holds(service, ids):
    async with running_app(service) as pilot:
        # Billing Bot: temperature changed since v1.
        await press(pilot, "s")
        modal = pilot.app.screen
        assert isinstance(modal, SnapshotModal)
        diff = modal.query_one(DiffBody)
        assert diff.display and "What changed since v1: v1 → live config" in diff.text and "0.2" in diff.text
        assert note(modal) == ""
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, MainScreen)
        assert len(service.get_versions(ids["billing"])) == 1


@pytest.mark.parametrize(
    "failure",
    [
        DatabaseUnavailable("Cannot reach PostgreSQL at db:5432: connection refused (is the server running?)."),
        ReadOnlyDatabase("the database became read-only"),
    ],
)
async def test_a_snapshot_that_failed_keeps_the_dialog_and_the_changelog(service, ids, failure):
    async with running_app(service, agent="Support Agent") as pilot:
        create_version = service.create_version

        def failing(*args: Any, **kwargs: Any) -> dict[str, Any]:
            raise failure

        service.create_version = failing  # type: ignore[method-assign]
        await press(pilot, "s", *"Keep", "space", *"me", "enter")
        modal = pilot.app.screen
        assert isinstance(modal, SnapshotModal)
        assert typed(modal) == "Keep me"
        assert note(modal).startswith(f"✗ {failure}")
        service.create_version = create_version  # type: ignore[method-assign]
        await press(pilot, "enter")
        assert isinstance(pilot.app.screen, MainScreen)
        assert service.get_versions(ids["support"])[0]["changelog"] == "Keep me"
