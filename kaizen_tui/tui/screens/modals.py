"""Modal dialogs: a yes/no confirmation (deleting a version), the in-app editor.

Destructive dialogs open with Cancel focused: ``enter`` on them never
destroys anything; ``y`` confirms, ``n`` or ``esc`` cancels. The dialogs
that show a plan of the service and carry it out are in
:mod:`~kaizen_tui.tui.screens.plans` (the snapshot dialog in
:mod:`~kaizen_tui.tui.screens.snapshot`); the one that settles an edit's
conflicts is in :mod:`~kaizen_tui.tui.screens.merge`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Static, TextArea

from kaizen_tui.tui.screens.dialog import AbstractDialogMeta, Dialog, ResultType
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.text import error_line, named_line


class ConfirmModal(Dialog[ResultType], metaclass=AbstractDialogMeta):
    """A dialog about a destructive step: what will change, Cancel (focused) and a confirm button.

    ``y`` confirms, ``n`` or ``esc`` cancels; what confirming does is the
    subclass's (:class:`YesNoModal` answers True).
    """

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
        self, title: str, lines: list[Content], *, confirm_label: str, comparison_heading: str | None = None
    ) -> None:
        """``comparison_heading``: the dialog has a diff under its lines (a subclass shows it), with this heading."""
        super().__init__()
        self.title_text = title
        self.lines = lines
        self.confirm_label = confirm_label
        self.comparison_heading = comparison_heading

    def compose(self) -> ComposeResult:
        with_diff = self.comparison_heading is not None
        with Vertical(classes="dialog -wide -diff" if with_diff else "dialog") as dialog:
            dialog.border_title = Content(self.title_text)  # may hold an agent's name: never markup
            with VerticalScroll(classes="dialog-body", can_focus=False):
                for line in self.lines:
                    yield Static(line)
                yield from self.compose_extra()
            if with_diff:
                yield DiffBody(id="confirm-diff")
            with Horizontal(classes="buttons"):
                yield Button("Cancel  n", id="cancel", variant="default")
                yield Button(f"{self.confirm_label}  y", id="confirm", variant="error")
            yield KeyBar()

    def compose_extra(self) -> ComposeResult:
        """More content under the lines (subclasses)."""
        yield from ()

    def on_mount(self) -> None:
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

    # The buttons run the actions, so that a subclass's actions are its buttons' too.
    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#confirm")
    def confirm_pressed(self) -> None:
        self.action_confirm()

    @abstractmethod
    def action_cancel(self) -> None:
        """``n``, ``esc`` and the Cancel button: what cancelling dismisses with."""

    @abstractmethod
    def action_confirm(self) -> None:
        """``y`` and the confirm button."""


class YesNoModal(ConfirmModal[bool]):
    """A yes/no question about a destructive step: dismissed with True when confirmed."""

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)


Submit = Callable[[str], Awaitable[str | None]]
#: The worker group of the in-app editor's save: it waits on the merge dialog while that is open.
EDITOR_SAVE = "editor-save"


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
        self._to_named_line(self.error)

    def _to_named_line(self, error: str | None) -> None:
        """The cursor on the line the error names ("line 18"), if it names one of the text."""
        line = named_line(error) if error else None
        editor = self.query_one("#editor", TextArea)
        if line is not None and 1 <= line <= editor.document.line_count:
            editor.move_cursor((line - 1, 0), center=True)

    def fit_window(self) -> None:
        super().fit_window()
        editor = self.query_one("#editor", TextArea)
        editor.compact = self.cramped
        editor.show_line_numbers = not self.has_class("-very-narrow")

    def show_error(self, error: str | None, hint: str = "fix it and save again (ctrl+o)") -> None:
        view = self.query_one("#editor-error", Static)
        if error:
            view.update(error_line(error, hint))
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

    @work(group=EDITOR_SAVE)
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
            self._to_named_line(error)

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
