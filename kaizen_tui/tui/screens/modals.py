"""Modal dialogs: snapshot, confirm (rollback, delete), prune, the in-app editor.

Destructive dialogs open with Cancel focused: ``enter`` on them never
destroys anything; ``y`` confirms, ``n`` or ``esc`` cancels.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Static, TextArea

from kaizen_tui.core.errors import KaizenError
from kaizen_tui.tui.screens.dialog import SCROLL_BINDINGS, Dialog
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.text import exact_time, first_line, visible

#: How many doomed versions the prune dialog lists before summarising.
PRUNE_LIST_LIMIT = 12


def _line(*parts: tuple[str, str] | str) -> Content:
    """A line of plain text pieces with styles; data is never markup."""
    return Content.assemble(*parts)


class SnapshotModal(Dialog[str | None]):
    """Ask for the changelog of a new version: ``enter`` saves, ``esc`` cancels."""

    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, agent: dict[str, Any]) -> None:
        super().__init__()
        self.agent = agent

    def compose(self) -> ComposeResult:
        agent = self.agent
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Snapshot"
            with VerticalScroll(classes="dialog-body", can_focus=False):
                yield from self._compose_body(agent)
            yield Input(placeholder="e.g. Shorter greeting, stricter refund policy", id="changelog")
            yield Static(_line(("enter", "bold"), " save   ", ("esc", "bold"), " cancel"), classes="hint")

    def _compose_body(self, agent: dict[str, Any]) -> ComposeResult:
        yield Static(_line("Save the live config of ", (visible(agent["name"]), "bold"), " as a new version."))
        if agent.get("latest_version") is None:
            note = _line(("This will be its first version.", "$text-muted"))
        elif agent.get("unsaved_changes"):
            note = _line(("The live config has changes since ", "$text-muted"), f"v{agent['latest_version']}", ".")
        else:
            note = _line(
                ("The live config equals ", "$text-warning"),
                (f"v{agent['latest_version']}", "bold $text-warning"),
                ("; the new version will hold the same config.", "$text-warning"),
            )
        yield Static(note, classes="note")
        yield Label("Changelog: what changed and why")

    def on_mount(self) -> None:
        self.query_one("#changelog", Input).focus()

    @on(Input.Submitted, "#changelog")
    def save(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(Dialog[bool]):
    """A yes/no question about a destructive step. Cancel has focus."""

    BINDINGS = [
        Binding("y", "confirm", "confirm"),
        Binding("n", "cancel", "cancel"),
        Binding("escape", "cancel", "cancel", show=False),
        Binding("left,h", "app.focus_previous", show=False),
        Binding("right,l", "app.focus_next", show=False),
        Binding("j,down", "scroll_diff(1)", "scroll", show=False),
        Binding("k,up", "scroll_diff(-1)", show=False),
        Binding("pagedown", "scroll_diff(10)", show=False),
        Binding("pageup", "scroll_diff(-10)", show=False),
    ]

    def __init__(
        self,
        title: str,
        lines: list[Content],
        *,
        confirm_label: str,
        comparison: dict[str, Any] | None = None,
        comparison_heading: str | None = None,
        wide: bool = False,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.confirm_label = confirm_label
        self.comparison = comparison
        self.comparison_heading = comparison_heading
        self.wide = wide

    def compose(self) -> ComposeResult:
        classes = "dialog -wide -diff" if self.comparison is not None else ("dialog -wide" if self.wide else "dialog")
        with Vertical(classes=classes) as dialog:
            dialog.border_title = Content(self.title_text)  # may hold an agent's name: never markup
            with VerticalScroll(classes="dialog-body", can_focus=False):
                for line in self.lines:
                    yield Static(line)
                yield from self.compose_extra()
            if self.comparison is not None:
                yield DiffBody(id="confirm-diff")
            with Horizontal(classes="buttons"):
                yield Button("Cancel  n", id="cancel", variant="default")
                yield Button(f"{self.confirm_label}  y", id="confirm", variant="error")
            yield KeyBar()

    def compose_extra(self) -> ComposeResult:
        """More content under the lines (subclasses)."""
        yield from ()

    def on_mount(self) -> None:
        if self.comparison:
            self.query_one(DiffBody).show_comparison(self.comparison, self.comparison_heading)
        self.query_one("#cancel", Button).focus()

    def action_scroll_diff(self, lines: int) -> None:
        """Scroll the diff, or the text when there is no diff in view (a small window)."""
        bodies = [body for body in self.query(DiffBody) if body.size.height > 0]
        if not bodies:
            self.action_scroll_body(lines)
        for body in bodies:
            # At once: keys typed faster than the screen refreshes would each
            # start from the same offset, and scroll one line between them.
            body.scroll_relative(y=lines, animate=False, immediate=True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)


class RollbackModal(ConfirmModal):
    """Roll back to a version: opens at once, then shows what will change.

    It reads the agent again (are there unsaved changes?) and the diff from
    the live config to the version in a worker, so the keys typed right
    after ``r`` already reach the dialog.
    """

    def __init__(self, service: Any, agent: dict[str, Any], version: dict[str, Any]) -> None:
        self.service = service
        self.agent = agent
        self.version = version
        label = f"v{version['version_number']}"
        name = visible(agent["name"])
        super().__init__(
            f"Roll back to {label}?",
            [Content.assemble("Make the live config of ", (name, "bold"), " equal ", (label, "bold"), ".")],
            confirm_label="Roll back",
            comparison={},
            comparison_heading=f"What changes: live config → {label}",
        )

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self.query_one(DiffBody).show_message(Content.styled("Reading what will change…", "$text-muted"))
        self.query_one("#rollback-note", Static).update(Content(""))
        self.load()

    def compose_extra(self) -> ComposeResult:
        yield Static(id="rollback-note")

    @work(exclusive=True, group="rollback-preview")
    async def load(self) -> None:
        label = f"v{self.version['version_number']}"
        note = self.query_one("#rollback-note", Static)
        body = self.query_one(DiffBody)
        try:
            agent = await self.service.get(self.agent["id"])
            comparison = await self.service.compare_with_live(self.agent["id"], self.version["id"], live_first=True)
        except KaizenError as error:
            body.show_message(Content.assemble(("✗ ", "bold $text-error"), (visible(str(error)), "$text-error")))
            return
        lines = []
        if agent.get("unsaved_changes"):
            lines.append(
                Content.assemble(
                    ("● The live config has unsaved changes: ", "$text-warning"),
                    "they are saved first as a new version ",
                    (f"\"Auto: before rollback to {label}\"", "bold"),
                    ", so nothing is lost.",
                )
            )
        else:
            lines.append(Content.styled("The live config is saved as a version already: nothing is lost.", "$text-muted"))
        if comparison["identical"]:
            lines.append(Content.styled(f"The live config already equals {label}: nothing will change.", "$text-success"))
        note.update(Content("\n").join(lines))
        if comparison["identical"]:
            # The note says it; an empty diff box would fill the screen.
            body.display = False
            self.query_one(".dialog").remove_class("-diff")
        else:
            body.show_comparison(comparison, self.comparison_heading)


class KeepInput(Input):
    """The number of versions to keep: digits only, so ``y``/``n`` stay keys of the dialog."""


class PruneModal(Dialog[tuple[int, int] | None]):
    """How many of the newest versions to keep; lists what would be deleted.

    Dismissed with ``(keep, newest_to_delete)``: the number of the newest
    version the preview showed as deleted, so that a version saved meanwhile
    never pushes one nobody saw over the edge. ``y`` pressed before the
    preview of the number typed came waits for it.
    """

    DEFAULT_CSS = """
    PruneModal #prune-doomed {
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS = [
        Binding("y", "confirm", "prune", priority=True),
        Binding("n", "cancel", "cancel", priority=True),
        Binding("escape", "cancel", "cancel", show=False),
        *[Binding(str(digit), f"digit({digit})", show=False) for digit in range(10)],
        Binding("backspace", "backspace", show=False),
        Binding("left,h", "app.focus_previous", show=False),
        Binding("right,l", "app.focus_next", show=False),
        *SCROLL_BINDINGS,
    ]

    def __init__(self, service: Any, agent: dict[str, Any], keep: int = 10) -> None:
        super().__init__()
        self.service = service
        self.agent = agent
        self.keep = keep
        self.doomed: list[dict[str, Any]] = []
        #: The number of versions to keep that ``doomed`` was read for.
        self.previewed: int | None = None
        self._confirm_when_previewed = False
        self._typed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide") as dialog:
            dialog.border_title = "Prune versions"
            with VerticalScroll(classes="dialog-body", can_focus=False):
                yield Static(
                    _line(
                        "Keep the newest versions of ",
                        (visible(self.agent["name"]), "bold"),
                        f" (it has {self.agent.get('version_count', 0):,}) and delete the rest.",
                    )
                )
                with Horizontal(classes="keep-row"):
                    yield Label("Versions to keep (type a number):")
                    yield KeepInput(str(self.keep), type="integer", id="keep", max_length=7)
                yield Static(id="prune-summary")
                with VerticalScroll(id="prune-list", can_focus=False):
                    yield Static(id="prune-doomed")
            with Horizontal(classes="buttons"):
                yield Button("Cancel  n", id="cancel")
                yield Button("Prune  y", id="confirm", variant="error")
            yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self.preview(self.keep)

    # -- typing the number -----------------------------------------------------

    def action_digit(self, digit: int) -> None:
        keep_input = self.query_one("#keep", KeepInput)
        if keep_input.has_focus:
            keep_input.insert_text_at_cursor(str(digit))
            return
        # Typed while a button has focus: the first digit replaces the default.
        keep_input.value = (keep_input.value if self._typed else "") + str(digit)
        keep_input.cursor_position = len(keep_input.value)
        self._typed = True

    def action_backspace(self) -> None:
        keep_input = self.query_one("#keep", KeepInput)
        if keep_input.has_focus:
            keep_input.action_delete_left()
        else:
            keep_input.value = keep_input.value[:-1]
            self._typed = True

    @on(Input.Changed, "#keep")
    def keep_changed(self, event: Input.Changed) -> None:
        try:
            keep = int(event.value)
        except ValueError:
            keep = 0
        if keep != self.keep:
            self._confirm_when_previewed = False  # y was for another number
        self.keep = keep
        self.preview(keep)

    @on(Input.Submitted, "#keep")
    def keep_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#cancel", Button).focus()

    @work(exclusive=True, group="prune-preview")
    async def preview(self, keep: int) -> None:
        summary = self.query_one("#prune-summary", Static)
        doomed_view = self.query_one("#prune-doomed", Static)
        if keep < 1:
            self.doomed, self.previewed = [], keep
            summary.update(_line(("Type how many versions to keep: at least 1.", "$text-warning")))
            doomed_view.update("")
            return
        try:
            doomed = await self.service.prune_preview(self.agent["id"], keep)
        except KaizenError as error:
            self.doomed, self.previewed = [], None
            self._confirm_when_previewed = False
            summary.update(_line(("✗ " + visible(str(error)), "$text-error")))
            doomed_view.update("")
            return
        self.doomed, self.previewed = doomed, keep
        if self._confirm_when_previewed and keep == self.keep:
            self._confirm_when_previewed = False
            self.call_later(self.action_confirm)
        if not doomed:
            summary.update(_line(("Nothing to delete: ", "$text-success"), f"the agent has at most {keep} versions."))
            doomed_view.update("")
            return
        about = [
            _line(
                ("Deletes ", "$text-error"),
                (f"{len(doomed):,} version{'s' if len(doomed) != 1 else ''}", "bold $text-error"),
                f" (v{doomed[-1]['version_number']}–v{doomed[0]['version_number']}); keeps the {keep} newest. "
                "The live config is not changed.",
            )
        ]
        live = [version for version in doomed if version.get("matches_live")]
        if live and self.agent.get("unsaved_changes"):
            # The newest version (always kept) differs from the live config,
            # and the version that equals it goes: no version will hold it.
            label = ", ".join(f"v{version['version_number']}" for version in live)
            about.append(
                _line(
                    ("◆ ", "bold $text-warning"),
                    (f"{label} equals the live config and goes: ", "$text-warning"),
                    "no version will hold the live config. Cancel and snapshot it (s) first to keep a copy.",
                )
            )
        summary.update(Content("\n").join(about))
        # One line per version, cut to the width (#prune-doomed does not
        # wrap), marked like the removed lines of a diff: a ✗ would say
        # "damaged", as it does in the timeline.
        lines = []
        for version in doomed[:PRUNE_LIST_LIMIT]:
            lines.append(
                _line(
                    ("  ◆ " if version.get("matches_live") else "  - ", "$text-error"),
                    (f"v{version['version_number']}".ljust(6), "bold"),
                    (exact_time(version.get("created_at")).ljust(22), "$text-muted"),
                    (visible(version.get("created_by")).ljust(10)[:10] + " ", "$text-muted"),
                    first_line(version.get("changelog")) or "(no changelog)",
                )
            )
        if len(doomed) > PRUNE_LIST_LIMIT:
            lines.append(_line(("  … and ", "$text-muted"), f"{len(doomed) - PRUNE_LIST_LIMIT:,} older", (" versions", "$text-muted")))
        doomed_view.update(Content("\n").join(lines))

    def action_confirm(self) -> None:
        if self.keep < 1:
            self.notify("Keep at least 1 version.", severity="warning")
            return
        if self.previewed != self.keep:
            # What would go is still being read: confirm it when it is shown.
            self._confirm_when_previewed = True
            return
        if not self.doomed:
            self.notify(f"Nothing to prune: {visible(self.agent['name'])} has at most {self.keep} versions.")
            self.dismiss(None)
            return
        self.dismiss((self.keep, self.doomed[0]["version_number"]))

    @on(Button.Pressed, "#confirm")
    def confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


Submit = Callable[[str], Awaitable[str | None]]


class EditorModal(Dialog[bool]):
    """The in-app YAML editor (used when neither $VISUAL nor $EDITOR is set).

    ``submit`` saves the text and returns an error message, or None when it
    worked; on an error the dialog stays open with the text as it was typed.
    """

    BINDINGS = [
        Binding("ctrl+o", "save", "save", priority=True),
        Binding("f2", "save", "save", show=False, priority=True),
        Binding("escape", "cancel", "cancel", priority=True),
    ]

    def __init__(self, title: str, text: str, submit: Submit, *, error: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.submit = submit
        self.error = error
        self._confirm_discard = False
        self._saving = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -editor") as dialog:
            dialog.border_title = Content(self.title_text)  # may hold an agent's name: never markup
            yield Static(id="editor-error", classes="error")
            yield TextArea(self.text, id="editor", soft_wrap=True, show_line_numbers=True, tab_behavior="indent")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save  ctrl+o", id="save", variant="primary")
            yield KeyBar()

    def on_mount(self) -> None:
        self.show_error(self.error)
        editor = self.query_one("#editor", TextArea)
        editor.focus()

    def fit_window(self) -> None:
        super().fit_window()
        editor = self.query_one("#editor", TextArea)
        editor.compact = self.cramped
        editor.show_line_numbers = not self.has_class("-very-narrow")

    def show_error(self, error: str | None, hint: str = "fix it and save again (ctrl+o)") -> None:
        view = self.query_one("#editor-error", Static)
        if error:
            view.update(_line(("✗ ", "bold $text-error"), (visible(error), "$text-error"), (f"  — {hint}", "$text-muted")))
            view.display = True
        else:
            view.display = False

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        # One save at a time: a second ctrl+o while the first is being written
        # would write it again (two agents created). Cancelling the first is no
        # answer either: its write goes on in its thread.
        if self._saving:
            return
        self._saving = True
        self._save(self.query_one("#editor", TextArea).text)

    @work(group="editor-save")
    async def _save(self, text: str) -> None:
        try:
            error = await self.submit(text)
        finally:
            self._saving = False
        if error is None:
            self.dismiss(True)
        else:
            self.show_error(error)
            self.query_one("#editor", TextArea).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if self._saving:
            return  # being written: what it does is shown when it is done
        editor = self.query_one("#editor", TextArea)
        if editor.text != self.text and not self._confirm_discard:
            self._confirm_discard = True
            self.show_error("You have unsaved edits.", "esc again discards them, ctrl+o saves")
            return
        self.dismiss(False)
