"""The base of every dialog: centred on a dimmed screen, or the whole window when it is small.

A dialog holds its text in a ``.dialog-body`` that scrolls, then its buttons
and the key bar. In a small window (below :data:`CRAMPED_WIDTH` columns or
:data:`CRAMPED_HEIGHT` rows) it takes the whole window, its buttons and
fields lose their borders, the key bar goes and the body scrolls above the
buttons, so that the buttons (and the keys they name) stay in view and the
dialog stays usable at 40x12 and even 20x8.
"""

from __future__ import annotations

from typing import TypeVar

from textual.binding import Binding
from textual.containers import VerticalScroll
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

    def action_scroll_body(self, lines: int) -> None:
        """Scroll the text of the dialog (in a small window it may not all fit)."""
        for body in self.query(".dialog-body"):
            if isinstance(body, VerticalScroll):
                body.scroll_relative(y=lines, animate=False)
