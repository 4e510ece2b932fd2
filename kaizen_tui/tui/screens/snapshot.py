"""The snapshot dialog (``s``): a changelog, and what the new version will hold.

It opens at once with the agent as the main screen showed it, the changelog
field focused (the keys typed next are the changelog), and reads the
service's :meth:`plan_snapshot` in a worker: the diff from the newest
version to the live config, which is what the new version adds.

``enter`` saves the version with the revision of the live config the person
was shown (the main screen's until the preview came, the preview's after):
if someone changed the live config meanwhile, the service refuses
(:class:`~kaizen_tui.core.errors.Conflict`) and nothing is saved; the dialog
stays, says who changed what in one line, shows the fresh preview and keeps
the changelog, and ``enter`` then saves what it shows. A preview read after
a change the main screen had not shown yet gets the same line. Any other
failure (the database unreachable, read-only, a changelog it refuses) keeps
the dialog open too, with the reason and the changelog as typed.
"""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Label, Static

from kaizen_tui.core.errors import Conflict, KaizenError
from kaizen_tui.service import AsyncAgentService
from kaizen_tui.tui.screens.dialog import Dialog
from kaizen_tui.tui.screens.plans import changed_meanwhile
from kaizen_tui.tui.widgets.connection import report_failure
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.text import error_line, visible


class SnapshotModal(Dialog[dict[str, Any] | None]):
    """Save the live config of ``agent`` as a new version, with a changelog, after a preview.

    ``agent`` is the agent as the main screen showed it (its ``revision``).
    Dismissed with the version saved, or None when cancelled.
    """

    BINDINGS = [
        Binding("escape", "cancel", "cancel"),
        # The field has the keys; these are not its: they scroll the preview.
        Binding("down", "scroll_diff(1)", "scroll", show=False),
        Binding("up", "scroll_diff(-1)", show=False),
        Binding("pagedown", "scroll_diff(10)", show=False),
        Binding("pageup", "scroll_diff(-10)", show=False),
    ]

    def __init__(self, service: AsyncAgentService, agent: dict[str, Any]) -> None:
        super().__init__()
        self.service = service
        self.agent = agent
        #: The revision of the live config the person was shown: what enter saves.
        self.expected: int = agent["revision"]
        #: The preview shown (``plan_snapshot``), None while it is read.
        self.plan: dict[str, Any] | None = None
        #: The "changed meanwhile" line over a fresh preview, or why the last save failed.
        self.stale_note: Content | None = None
        self._working = False

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="snapshot-dialog") as dialog:
            dialog.border_title = "Snapshot"
            with VerticalScroll(classes="dialog-body", can_focus=False):
                yield Static(self._intro(), id="snapshot-intro")
                yield Static(self._first_note(), id="snapshot-note")
            yield DiffBody(id="confirm-diff")
            with Horizontal(classes="field-row", id="changelog-row"):
                yield Label("Changelog", classes="field-label")
                yield Input(placeholder="what changed and why, e.g. Shorter greeting", id="changelog", compact=True)
            yield Static(
                Content.assemble(
                    ("enter", "bold"), " save   ", ("esc", "bold"), " cancel   ", ("↑↓ pgup pgdn", "bold"), " scroll"
                ),
                classes="hint",
            )

    def _intro(self) -> Content:
        return Content.assemble("Save the live config of ", (visible(self.agent["name"]), "bold"), " as a new version.")

    def _first_note(self) -> Content:
        """What the main screen knew, shown until the preview comes."""
        agent = self.agent
        if agent.get("latest_version") is None:
            return Content.styled("This will be its first version.", "$text-muted")
        if agent.get("unsaved_changes"):
            return Content.assemble(
                ("The live config has changes since ", "$text-muted"), f"v{agent['latest_version']}", "."
            )
        return Content.assemble(
            ("The live config equals ", "$text-warning"),
            (f"v{agent['latest_version']}", "bold $text-warning"),
            ("; the new version will hold the same config.", "$text-warning"),
        )

    def fit_window(self) -> None:
        super().fit_window()
        # One line, whatever the size: the preview needs the room.
        self.query_one("#changelog", Input).compact = True

    def on_mount(self) -> None:
        self.query_one("#changelog", Input).focus()
        diff = self.query_one(DiffBody)
        diff.can_focus = False  # the field keeps the keys; ↑/↓ scroll the preview from there
        diff.show_message(Content.styled("Reading what the version will hold…", "$text-muted"))
        self.load()

    @property
    def changelog(self) -> str:
        return self.query_one("#changelog", Input).value.strip()

    # -- the preview -------------------------------------------------------------

    @work(exclusive=True, group="snapshot-plan")
    async def load(self) -> None:
        """Read the preview; a change since the revision the person was shown gets the "changed meanwhile" line."""
        since = self.expected
        try:
            plan = await self.service.plan_snapshot(self.agent["id"], since_revision=since)
        except KaizenError as error:
            # No preview: the reason instead; enter still saves what the main screen showed, or nothing.
            report_failure(self, error)
            self._hide_diff()
            self._show_notes([error_line(error, "no preview")])
            return
        if plan["revision"] != since:
            message = f"{plan['agent']['name']} changed meanwhile."
            self.stale_note = changed_meanwhile(Conflict(message, changes=plan["changes"]), "saved")
        self.plan = plan
        self.agent = plan["agent"]
        self.expected = plan["revision"]
        self.show_plan(plan)

    def _show_notes(self, lines: list[Content]) -> None:
        notes = ([self.stale_note] if self.stale_note is not None else []) + lines
        view = self.query_one("#snapshot-note", Static)
        view.update(Content("\n").join(notes))
        view.display = bool(notes)
        self.call_after_refresh(self._limit_body)

    def _hide_diff(self) -> None:
        self.query_one(DiffBody).display = False
        self.query_one("#snapshot-dialog").set_class(False, "-diff")
        self.call_after_refresh(self._limit_body)

    def show_plan(self, plan: dict[str, Any]) -> None:
        self.query_one("#snapshot-intro", Static).update(self._intro())
        newest, held_by = plan["newest"], plan["held_by"]
        if newest is None:
            lines = [Content.styled("This will be its first version: what it holds is below.", "$text-muted")]
        elif plan["identical"]:
            lines = [
                Content.assemble(
                    ("The live config equals ", "$text-warning"),
                    (f"v{newest}", "bold $text-warning"),
                    ("; the new version will hold the same config.", "$text-warning"),
                )
            ]
        else:
            lines = []  # the diff's heading says what changed
            if held_by is not None:
                lines.append(
                    Content.assemble(
                        ("The live config equals ", "$text-warning"),
                        (f"v{held_by}", "bold $text-warning"),
                        ("; the new version will hold the same config as it.", "$text-warning"),
                    )
                )
        self._show_notes(lines)
        body = self.query_one(DiffBody)
        dialog = self.query_one("#snapshot-dialog")
        shown = not plan["identical"]
        body.display = shown
        dialog.set_class(shown, "-diff")
        if shown:
            heading = (
                "What v1 will hold" if newest is None else f"What changed since v{newest}: v{newest} → live config"
            )
            body.show_comparison(plan["comparison"], heading)
        self.call_after_refresh(self._limit_body)

    def action_scroll_diff(self, lines: int) -> None:
        body = self.query_one(DiffBody)
        if body.display and body.size.height > 0:
            body.scroll_relative(y=lines, animate=False, immediate=True)
        else:
            self.action_scroll_body(lines)

    # -- saving --------------------------------------------------------------------

    @on(Input.Submitted, "#changelog")
    def save(self, event: Input.Submitted) -> None:
        event.stop()
        if self._working:
            return
        self._working = True
        self._save(self.changelog, self.expected)

    @work(exclusive=True, group="snapshot-save")
    async def _save(self, changelog: str, expected: int) -> None:
        try:
            version = await self.service.create_version(self.agent["id"], changelog or None, expected_revision=expected)
        except Conflict:
            # Nothing saved: the fresh preview, with who changed what (load's line); the changelog stays.
            self._working = False
            self.plan = None
            self.load()
            return
        except KaizenError as error:
            self._working = False
            report_failure(self, error)
            self.stale_note = error_line(error, "nothing was saved; your changelog is kept, enter tries again")
            if self.plan is not None:
                self.show_plan(self.plan)
            else:
                self._show_notes([])
            self.notify(str(error), severity="error", timeout=8)
            return
        self.dismiss(version)

    def action_cancel(self) -> None:
        if not self._working:  # being written: its result is shown when it is done
            self.dismiss(None)
