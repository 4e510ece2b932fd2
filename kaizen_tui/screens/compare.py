"""The compare view: one comparison, full screen."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen

from kaizen_tui.widgets.chrome import BottomBar, KeyBar, StatusLine, TopBar
from kaizen_tui.widgets.diff import DiffBody


class CompareScreen(Screen[None]):
    """A comparison with the whole terminal to itself; ``esc`` goes back."""

    BINDINGS = [
        Binding("escape", "close", "back"),
        Binding("q", "close", "back", show=False),
        Binding("u", "app.toggle_split", "split/unified"),
        Binding("question_mark", "app.help", "help"),
        Binding("f1", "app.help", "help", show=False),
    ]

    def __init__(self, comparison: dict[str, Any], title: str, heading: str | None = None) -> None:
        super().__init__()
        self.comparison = comparison
        self.title_text = title
        self.heading = heading

    def compose(self) -> ComposeResult:
        service = self.app.service  # type: ignore[attr-defined]
        yield TopBar(service.db.display_name, service.user, service.read_only)
        with BottomBar():
            yield StatusLine(id="status")
            yield KeyBar()
        with Vertical(id="compare-pane", classes="pane") as pane:
            pane.border_title = self.title_text
            yield DiffBody(id="compare-diff")

    def on_mount(self) -> None:
        body = self.query_one(DiffBody)
        body.split_mode = self.app.split_mode  # type: ignore[attr-defined]
        body.show_comparison(self.comparison, self.heading)
        body.focus()
        self.query_one(StatusLine).show("j/k scroll · g/G top/bottom · u split/unified · esc back")

    def set_split_mode(self, mode: str) -> None:
        self.query_one(DiffBody).split_mode = mode  # type: ignore[assignment]

    def action_close(self) -> None:
        self.dismiss(None)
