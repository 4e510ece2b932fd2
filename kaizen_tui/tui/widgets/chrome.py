"""The frame around the panes: the top bar, the status line and the key bar."""

from __future__ import annotations

from textual.app import RenderResult
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from kaizen_tui.tui.widgets.text import visible


class TopBar(Static):
    """``kaizen-tui  <database>  user <name>  [read-only]``."""

    DEFAULT_CSS = """
    TopBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        padding: 0 1;
    }
    """

    def __init__(self, database: str, user: str, read_only: bool, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.database = database
        self.user = user
        self.read_only = read_only

    def render(self) -> RenderResult:
        parts: list[Content | tuple[str, str] | str] = [
            ("kaizen-tui", "bold $text-primary"),
            "  ",
            (visible(self.database), "$foreground"),
            ("  user ", "$text-muted"),
            (visible(self.user), "bold"),
        ]
        if self.read_only:
            parts += ["  ", (" read-only ", "bold $text-warning reverse")]
        return Content.assemble(*parts)


class BottomBar(Vertical):
    """The status line above the key bar, docked at the bottom (docked widgets would overlap)."""

    DEFAULT_CSS = """
    BottomBar {
        dock: bottom;
        height: auto;
    }
    """


class StatusLine(Static):
    """One line about the highlighted row: exact time, author, full first line (cut with … to the width)."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        background: $surface;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def show(self, content: Content | str) -> None:
        self.update(content if isinstance(content, Content) else Content(content))


class KeyBar(Widget):
    """The keys that apply now (the screen's active bindings), wrapped onto two lines if needed."""

    DEFAULT_CSS = """
    KeyBar {
        height: auto;
        max-height: 2;
        padding: 0 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    SEPARATOR = "  "

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen:
            self.refresh(layout=True)

    def _items(self) -> list[Content]:
        items: list[Content] = []
        seen: set[str] = set()
        try:
            bindings = self.screen.active_bindings
        except Exception:
            return items
        # A screen can keep a key bound (it says why it does nothing) but out of the bar: a change, read-only.
        hidden = getattr(self.screen, "hidden_in_key_bar", None)
        for _node, binding, enabled, _tooltip in bindings.values():
            if not binding.show or binding.action in seen:
                continue
            if hidden is not None and hidden(binding.action.removeprefix("screen.")):
                continue
            seen.add(binding.action)
            key = self.app.get_key_display(binding)
            item = Content.assemble(
                (key, "bold $footer-key-foreground" if enabled else "dim"),
                " ",
                (binding.description, "$footer-description-foreground" if enabled else "dim"),
            )
            items.append(item)
        return items

    #: Below this many rows of window the keys take one line.
    ONE_LINE_BELOW = 20

    def _max_lines(self) -> int:
        try:
            height = self.screen.size.height
        except Exception:
            return 2
        return 1 if 0 < height < self.ONE_LINE_BELOW else 2

    def _lines(self, width: int, max_lines: int = 2) -> list[Content]:
        items = self._items()
        lines = self._wrap(items, width)
        if len(lines) > max_lines:
            # Not all keys fit: keep the help key in view, it lists them all.
            help_items = [item for item in items if item.plain.startswith(("? ", "f1 "))]
            if help_items:
                rest = [item for item in items if item not in help_items]
                for count in range(len(rest), -1, -1):
                    lines = self._wrap(rest[:count] + help_items, width)
                    if len(lines) <= max_lines:
                        break
            lines = lines[:max_lines]
        return lines or [Content("")]

    def _wrap(self, items: list[Content], width: int) -> list[Content]:
        lines: list[Content] = []
        current: list[Content] = []
        used = 0
        for item in items:
            extra = item.cell_length + (len(self.SEPARATOR) if current else 0)
            if current and used + extra > width:
                lines.append(Content(self.SEPARATOR).join(current))
                current, used = [], 0
                extra = item.cell_length
            current.append(item)
            used += extra
        if current:
            lines.append(Content(self.SEPARATOR).join(current))
        return lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        max_lines = self._max_lines()
        return min(max_lines, len(self._lines(width, max_lines)))

    def render(self) -> RenderResult:
        return Content("\n").join(self._lines(self.content_region.width or self.size.width, self._max_lines()))
