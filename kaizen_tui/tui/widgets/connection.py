"""The line that says the database cannot be reached, for as long as it cannot.

A toast would go after a few seconds while the server stays down, and the
screen would go on showing what it read before as if it were current. The
line stays, above the status line of the main screen, until a later call
gets an answer (the main screen's poll clears it, see
:meth:`~kaizen_tui.tui.screens.main.MainScreen.poll_changes`).
"""

from __future__ import annotations

from textual.content import Content
from textual.dom import DOMNode
from textual.widgets import Static

from kaizen_tui.core.errors import DatabaseUnavailable
from kaizen_tui.tui.widgets.text import visible


class UnreachableLine(Static):
    """``⚠ Cannot reach PostgreSQL at host:port: … Trying again every second.``; hidden while all is well."""

    DEFAULT_CSS = """
    UnreachableLine {
        display: none;
        height: auto;
        max-height: 2;
        padding: 0 1;
        background: $error 25%;
        color: $text;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: What the last failed call said (None: the database answers).
        self.error: DatabaseUnavailable | None = None

    @property
    def showing(self) -> bool:
        return self.error is not None

    def show_unreachable(self, error: DatabaseUnavailable) -> None:
        self.error = error
        self.update(
            Content.assemble(
                ("⚠ ", "bold $text-error"),
                (visible(str(error)), "bold"),
                ("  Trying again every second; what is shown was read before.", "$text-muted"),
            )
        )
        self.display = True

    def clear(self) -> None:
        self.error = None
        self.display = False


def report_failure(node: DOMNode, error: Exception) -> None:
    """A call made for ``node`` (a dialog, a screen) failed: if the database is unreachable, say so on the line.

    The line is the main screen's, under the dialogs: it stays once the dialog is closed.
    """
    if not isinstance(error, DatabaseUnavailable):
        return
    for screen in node.app.screen_stack:
        for line in screen.query(UnreachableLine):
            line.show_unreachable(error)
