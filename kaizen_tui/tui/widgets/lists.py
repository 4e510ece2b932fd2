"""The highlighted agent's version timeline (the agents list is in ``agent_list.py``).

It is a DataTable (rows are data, not widgets) that holds a
window of a few pages of versions, whatever the length of the history, and
asks for the pages it needs through a :class:`Timeline.NeedPage` message.
The widgets never call the service.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from kaizen_tui.tui.widgets.text import first_line, fit_cells, foreground, pad_cells, relative_time, visible

LIVE_KEY = "live"

GLYPH_UNSAVED = "●"
GLYPH_LIVE = "◆"
GLYPH_MARK = "⚑"
GLYPH_DAMAGED = "✗"


def label_chips(labels: list[str], budget: int) -> str:
    """The labels of a version as chips that fit ``budget`` cells: ``[production] [staging]``, or ``[production] +2``.

    Names are shown literally (they are restricted names, passed through
    :func:`visible` all the same); the first chip is cut with ``…`` when even
    it does not fit. Empty when there are no labels.
    """
    if not labels or budget <= 0:
        return ""
    chips = [f"[{visible(label)}]" for label in labels]
    whole = " ".join(chips)
    if cell_len(whole) <= budget:
        return whole
    shown: list[str] = []
    for index, chip in enumerate(chips):
        rest = f" +{len(chips) - index - 1}" if index < len(chips) - 1 else ""
        candidate = " ".join([*shown, chip])
        if cell_len(candidate + rest) > budget:
            break
        shown.append(chip)
    left = len(chips) - len(shown)
    if not shown:
        more = f" +{left - 1}" if left > 1 else ""
        first = fit_cells(chips[0][:-1], max(2, budget - len(more) - 1)) + "]"
        return first + more
    return " ".join(shown) + f" +{left}"


class KeyedTable(DataTable):
    """A row-cursor DataTable with vim keys that remembers rows by key."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "first", "Top", show=False),
        Binding("G", "last", "Bottom", show=False),
        Binding("home,ctrl+home", "first", "Top", show=False),
        Binding("end,ctrl+end", "last", "Bottom", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", cell_padding=0, zebra_stripes=False)
        self._filling = False

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        # Cells hold styles made from the old theme's colours: make them again.
        self.call_after_refresh(self.redraw)

    def on_focus(self) -> None:
        # A focused table is tinted, and the cells' colours are blended over
        # its background: make them again, or they depend on whether the rows
        # came before or after the focus.
        self.call_after_refresh(self.redraw)

    def on_blur(self) -> None:
        self.call_after_refresh(self.redraw)

    def redraw(self) -> None:
        """Rebuild the rows (the colours of the theme changed)."""

    def cursor_moved(self) -> None:
        """Called at once (not through the message queue) when a key moved the cursor.

        Screens override it in a subclass: what the cursor is on must be known
        before the next key is handled, or fast typing acts on stale rows.
        """

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        if old != new and not self._filling and self.row_count:
            self.cursor_moved()

    def action_first(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    @property
    def cursor_key(self) -> str | None:
        """The key of the highlighted row, or None when the table is empty."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:
            return None

    # Textual runs the handler of each class in the MRO (DataTable's as well):
    # calling super() here would run that one twice.
    def _on_resize(self, event) -> None:
        # A smaller pane must still show the highlighted row.
        self.call_after_refresh(self._scroll_cursor_into_view)

    def has_key(self, key: str) -> bool:
        return key in self.rows

    def style_of(self, name: str) -> Style:
        """The foreground of a component style, translucent colours blended over the table."""
        return foreground(self.get_visual_style(name).rich_style)

    def _available_width(self) -> int:
        width = self.scrollable_content_region.width or self.size.width
        return max(12, width)


class Timeline(KeyedTable):
    """Versions of one agent, newest first: a window of a few pages of a history of any length.

    The table holds at most :attr:`WINDOW_PAGES` pages of rows: moving near
    an edge of the window asks for the next page beyond it (and forgets a
    page at the other end), ``g``/``G`` ask for the first/last page and
    replace the window. The rows stay few, so every key costs the same in a
    history of 10 or 10,000 versions. The widget never calls the service:
    it posts :class:`NeedPage` and the screen answers with :meth:`receive_page`.
    """

    BINDINGS = [
        Binding("G", "last", "Bottom", show=False),
        Binding("enter", "select_cursor", "diff", key_display="enter", show=False),
    ]

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "timeline--live",
        "timeline--mark",
        "timeline--damaged",
        "timeline--unsaved",
        "timeline--muted",
        "timeline--version",
        "timeline--label",
    }

    #: Versions asked for at a time.
    PAGE_SIZE = 100
    #: At most this many pages are rows of the table.
    WINDOW_PAGES = 3
    #: Ask for the next page when the cursor comes this close to an edge of the window.
    PREFETCH = 20

    class NeedPage(Message):
        """The timeline wants versions (newest first) from ``offset``, at most ``limit`` of them.

        ``where`` is ``after`` or ``before`` the window, or ``first``/``last``
        (a jump: ``offset`` is then meaningless for ``last``, the end of the
        history is meant). Answer with :meth:`Timeline.receive_page`, passing
        ``generation`` back.
        """

        def __init__(self, timeline: Timeline, where: str, offset: int, limit: int, generation: int) -> None:
            super().__init__()
            self.timeline = timeline
            self.where = where
            self.offset = offset
            self.limit = limit
            self.generation = generation

        @property
        def control(self) -> Timeline:
            return self.timeline

    def __init__(self, now: Callable[[], datetime], *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._now = now
        self.agent: dict[str, Any] | None = None
        #: The window: versions ``start`` .. ``start + len(entries) - 1`` of the history, newest first.
        self.entries: list[dict[str, Any]] = []
        self.start = 0
        #: Are there older versions than the window holds?
        self.more_below = False
        self.marked: str | None = None
        self._signature: tuple | None = None
        self._by_id: dict[str, dict[str, Any]] = {}
        #: Bumped whenever the window is replaced: answers to older requests are dropped.
        self.generation = 0
        #: The page asked for and not received yet ("after", "before", "first", "last").
        self.requested: str | None = None
        #: True from picking an agent until its versions are shown.
        self.fetching = False
        #: Cursor moves and actions typed while the rows they act on were loading, replayed in order.
        self._pending: list[str] = []

    #: Below this width the author column is left out (the status line shows it).
    AUTHOR_MIN_WIDTH = 42
    #: Below this width the time is left out too.
    WHEN_MIN_WIDTH = 30

    def on_mount(self) -> None:
        # KeyedTable.on_mount runs too (Textual calls each class's handler): not super().
        self._columns_for: tuple[bool, int, int, bool] | None = None
        self._setup_columns(self._available_width(), 2)

    def _setup_columns(self, width: int, version_width: int) -> None:
        """(Re)make the header for this width: the author column only when there is room.

        Each row is one cell holding the whole formatted line: the table then
        measures one cell per row, which keeps refilling the window quick.
        """
        layout = (width >= self.AUTHOR_MIN_WIDTH, version_width, width, width >= self.WHEN_MIN_WIDTH)
        if layout == getattr(self, "_columns_for", None) and self.columns:
            return
        self._columns_for = layout
        self.clear(columns=True)
        header = "    " + "Ver".ljust(version_width + 1)
        if layout[3]:
            header += "When".ljust(9)
        if layout[0]:
            header += "Author".ljust(9)
        # A fixed width: what is drawn never waits for the table to measure cells.
        self.add_column(Text(header + "Changelog"), key="row", width=width)

    @property
    def _show_author(self) -> bool:
        return bool(self._columns_for and self._columns_for[0])

    @property
    def _version_width(self) -> int:
        return self._columns_for[1] if self._columns_for else 3

    @property
    def _show_when(self) -> bool:
        return bool(self._columns_for is None or self._columns_for[3])

    @property
    def max_rows(self) -> int:
        return self.PAGE_SIZE * self.WINDOW_PAGES

    # -- content --------------------------------------------------------------

    @property
    def show_live_row(self) -> bool:
        """The live row (unsaved changes) sits above the newest version: only when the window starts there."""
        return bool(self.agent and self.agent.get("unsaved_changes")) and self.start == 0

    @property
    def total(self) -> int:
        """How many versions the agent had when it was last read."""
        return int((self.agent or {}).get("version_count") or 0)

    @property
    def at_top(self) -> bool:
        """Does the window hold the newest version?"""
        return self.start == 0

    @property
    def newest_id(self) -> str | None:
        """The id of the newest version, when the window holds it."""
        return self.entries[0]["id"] if self.entries and self.start == 0 else None

    def set_entries(
        self,
        agent: dict[str, Any],
        entries: list[dict[str, Any]],
        *,
        start: int = 0,
        more_below: bool = False,
        keep: str | None = None,
        marked: str | None = None,
        force: bool = False,
    ) -> bool:
        """Show a window of an agent's versions; returns True when the rows changed.

        ``keep`` is the row (a version id or the live row) to put the cursor on
        when it is there; refreshing the same agent keeps the cursor where it
        was on the screen.
        """
        signature = self._signature_of(agent, entries, start, more_below, marked)
        same_agent = self.agent is not None and self.agent["id"] == agent["id"] and not self.fetching
        self.agent = agent
        self.marked = marked
        if signature == self._signature and not force and not self.fetching:
            return False
        self._signature = signature
        # A jump asked for before this refresh is still wanted: ask again after it.
        jump = self.requested if self.requested in ("first", "last") else None
        self.generation += 1
        self.requested = None
        fallback = self.cursor_row if keep is not None else 0
        self._show_window(entries, start, more_below, keep=keep, fallback_row=fallback, hold=same_agent)
        self.fetching = False
        if jump is not None:
            self._pending.insert(0, jump)
        self._replay()
        self._check_edges()
        return True

    def _signature_of(
        self, agent: dict[str, Any], entries: list[dict[str, Any]], start: int, more_below: bool, marked: str | None
    ) -> tuple:
        """What the rows are drawn from: the same signature draws the same rows."""
        return (
            self._available_width(),
            agent["id"],
            agent.get("unsaved_changes"),
            agent.get("updated_at"),
            marked,
            start,
            more_below,
            tuple(
                (e["id"], e["matches_live"], e["damaged"], e["changelog"], tuple(e.get("labels") or ()))
                for e in entries
            ),
        )

    def _show_window(
        self,
        entries: list[dict[str, Any]],
        start: int,
        more_below: bool,
        *,
        keep: str | None,
        fallback_row: int,
        hold: bool,
    ) -> None:
        """Fill the table with ``entries``; the cursor on ``keep`` (else ``fallback_row``).

        ``hold``: keep the cursor's row where it was on the screen, so a
        window that gained or lost rows above does not jump; but a view
        scrolled to the newest version stays there, like a log: what
        arrives at the top (a version saved by someone else, the live row)
        shows above the cursor's row rather than out of view.
        """
        screen_row = self.cursor_row - round(self.scroll_y) if hold and self.row_count else None
        at_top = screen_row is not None and self.start == 0 and start == 0 and round(self.scroll_y) == 0
        self.entries = list(entries)
        self.start = start
        self.more_below = more_below
        self._by_id = {entry["id"]: entry for entry in self.entries}
        width = self._available_width()
        # The widest number the agent has, not the window's: the columns stay put when paging.
        newest = max(
            [entry["version_number"] for entry in self.entries] + [int((self.agent or {}).get("latest_version") or 1)]
        )
        self._filling = True
        try:
            self._setup_columns(width, max(4, len(f"v{newest}")))
            self.clear()
            if self.show_live_row:
                self._add_live_row(width)
            self._add_entries(self.entries, width)
            if self.row_count:
                if keep is not None and keep in self.rows:
                    row = self.get_row_index(keep)
                else:
                    row = min(max(fallback_row, 0), self.row_count - 1)
                self.move_cursor(row=row, animate=False, scroll=screen_row is None)
        finally:
            self._filling = False
        if screen_row is not None and self.row_count:
            # At the top it stays at the top (the cursor is then scrolled into view, if it has to be).
            target = 0 if at_top else max(0, self.cursor_row - max(0, screen_row))
            self.call_after_refresh(self._scroll_to_row, target)

    def _scroll_to_row(self, row: int) -> None:
        self.scroll_to(y=row, animate=False, immediate=True)
        self._scroll_cursor_into_view()

    def _changelog_width(self, width: int) -> int:
        used = 4 + self._version_width + 1 + (9 if self._show_when else 0) + (9 if self._show_author else 0)
        return max(4, width - used)

    def _row(self, markers: Text, version: Text, when: Text, author: Text, changelog: Text) -> Text:
        parts = [markers, version]
        if self._show_when:
            parts.append(when)
        if self._show_author:
            parts.append(author)
        parts.append(changelog)
        return Text.assemble(*parts)

    def _styles(self) -> dict[str, Style]:
        return {
            name: self.style_of(f"timeline--{name}")
            for name in ("live", "mark", "damaged", "unsaved", "muted", "version", "label")
        }

    def _add_live_row(self, width: int) -> None:
        agent = self.agent or {}
        styles = self._styles()
        self.add_row(
            self._row(
                Text(f"{GLYPH_UNSAVED}   ", styles["unsaved"]),
                Text("live".ljust(self._version_width + 1), styles["unsaved"]),
                Text(pad_cells(relative_time(agent.get("updated_at"), self._now()), 8) + " ", styles["muted"]),
                Text(" " * 9),
                Text(fit_cells(self._live_note(), self._changelog_width(width)), styles["unsaved"]),
            ),
            key=LIVE_KEY,
        )

    def _live_note(self) -> str:
        same = next((entry for entry in self.entries if entry.get("matches_live")), None)
        if same is not None:
            return f"equals v{same['version_number']}, not the newest"
        return "unsaved changes (s saves them)"

    def _markers(self, entry: dict[str, Any], styles: dict[str, Style]) -> Text:
        text = Text()
        text.append(GLYPH_LIVE if entry.get("matches_live") else " ", styles["live"])
        text.append(GLYPH_MARK if entry["id"] == self.marked else " ", styles["mark"])
        text.append(GLYPH_DAMAGED if entry.get("damaged") else " ", styles["damaged"])
        text.append(" ")
        return text

    #: The labels of a row take at most this share of the changelog's room (but at least LABELS_MIN_WIDTH cells).
    LABELS_SHARE = 0.6
    LABELS_MIN_WIDTH = 14

    def _entry_row(self, entry: dict[str, Any], now: datetime, changelog_width: int, styles: dict[str, Style]) -> Text:
        changelog = first_line(entry.get("changelog"))
        # Labels first, before the changelog: they are what a person looks for ("which one is production?").
        budget = min(changelog_width, max(self.LABELS_MIN_WIDTH, int(changelog_width * self.LABELS_SHARE)))
        chips = label_chips(list(entry.get("labels") or []), budget)
        text = Text()
        if chips:
            text.append(chips, styles["label"])
            text.append(" ")
        room = changelog_width - cell_len(text.plain)
        if room > 0:
            text.append(fit_cells(changelog or "(no changelog)", room), "" if changelog else styles["muted"])
        return self._row(
            self._markers(entry, styles),
            Text(f"v{entry['version_number']}".ljust(self._version_width + 1), styles["version"]),
            Text(pad_cells(relative_time(entry.get("created_at"), now), 8) + " ", styles["muted"]),
            Text(pad_cells(visible(entry.get("created_by")), 8) + " ", styles["muted"]),
            text,
        )

    def _add_entries(self, entries: list[dict[str, Any]], width: int) -> None:
        now = self._now()
        changelog_width = self._changelog_width(width)
        styles = self._styles()
        for entry in entries:
            self.add_row(self._entry_row(entry, now, changelog_width, styles), key=entry["id"])

    def set_marked(self, version_id: str | None) -> None:
        """Move the ⚑ marker (the marked version may be outside the window)."""
        previous, self.marked = self.marked, version_id
        self._signature = None
        now, styles = self._now(), self._styles()
        changelog_width = self._changelog_width(self._available_width())
        for key in (previous, version_id):
            if key is None or key not in self.rows:
                continue
            entry = self.entry(key)
            if entry is not None:
                self.update_cell(key, "row", self._entry_row(entry, now, changelog_width, styles))

    # -- lookups --------------------------------------------------------------

    def entry(self, version_id: str | None) -> dict[str, Any] | None:
        return self._by_id.get(version_id) if version_id is not None else None

    @property
    def current(self) -> dict[str, Any] | None:
        """The highlighted version (None on the live row or when empty)."""
        key = self.cursor_key
        if key is None or key == LIVE_KEY:
            return None
        return self.entry(key)

    @property
    def on_live_row(self) -> bool:
        return self.cursor_key == LIVE_KEY

    # -- paging ---------------------------------------------------------------

    def _request(self, where: str, offset: int, limit: int) -> None:
        self.requested = where
        self.post_message(self.NeedPage(self, where, offset, limit, self.generation))

    def _check_edges(self) -> None:
        """Ask for the page beyond the edge the cursor is close to."""
        if self.fetching or self.requested is not None or self.agent is None or not self.row_count:
            return
        row = self.cursor_row
        if self.more_below and row >= self.row_count - self.PREFETCH:
            self._request("after", self.start + len(self.entries), self.PAGE_SIZE)
        elif self.start > 0 and row < self.PREFETCH:
            offset = max(0, self.start - self.PAGE_SIZE)
            self._request("before", offset, self.start - offset)

    def receive_page(
        self, generation: int, where: str, offset: int, entries: list[dict[str, Any]], more_below: bool
    ) -> None:
        """The versions asked for by :class:`NeedPage` came (``more_below``: older ones exist past them)."""
        if generation != self.generation or where != self.requested or self.agent is None:
            return  # the window was replaced meanwhile
        self.requested = None
        before = self.cursor_key
        if where in ("first", "last"):
            if not entries:
                self._pending = []
                return
            window, start = entries[: self.max_rows], offset
            more_below = more_below or len(entries) > len(window)
            row = 0 if where == "first" else len(window) + 1
            self._show_window(window, start, more_below, keep=None, fallback_row=row, hold=False)
        else:
            known = set(self._by_id)
            fresh = [entry for entry in entries if entry["id"] not in known]
            if where == "after":
                window, start = self.entries + fresh, self.start
                drop = max(0, len(window) - self.max_rows)
                window, start = window[drop:], start + drop
                if not fresh:
                    more_below = False  # nothing past the end: the history ends here
            else:
                window, start = fresh + self.entries, offset
                more_below = self.more_below
                if len(window) > self.max_rows:
                    window, more_below = window[: self.max_rows], True
            self._show_window(window, start, more_below, keep=before, fallback_row=self.cursor_row, hold=True)
        self.generation += 1
        self._signature = self._signature_of(self.agent, self.entries, self.start, self.more_below, self.marked)
        if self.cursor_key != before:
            self.cursor_moved()
        self._replay()
        self._check_edges()

    def page_failed(self, generation: int) -> None:
        """The page could not be read: forget it and the keys waiting for it."""
        if generation == self.generation:
            self.requested = None
            self._pending = []

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._filling and self.row_count:
            self._check_edges()

    # -- moving, and typing ahead -----------------------------------------------

    @property
    def busy(self) -> bool:
        """Keys on a version must wait: the row they act on is not known yet."""
        return self.fetching or bool(self._pending) or self.requested in ("first", "last")

    @property
    def action_waiting(self) -> bool:
        """A key on a version waits for its row: what is typed after it is meant for what it opens."""
        return any(name.startswith("action:") for name in self._pending)

    def begin_loading(self) -> None:
        """Another agent was picked: forget the rows, remember moves until the new ones come."""
        self.fetching = True
        self._pending = []
        self._signature = None
        self.agent = None
        self.entries = []
        self.start = 0
        self.more_below = False
        self._by_id = {}
        self.generation += 1
        self.requested = None
        self._filling = True
        try:
            self.clear()
        finally:
            self._filling = False

    def _move(self, name: str) -> bool:
        """True when the move was kept for later (the rows it moves over are still loading)."""
        if self.busy:
            self._pending.append(name)
            return True
        at_bottom = self.row_count and self.cursor_row >= self.row_count - 1
        if name == "down" and at_bottom and self.more_below:
            self._check_edges()
            if self.requested == "after":
                self._pending.append(name)
                return True
        if name == "up" and self.cursor_row == 0 and self.start > 0:
            self._check_edges()
            if self.requested == "before":
                self._pending.append(name)
                return True
        return False

    def action_cursor_down(self) -> None:
        if not self._move("down"):
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if not self._move("up"):
            super().action_cursor_up()

    def action_first(self) -> None:
        if self._move("first"):
            return
        if self.start > 0:
            self._request("first", 0, self.PAGE_SIZE)
        elif self.row_count:
            self.move_cursor(row=0)

    def action_last(self) -> None:
        if self._move("last"):
            return
        if self.more_below:
            self._request("last", -1, self.PAGE_SIZE)
        elif self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def defer(self, action: str) -> None:
        """Keep an action (a key on a version) until the rows come, in line with the moves."""
        self._pending.append(f"action:{action}")

    def replay_action(self, action: str) -> bool:
        """Run an action kept by :meth:`defer` (screens override this).

        Returns True when the action took the keyboard (opened a dialog):
        the moves typed after it were meant for that dialog, not the timeline.
        """
        return False

    def finish_loading(self) -> None:
        """The rows could not be loaded: forget the keys typed meanwhile."""
        self.fetching = False
        self._pending = []

    def _replay(self) -> None:
        pending, self._pending = self._pending, []
        while pending:
            name = pending.pop(0)
            if name.startswith("action:"):
                if self.replay_action(name.removeprefix("action:")):
                    return  # a dialog opened: what was typed next was meant for it
            elif name == "down":
                self.action_cursor_down()
            elif name == "up":
                self.action_cursor_up()
            elif name == "first":
                self.action_first()
            elif name == "last":
                self.action_last()
            if self._pending or self.busy:
                # That step waits for rows again: the rest waits behind it.
                self._pending.extend(pending)
                return

    def on_resize(self) -> None:
        if self._signature is not None and self._signature[0] != self._available_width():
            self.redraw()

    def redraw(self) -> None:
        """Draw the same window again (another width, theme or focus), the cursor where it is."""
        if self.agent is None or self.fetching:
            return
        self._show_window(
            self.entries, self.start, self.more_below, keep=self.cursor_key, fallback_row=self.cursor_row, hold=True
        )
        self._signature = self._signature_of(self.agent, self.entries, self.start, self.more_below, self.marked)
