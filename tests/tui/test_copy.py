"""Pilot tests: y copies what is shown to the terminal's clipboard (OSC 52, through Textual's copy_to_clipboard).

On the timeline, the highlighted version's config as YAML (the live config on
the live row); in the diff pane and the compare view, the diff shown, as
text. ``App.clipboard`` holds what was sent; a toast says what it was.
"""

from __future__ import annotations

from typing import Any

import pytest

from kaizen_tui.agent_file import parse_agent_text
from kaizen_tui.core.schema import snapshot_dict
from kaizen_tui.tui.screens.compare import CompareScreen
from kaizen_tui.tui.screens.plans import PruneModal
from tests.support import PROMPT_V1, PROMPT_V2, burst, press, running_app, toasts, write_raw_snapshot

#: Copying is wired through the screens: the database does not change what is tested.
pytestmark = pytest.mark.sqlite_only


def copied(app: Any, wanted: str) -> str:
    """The toast that says something was copied (the last one), checking it says ``wanted``."""
    said = [toast for toast in toasts(app) if toast.startswith("Copied ")]
    assert said and wanted in said[-1], said
    return said[-1]


async def test_y_on_the_timeline_copies_the_highlighted_version_as_yaml(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        app = pilot.app
        await press(pilot, "j", "j", "y")  # v1
        text = app.clipboard
        assert text.startswith("# Support Agent v1 (")
        # The YAML the editor shows: it reads back as v1's config, the prompt as block text.
        assert "system_prompt: |-\n  You are the support assistant for Acme.\n" in text
        v1 = service.find_version(ids["support"], 1)
        config = service.resolve_config(ids["support"], version=v1["id"])["config"]
        assert snapshot_dict(parse_agent_text(text)) == config
        assert parse_agent_text(text)["system_prompt"] == PROMPT_V1
        lines = len(text.splitlines())
        assert copied(app, "v1 of Support Agent as YAML") == (
            f"Copied v1 of Support Agent as YAML to the clipboard ({lines} lines)."
        )


async def test_y_on_the_live_row_copies_the_live_config(service, ids):
    async with running_app(service, agent="Billing Bot") as pilot:  # edited since its v1: the live row is first
        app = pilot.app
        await press(pilot, "y")
        assert app.clipboard.startswith("# Billing Bot: the live config\n")
        assert parse_agent_text(app.clipboard)["temperature"] == 0.2
        copied(app, "the live config of Billing Bot as YAML")


async def test_y_on_a_damaged_version_copies_nothing_and_says_why(service, ids, db_path):
    write_raw_snapshot(db_path, ids["support_versions"][0], '{"name": "Support Agent"')
    async with running_app(service, agent="Support Agent") as pilot:
        app = pilot.app
        await press(pilot, "j", "j", "y")
        assert app.clipboard == ""
        errors = toasts(app, "error")
        assert errors and errors[-1].startswith("Nothing copied:") and "v1" in errors[-1]


async def test_y_in_the_diff_pane_copies_the_diff_shown_as_text(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        app = pilot.app
        await burst(pilot, "j", "tab", "y")  # v2: its diff with v1 (y typed before it came), the prompt changed
        text = app.clipboard
        assert text.splitlines()[:4] == [
            "Support Agent: v1 → v2",
            "2 fields changed: system_prompt, temperature",
            "",
            "system_prompt: 3 lines → 3 lines (line diff below)",
        ]
        assert "temperature: 0.7 → 0.5" in text
        # The line diff, unified: both versions' lines, signed.
        assert "--- system_prompt (v1)\n+++ system_prompt (v2)\n@@ -1,3 +1,3 @@\n" in text
        for old, new in zip(PROMPT_V1.splitlines()[:2], PROMPT_V2.splitlines()[:2], strict=True):
            assert f"\n-{old}\n" in text and f"\n+{new}\n" in text
        assert f"\n {PROMPT_V1.splitlines()[2]}\n" in text  # a line both have
        copied(app, "the diff v1 → v2 of Support Agent")


async def test_y_in_the_compare_view_copies_its_diff(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        app = pilot.app
        await press(pilot, "G", "space", "g")
        await burst(pilot, "c", "y")  # v1 against v3; y typed before the comparison came
        assert isinstance(app.screen, CompareScreen)
        assert app.clipboard.startswith(
            "Support Agent: v1 → v3\n3 fields changed: system_prompt, temperature, max_tokens"
        )
        assert "max_tokens: 1024 → 2048" in app.clipboard
        copied(app, "the diff v1 → v3 of Support Agent")


async def test_y_stays_yes_in_a_dialog(service, ids):
    async with running_app(service, agent="Support Agent") as pilot:
        app = pilot.app
        await press(pilot, "p", "2")
        assert isinstance(app.screen, PruneModal)
        await press(pilot, "y")  # prunes: y is not copy here
        assert not isinstance(app.screen, PruneModal)
        assert app.clipboard == ""
    assert len(service.get_versions(ids["support"])) == 2
