"""The compare view: one comparison, full screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen

from kaizen_tui.core.errors import KaizenError
from kaizen_tui.tui.actions import Scope, bindings
from kaizen_tui.tui.widgets.chrome import BottomBar, KeyBar, StatusLine, TopBar
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.text import error_line

#: Reads what to show: (comparison, pane title, heading or None).
Loader = Callable[[], Awaitable[tuple[dict[str, Any], str, str | None]]]


class CompareScreen(Screen[None]):
    """A comparison with the whole terminal to itself; ``esc`` goes back.

    Given a ``load`` coroutine instead of a comparison, the screen opens at
    once and reads the comparison itself: the keys typed right after the
    one that opened it (scrolling, ``esc``) already reach it.
    """

    BINDINGS = bindings(Scope.COMPARE)

    def __init__(
        self,
        comparison: dict[str, Any] | None = None,
        title: str = "Compare",
        heading: str | None = None,
        *,
        load: Loader | None = None,
    ) -> None:
        super().__init__()
        self.comparison = comparison
        self.title_text = title
        self.heading = heading
        self._load = load

    def compose(self) -> ComposeResult:
        service = self.app.service  # type: ignore[attr-defined]
        yield TopBar(service.display_name, service.user, service.read_only)
        with BottomBar():
            yield StatusLine(id="status")
            yield KeyBar()
        with Vertical(id="compare-pane", classes="pane") as pane:
            pane.border_title = Content(self.title_text)  # data: never markup
            yield DiffBody(id="compare-diff")

    def on_mount(self) -> None:
        body = self.query_one(DiffBody)
        body.split_mode = self.app.split_mode  # type: ignore[attr-defined]
        body.focus()
        # The key bar below already says esc, u and ?.
        self.query_one(StatusLine).show("j/k scroll · g/G top/bottom")
        if self.comparison is not None:
            body.show_comparison(self.comparison, self.heading)
        elif self._load is not None:
            body.show_message(Content.styled("Comparing…", "$text-muted"))
            self.load()

    @work(exclusive=True, group="compare")
    async def load(self) -> None:
        assert self._load is not None
        body = self.query_one(DiffBody)
        try:
            comparison, title, heading = await self._load()
        except KaizenError as error:
            body.show_message(
                error_line(error),
                Content.styled("esc goes back.", "$text-muted"),
            )
            self.app.notify(str(error), severity="error", timeout=8)
            return
        self.comparison, self.title_text, self.heading = comparison, title, heading
        self.query_one("#compare-pane").border_title = Content(title)
        body.show_comparison(comparison, heading)

    def set_split_mode(self, mode: str) -> None:
        self.query_one(DiffBody).split_mode = mode  # type: ignore[assignment]

    def action_close(self) -> None:
        self.dismiss(None)
