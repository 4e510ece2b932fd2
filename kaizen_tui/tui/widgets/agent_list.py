"""The agents list: one line per agent, drawn only where it is visible.

A DataTable measures and lays out every cell of every row it is given: with
1,000 agents that took a quarter of a second at start, and again after every
change that altered one row. This list keeps the agents as plain dicts and
draws the lines on screen when Textual asks for them (the Line API), so
filling it costs the same for 6 agents or 10,000.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kaizen_tui.tui.widgets.lists import GLYPH_UNSAVED
from kaizen_tui.tui.widgets.text import foreground, pad_cells, visible

#: Columns after the name: (title, width in cells).
_TYPE = ("Type", 9)
_STATUS = ("Status", 9)
_VERSIONS = ("Vers", 4)
_MARK_WIDTH = 2


def short_count(number: int) -> str:
    """A count in at most four characters: 9999, 12k, 3.4M."""
    if number < 10_000:
        return str(number)
    if number < 1_000_000:
        return f"{number // 1000}k"
    return f"{number / 1_000_000:.1f}M"


class AgentsTable(ScrollView, can_focus=True):
    """Agents: unsaved mark, name, type, status and how many versions.

    The first line is a header that does not scroll. Subclasses override
    :meth:`cursor_moved` and :meth:`action_select_cursor`; the widget never
    calls the service.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home,g", "first", "Top", show=False),
        Binding("end,ctrl+end,G", "last", "Bottom", show=False),
        Binding("enter", "select_cursor", "timeline", key_display="enter"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "agents--header",
        "agents--cursor",
        "agents--unsaved",
        "agents--active",
        "agents--draft",
        "agents--archived",
        "agents--muted",
    }

    #: Below this width only the name and the number of versions are shown.
    COMPACT_WIDTH = 40

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._agents: list[dict[str, Any]] = []
        self._rows: dict[str, int] = {}
        self._cursor = 0

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    # -- the data ------------------------------------------------------------------

    @property
    def agents(self) -> list[dict[str, Any]]:
        return list(self._agents)

    @property
    def row_count(self) -> int:
        return len(self._agents)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        """The id of the highlighted agent, or None when the list is empty."""
        return self._agents[self._cursor]["id"] if self._agents else None

    def has_key(self, key: str) -> bool:
        return key in self._rows

    def row_of(self, agent_id: str) -> int | None:
        """The row of an agent in the list, or None when it is not shown."""
        return self._rows.get(agent_id)

    def agent(self, agent_id: str | None) -> dict[str, Any] | None:
        row = self._rows.get(agent_id) if agent_id is not None else None
        return None if row is None else self._agents[row]

    def set_agents(self, agents: list[dict[str, Any]], keep: str | None = None) -> None:
        """Show these agents, keeping the cursor on ``keep`` (an agent id) when it is still there.

        Otherwise the cursor stays on the same row (the nearest one left).
        """
        before = self.cursor_key
        self._agents = list(agents)
        self._rows = {agent["id"]: row for row, agent in enumerate(self._agents)}
        row = self._rows.get(keep) if keep is not None else None
        if row is None:
            row = min(self._cursor, len(self._agents) - 1)
        self._cursor = max(row, 0)
        self._size_to_rows()
        self._scroll_cursor_into_view()
        self.refresh()
        if self.cursor_key != before and self._agents:
            self.cursor_moved()

    def redraw(self) -> None:
        self.refresh()

    # -- the cursor ----------------------------------------------------------------

    def cursor_moved(self) -> None:
        """Called at once (not through the message queue) when the cursor moved to another agent.

        Screens override it in a subclass: what the cursor is on must be known
        before the next key is handled, or fast typing acts on stale rows.
        """

    def move_cursor(self, row: int) -> None:
        if not self._agents:
            return
        row = min(max(row, 0), len(self._agents) - 1)
        if row == self._cursor:
            return
        self._cursor = row
        self._scroll_cursor_into_view()
        self.refresh()
        self.cursor_moved()

    def _size_to_rows(self) -> None:
        """What there is to scroll: the header and one line per agent, as wide as the list."""
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._agents) + 1)

    @property
    def _page_rows(self) -> int:
        """How many agents fit below the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + self._page_rows:
            self.scroll_to(y=self._cursor - self._page_rows + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - self._page_rows)

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + self._page_rows)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._agents) - 1)

    def action_select_cursor(self) -> None:
        """``enter``, or a click on the highlighted agent (subclasses act on it)."""

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1 or not self._agents:
            return  # the header, or outside the lines
        row = round(self.scroll_y) + offset.y - 1
        if row >= len(self._agents):
            return
        if row == self._cursor:
            self.action_select_cursor()
        else:
            self.move_cursor(row)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    def on_resize(self) -> None:
        # A pane that shrank (another one took focus) must still show the cursor's agent.
        self._size_to_rows()
        self._scroll_cursor_into_view()
        self.refresh()
        # Once more after the layout settles: the scroll range follows the new size.
        self.call_after_refresh(self._scroll_cursor_into_view)

    # -- drawing -------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            line_style = self._style("agents--header")
            line = self._header_line(width, line_style, base)
        else:
            row = round(self.scroll_y) + y - 1
            if row >= len(self._agents):
                return Strip.blank(width, base)
            line_style = self._style("agents--cursor") if row == self._cursor else base
            line = self._agent_line(self._agents[row], width, line_style)
        return Strip(line).adjust_cell_length(width, line_style)

    def _style(self, name: str) -> Style:
        """A component's style, translucent colours blended over the list's background."""
        return self.get_component_rich_style(name)

    def _columns(self, width: int) -> tuple[int, bool]:
        """The width of the name column, and whether type and status are left out."""
        compact = width < self.COMPACT_WIDTH
        others = _MARK_WIDTH + _VERSIONS[1] + (0 if compact else _TYPE[1] + _STATUS[1])
        return max(4, width - others - 1), compact

    def _header_line(self, width: int, style: Style, base: Style) -> list[Segment]:
        name_width, compact = self._columns(width)
        titles = [pad_cells("Name", name_width) + " "]
        if not compact:
            titles += [pad_cells(_TYPE[0], _TYPE[1]), pad_cells(_STATUS[0], _STATUS[1])]
        titles.append(_VERSIONS[0].rjust(_VERSIONS[1]))
        # The mark column apart: SVG screenshots drop the spaces a text run starts with.
        return [Segment(" " * _MARK_WIDTH, base), Segment("".join(titles), style)]

    def _agent_line(self, agent: dict[str, Any], width: int, style: Style) -> list[Segment]:
        name_width, compact = self._columns(width)
        status = str(agent.get("status") or "")
        mark = f"{GLYPH_UNSAVED} " if agent.get("unsaved_changes") else "  "
        segments = [
            Segment(mark, style + foreground(self._style("agents--unsaved"))),
            Segment(pad_cells(visible(agent["name"]), name_width) + " ", style),
        ]
        if not compact:
            muted = style + foreground(self._style("agents--muted"))
            segments.append(Segment(pad_cells(visible(agent.get("agent_type")), _TYPE[1] - 1) + " ", muted))
            status_style = (
                self._style(f"agents--{status}") if f"agents--{status}" in self.COMPONENT_CLASSES else Style()
            )
            segments.append(Segment(pad_cells(visible(status), _STATUS[1] - 1) + " ", style + foreground(status_style)))
        segments.append(Segment(short_count(int(agent.get("version_count") or 0)).rjust(_VERSIONS[1]), style))
        return segments
