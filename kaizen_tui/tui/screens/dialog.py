"""The base of every dialog: centred on a dimmed screen, or the whole window when it is small.

A dialog holds its text in a ``.dialog-body`` that scrolls, then its buttons
and the key bar. In a small window (below :data:`CRAMPED_WIDTH` columns or
:data:`CRAMPED_HEIGHT` rows) it takes the whole window, its buttons and
fields lose their borders, the key bar goes and the body scrolls above the
buttons, so that the buttons (and the keys they name) stay in view and the
dialog stays usable at 40x12 and even 20x8.
"""

from __future__ import annotations

from abc import ABCMeta
from typing import TypeVar

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message_pump import _MessagePumpMeta
from textual.screen import ModalScreen
from textual.widgets import Button, Input

#: Below this many columns, or rows, dialogs take the whole window.
CRAMPED_WIDTH = 60
CRAMPED_HEIGHT = 20

ResultType = TypeVar("ResultType")

#: j/k and the page keys scroll the text of a dialog (for dialogs without a field that takes them).
SCROLL_BINDINGS = [
    Binding("j,down", "scroll_body(1)", "scroll", show=False),
    Binding("k,up", "scroll_body(-1)", show=False),
    Binding("pagedown", "scroll_body(10)", show=False),
    Binding("pageup", "scroll_body(-10)", show=False),
]


class AbstractDialogMeta(ABCMeta, _MessagePumpMeta):
    """Lets a dialog base class declare ``@abstractmethod`` hooks (Textual screens have a metaclass of their own)."""


class Dialog(ModalScreen[ResultType]):
    """A modal dialog that fits the window it is in."""

    def __init__(self, *, classes: str = "") -> None:
        super().__init__(classes=f"dialog-screen {classes}".strip())

    @property
    def cramped(self) -> bool:
        return self.has_class("-cramped")

    def on_mount(self) -> None:
        self.fit_window()

    def on_resize(self) -> None:
        self.fit_window()

    def fit_window(self) -> None:
        """Switch between the centred and the whole-window layout for the window's size."""
        width, height = self.app.size
        cramped = width < CRAMPED_WIDTH or height < CRAMPED_HEIGHT
        self.set_class(cramped, "-cramped")
        self.set_class(width < 40, "-very-narrow")
        for widget in self.query("Button, Input"):
            if isinstance(widget, (Button, Input)):
                widget.compact = cramped
        self.call_after_refresh(self._limit_body)

    def _limit_body(self) -> None:
        """Cap the height of the text so that the buttons and keys below it stay in the window.

        A dialog that grows with its text (``height: auto``, as the prune
        dialog listing many versions) would otherwise push its buttons past
        its ``max-height``, out of sight; capped, the text scrolls instead.
        Dialogs of a set height (a diff, the editor, help) and cramped ones
        already give the text only the room that is left.
        """
        for dialog in self.query(".dialog"):
            body = next((child for child in dialog.children if child.has_class("dialog-body")), None)
            if body is None:
                continue
            height = dialog.styles.height
            if self.cramped or height is None or not height.is_auto:
                body.styles.max_height = None
                continue
            max_height = dialog.styles.max_height
            room = int(max_height.resolve(self.size, self.app.size)) if max_height is not None else self.size.height
            taken = dialog.styles.gutter.height + body.styles.margin.height
            for child in dialog.children:
                if child is not body and child.display:
                    taken += child.outer_size.height + child.styles.margin.height
            body.styles.max_height = max(1, room - taken)

    def action_scroll_body(self, lines: int) -> None:
        """Scroll the text of the dialog (in a small window it may not all fit)."""
        for body in self.query(".dialog-body"):
            if isinstance(body, VerticalScroll):
                # At once: keys typed faster than the screen refreshes would each
                # start from the same offset, and scroll one line between them.
                body.scroll_relative(y=lines, animate=False, immediate=True)
