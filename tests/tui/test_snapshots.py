"""SVG snapshots of the TUI on the demo data (pytest-textual-snapshot).

Regenerate after an intended change of the look with
``pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kaizen_tui.demo import seed_demo
from kaizen_tui.service import AgentService
from kaizen_tui.tui.testing import show_database_as
from tests.support import make_app, press, settle, write_raw_snapshot

#: Layout does not depend on the database: the snapshots are taken on SQLite only.
pytestmark = pytest.mark.sqlite_only

#: What the header shows instead of the test's temporary path.
SHOWN_PATH = Path("/srv/kaizen/demo.db")


def _open(db_path: Path, demo: bool) -> AgentService:
    service = AgentService(str(db_path), user="tester")
    if demo:
        seed_demo(service)
    show_database_as(service, SHOWN_PATH)  # the header shows a stable path
    return service


@pytest.fixture
def demo(db_path: Path) -> Iterator[AgentService]:
    service = _open(db_path, demo=True)
    yield service
    service.close()


@pytest.fixture
def empty(db_path: Path) -> Iterator[AgentService]:
    service = _open(db_path, demo=False)
    yield service
    service.close()


def keys(*names: str):
    """A run_before that waits for the data, then presses keys one by one, each once the last one's work is done.

    Snapshots are of layouts: a key that changes which pane has the room
    (enter, tab) must have resized the panes before the next key moves a
    cursor, or the picture depends on the machine's speed (the Pilot tests
    check the keys typed ahead).
    """

    async def run_before(pilot) -> None:
        await settle(pilot)
        for name in names:
            await press(pilot, name)
            await settle(pilot)

    return run_before


def test_main_screen_120x36(snap_compare, demo):
    # Second agent, its timeline focused, a version with a prompt change highlighted.
    assert snap_compare(make_app(demo), terminal_size=(120, 36), run_before=keys("j", "enter", "j", "j"))


def test_main_screen_80x24(snap_compare, demo):
    assert snap_compare(make_app(demo), terminal_size=(80, 24), run_before=keys("G", "enter", "j", "j", "j"))


def test_compare_view(snap_compare, demo):
    # Support Agent: mark the oldest version, compare it with the newest.
    assert snap_compare(make_app(demo), terminal_size=(120, 36), run_before=keys("G", "enter", "G", "space", "g", "c"))


def test_rollback_modal(snap_compare, demo):
    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=keys("G", "enter", "G", "r"))


def test_prune_modal(snap_compare, demo):
    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=keys("G", "enter", "p", "2"))


def test_prune_modal_at_80x24(snap_compare, demo):
    """SQL Analyst, keeping 1 of 12: the fields and the summary, then the 11 versions that go (they fit)."""
    assert snap_compare(make_app(demo), terminal_size=(80, 24), run_before=keys("G", "k", "enter", "p", "1"))


def test_help(snap_compare, demo):
    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=keys("question_mark"))


def test_empty_database(snap_compare, empty):
    assert snap_compare(make_app(empty), terminal_size=(100, 30), run_before=keys())


def test_damaged_version(snap_compare, demo, db_path):
    agent = demo.find_agent("Support Agent")
    version = demo.find_version(agent["id"], 2)
    write_raw_snapshot(db_path, version["id"], '{"name": "Support Agent", "temperature": "warm"')
    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=keys("G", "enter", "G", "k"))


def test_unsaved_changes_light_theme(snap_compare, demo):
    """Onboarding Concierge has edits no version holds: the live row and its diff, in the light theme."""

    async def run_before(pilot) -> None:
        pilot.app.theme = "textual-light"
        await settle(pilot)
        await press(pilot, "j", "j", "enter")

    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=run_before)


def test_timeline_with_labels(snap_compare, demo):
    """Invoice Extraction Pipeline: production, staging and the nightly build's label, cut to the narrow pane."""
    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=keys("j", "enter"))


def test_label_dialog_with_its_preview(snap_compare, demo):
    """Moving the protected production label of Support Agent to v7: where it goes, and the diff for everyone on it."""
    run_before = keys("G", "enter", "t", *"production", "enter", *"shorter", "space", *"answers")
    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=run_before)


def test_label_dialog_at_80x24(snap_compare, demo):
    assert snap_compare(make_app(demo), terminal_size=(80, 24), run_before=keys("G", "enter", "t", *"production"))


def test_label_ledger(snap_compare, demo):
    assert snap_compare(make_app(demo), terminal_size=(100, 30), run_before=keys("G", "enter", "T"))
