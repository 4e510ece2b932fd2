"""The main screen: agents, the highlighted agent's timeline, and the diff.

All database work happens in workers calling the async service; a load
started by a cursor move is cancelled by the next one (exclusive groups).
Every mutation ends in a toast; every failure in a toast with the reason.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Static
from textual.worker import WorkerCancelled, WorkerFailed

from kaizen_tui.agent_file import parse_agent_text
from kaizen_tui.core.errors import DatabaseUnavailable, KaizenError, VersionNotFound
from kaizen_tui.service import AsyncAgentService, agent_sort_key
from kaizen_tui.tui.actions import Scope, bindings
from kaizen_tui.tui.clipboard import config_yaml, copy_shown
from kaizen_tui.tui.screens.audit import AuditScreen
from kaizen_tui.tui.screens.compare import CompareScreen
from kaizen_tui.tui.screens.editing import (
    NEW_AGENT_TEMPLATE,
    AgentEdit,
    EditAgainModal,
    EditorFailed,
    editor_command,
    meaningful,
    run_external_editor,
    strip_error,
    with_error,
)
from kaizen_tui.tui.screens.labels import LabelModal, LedgerScreen, label_toast
from kaizen_tui.tui.screens.modals import EditorModal, YesNoModal
from kaizen_tui.tui.screens.plans import DeleteAgentModal, PruneModal, RollbackModal
from kaizen_tui.tui.screens.snapshot import SnapshotModal
from kaizen_tui.tui.widgets.agent_list import AgentsTable
from kaizen_tui.tui.widgets.chrome import BottomBar, KeyBar, StatusLine, TopBar
from kaizen_tui.tui.widgets.connection import UnreachableLine, report_failure
from kaizen_tui.tui.widgets.diff import DiffBody, comparison_label, comparison_text
from kaizen_tui.tui.widgets.lists import (
    GLYPH_DAMAGED,
    GLYPH_LIVE,
    GLYPH_MARK,
    GLYPH_UNSAVED,
    LIVE_KEY,
    Timeline,
)
from kaizen_tui.tui.widgets.text import error_line, exact_time, first_line, visible

#: Below this many columns the panes are stacked.
NARROW_WIDTH = 100
#: Below this many rows only the focused list is shown (stacked: only the focused pane).
SHORT_HEIGHT = 15
SHORT_HEIGHT_STACKED = 20
#: The worker group of the mutations (snapshot, rollback, prune...); they
#: wait on their dialog while it is open.
ACTIONS = "actions"


class FilterInput(Input):
    """The agents filter; ``esc`` clears it."""

    BINDINGS = bindings(Scope.FILTER)


class AgentsPaneTable(AgentsTable):
    """The agents list of the main screen: a cursor move picks the agent at once."""

    BINDINGS = bindings(Scope.AGENTS)

    def cursor_moved(self) -> None:
        screen = self.screen
        if isinstance(screen, MainScreen):
            screen.agent_cursor_moved()

    def action_select_cursor(self) -> None:
        """A click on the highlighted agent opens its timeline, as ``enter`` does."""
        screen = self.screen
        if isinstance(screen, MainScreen):
            screen.action_open_timeline()


class TimelineTable(Timeline):
    """The timeline with the keys that act on the highlighted version."""

    BINDINGS = bindings(Scope.TIMELINE)

    def cursor_moved(self) -> None:
        screen = self.screen
        if isinstance(screen, MainScreen):
            screen.version_cursor_moved()

    def replay_action(self, action: str) -> bool:
        screen = self.screen
        if isinstance(screen, MainScreen):
            getattr(screen, f"action_{action}")()
            return self.app.screen is not screen
        return False


class DiffPane(DiffBody):
    """The diff pane of the main screen: the version keys work here too."""

    BINDINGS = bindings(Scope.DIFF)


#: How often the screen asks the database whether anything changed, where it cannot be told (SQLite).
POLL_SECONDS = 1.0
#: The same where the database announces changes (PostgreSQL's LISTEN): a safety net only.
WATCHED_POLL_SECONDS = 10.0


class DatabaseChanged(Message):
    """Another process (or this one) committed a change: posted from the database's listening thread."""


class MainScreen(Screen[None]):
    BINDINGS = [
        *bindings(Scope.MAIN),
        # Navigation: in the help as a row of actions.NAVIGATION.
        Binding("tab", "focus_pane(1)", "next pane", show=False),
        Binding("shift+tab", "focus_pane(-1)", "previous pane", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(id="main")
        self.agents_all: list[dict[str, Any]] = []
        self.agent_id: str | None = None
        #: The comparison base of each agent: {"id", "version_number"} of the marked version.
        self.marks: dict[str, dict[str, Any]] = {}
        self.filter_text = ""
        self._marker: int | None = None
        self._stop_watching: Callable[[], None] | None = None
        #: The change marker the agents list was read at (None: read it all).
        self._listed_at: int | None = None
        self._loaded = False
        self._preparing = 0
        #: Where a change put the cursor, (agent, version row or None, from the top), until
        #: it is shown: a reload started meanwhile (the poll) must not undo it.
        self._wanted: tuple[str | None, str | None, bool] | None = None

    #: Keys that act at once even before the first data came (the app holds the others).
    PASS_WHILE_LOADING = ("q",)

    @property
    def accepts_keys(self) -> bool:
        """False until the agents are first shown, and while a key's work decides where the next keys go."""
        if not self._loaded or self._preparing:
            return False
        try:
            return not self.timeline.action_waiting
        except Exception:
            return False

    # -- shortcuts -------------------------------------------------------------

    @property
    def service(self) -> AsyncAgentService:
        return self.app.service  # type: ignore[attr-defined]

    @property
    def now(self) -> Callable:
        return self.app.now  # type: ignore[attr-defined]

    @property
    def agents_table(self) -> AgentsTable:
        return self.query_one("#agents", AgentsTable)

    @property
    def timeline(self) -> TimelineTable:
        return self.query_one("#timeline", TimelineTable)

    @property
    def diff(self) -> DiffPane:
        return self.query_one("#diff", DiffPane)

    @property
    def status(self) -> StatusLine:
        return self.query_one("#status", StatusLine)

    def toast(self, message: str, severity: str = "information", timeout: float | None = None) -> None:
        self.app.notify(message, severity=severity, timeout=timeout or (8 if severity == "error" else 4))  # type: ignore[arg-type]

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        service = self.service
        yield TopBar(service.display_name, service.user, service.read_only, id="topbar")
        with BottomBar():
            yield UnreachableLine(id="unreachable")
            yield StatusLine(id="status")
            yield KeyBar(id="keys")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                with Vertical(id="agents-pane", classes="pane") as pane:
                    pane.border_title = "Agents"
                    yield FilterInput(placeholder="filter: name, type, status, model", id="filter")
                    yield AgentsPaneTable(id="agents")
                with Vertical(id="timeline-pane", classes="pane") as pane:
                    pane.border_title = "Timeline"
                    yield TimelineTable(self.now, id="timeline")
            with Vertical(id="diff-pane", classes="pane") as pane:
                pane.border_title = "Diff"
                yield DiffPane(id="diff")
            yield Static(id="empty", classes="empty-state")

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self.diff.split_mode = self.app.split_mode  # type: ignore[attr-defined]
        self.diff.show_message(Text_muted("Loading…"))
        self.agents_table.focus()
        self.load_agents()
        self.show_notices()

        def announce() -> None:  # from the watcher's thread: post_message is thread-safe
            self.post_message(DatabaseChanged())

        self._stop_watching = self.service.watch_changes(announce)
        interval = POLL_SECONDS if self._stop_watching is None else WATCHED_POLL_SECONDS
        self.set_interval(interval, self.poll_changes, name="poll")
        if interval > POLL_SECONDS:
            # While the database cannot be reached, ask every second whether it is back.
            self.set_interval(POLL_SECONDS, self._poll_while_unreachable, name="retry")

    def on_unmount(self) -> None:
        if self._stop_watching is not None:
            self._stop_watching()

    def on_database_changed(self, _message: DatabaseChanged) -> None:
        self.poll_changes()

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW_WIDTH
        self.set_class(narrow, "-narrow")
        self.set_class(self.size.height < (SHORT_HEIGHT_STACKED if narrow else SHORT_HEIGHT), "-short")

    def action_focus_pane(self, step: int) -> None:
        """tab / shift+tab: agents → timeline → diff, also to a pane a short window hides."""
        if not self.agents_all:
            self.app.action_focus_next() if step > 0 else self.app.action_focus_previous()
            return
        panes = [self.agents_table, self.timeline, self.diff]
        focused = self.focused
        index = 0
        for number, name in enumerate(("agents-pane", "timeline-pane", "diff-pane")):
            if focused is not None and any(node.id == name for node in focused.ancestors_with_self):
                index = number
        if focused is not None and focused.id == "filter" and step > 0:
            index = -1  # from the filter to its list
        self.set_focus(panes[(index + step) % len(panes)])

    def on_descendant_focus(self) -> None:
        """Remember which pane has focus: narrow layouts give it the room."""
        focused = self.focused
        pane = None
        for name in ("agents-pane", "timeline-pane", "diff-pane"):
            if focused is not None and any(node.id == name for node in focused.ancestors_with_self):
                pane = name
        self.set_class(pane == "timeline-pane", "-focus-timeline")
        self.set_class(pane == "diff-pane", "-focus-diff")

    @work(group="notices")
    async def show_notices(self) -> None:
        """What a person should know about this database, one warning each: the service's notices
        (an old file shown upgraded in memory...) and agents whose names clash (a file from before
        names were unique: such a name picks no agent, its id does)."""
        for notice in self.service.notices:
            self.toast(notice, "warning", timeout=12)
        try:
            clashes = await self.service.name_clashes()
        except KaizenError as error:
            self.toast(str(error), "error")
            return
        for group in clashes:
            names = ", ".join(f"'{visible(agent['name'])}' ({visible(agent['id'])})" for agent in group)
            self.toast(
                f"These agents' names differ only in case: {names}. Names are unique now: "
                "rename all but one (e on the agent); until then, pick them by id.",
                "warning",
                timeout=12,
            )

    # -- loading -----------------------------------------------------------------

    @work(exclusive=True, group="agents")
    async def load_agents(self, keep: str | None = None, keep_version: str | None = None, top: bool = False) -> None:
        try:
            marker, agents = await self._fresh_agents()
        except KaizenError as error:
            report_failure(self, error)
            self.toast(str(error), "error")
            self._loaded = True  # keys work (q, retry by the poll) even when the first read failed
            return
        self._listed_at = marker
        self._marker = marker if self._marker is None else max(self._marker, marker)
        was_empty = not self.agents_all
        self.agents_all = agents
        self._show_agents(keep or self.agent_id, keep_version=keep_version, top=top)
        self._loaded = True
        if was_empty != (not agents):
            self.refresh_bindings()
            filter_field = self.query_one("#filter", FilterInput)
            if agents and (self.focused is None or (self.focused is filter_field and not filter_field.display)):
                # The first agent (a new one, or one created anew after the last was deleted): the keys
                # go to the list, not to nowhere or to the hidden filter.
                self.agents_table.focus()

    async def _fresh_agents(self) -> tuple[int, list[dict[str, Any]]]:
        """The change marker and the agents as of it: only the changed agents are read again.

        With thousands of agents and versions made automatically, something
        changes every second; reading a few agents keeps that cheap.
        """
        if self._listed_at is not None and self.agents_all:
            marker, changed = await self.service.changed_agents(self._listed_at)
            # A marker that went back: the file was replaced; read it all.
            if changed is not None and marker >= self._listed_at:
                fresh = await self.service.list_agents(ids=changed) if changed else []
                stale = set(changed)
                kept = [agent for agent in self.agents_all if agent["id"] not in stale]
                return marker, sorted(kept + fresh, key=agent_sort_key)
        # The marker first: a change made while we list is seen by the next poll.
        marker = await self.service.change_marker()
        return marker, await self.service.list_agents()

    def _filtered(self) -> list[dict[str, Any]]:
        needle = folded(self.filter_text.strip())
        if not needle:
            return self.agents_all
        return [
            agent
            for agent in self.agents_all
            if any(
                needle in folded(str(agent.get(key) or ""))
                for key in ("name", "agent_type", "status", "model_id", "description")
            )
        ]

    def _show_agents(self, keep: str | None, *, keep_version: str | None = None, top: bool = False) -> None:
        agents = self._filtered()
        empty = not self.agents_all
        # A class, not inline styles: the layout rules for small windows also show and hide panes.
        self.set_class(empty, "-empty")
        if empty:
            self._show_empty_state()
            self.agent_id = None
            return
        table = self.agents_table
        table.set_agents(agents, keep=keep)
        title = f"Agents ({len(agents)}/{len(self.agents_all)})" if self.filter_text else f"Agents ({len(agents)})"
        self.query_one("#agents-pane").border_title = title
        if not agents:
            self.agent_id = None
            self.timeline.begin_loading()
            self.timeline.finish_loading()
            self.query_one("#timeline-pane").border_title = "Timeline"
            self.query_one("#diff-pane").border_title = "Diff"
            self.diff.show_message(Text_muted("No agent matches the filter. esc clears it."))
            self.status.show("")
            return
        selected = table.cursor_key
        if selected != self.agent_id:
            self._select_agent(selected)
        elif not self.timeline.fetching:
            timeline = self.timeline
            self.load_timeline(
                selected, keep=keep_version, start=0 if top else timeline.start, count=len(timeline.entries)
            )

    def _show_empty_state(self) -> None:
        read_only = self.service.read_only
        lines = [
            Content.styled("No agents yet", "bold $text-primary"),
            Content(""),
            Content.assemble(
                "This database (",
                (visible(self.service.display_name), "$text-accent"),
                ") holds no agents.",
            ),
            Content(""),
        ]
        if read_only:
            lines.append(Content.styled("It is open read-only, so nothing can be created here.", "$text-warning"))
        else:
            lines += [
                Content.assemble(
                    "Press ", ("n", "bold $text-accent"), " to create your first agent from a YAML template."
                ),
                Content(""),
                Content("Or from a shell:"),
                Content.assemble("  ", ('kaizen-tui create --name "Support Agent" --model gpt-4o', "bold")),
                Content.assemble("  ", ("kaizen-tui create -f agent.yaml", "bold")),
                Content.assemble(
                    "  ", ("kaizen-tui --demo", "bold"), ("   opens a demo database with six agents", "$text-muted")
                ),
                Content("It shows up here by itself."),
            ]
        lines += [
            Content(""),
            Content.assemble(
                "Press ", ("?", "bold $text-accent"), " for help, ", ("q", "bold $text-accent"), " to quit."
            ),
        ]
        self.query_one("#empty", Static).update(Content("\n").join(lines))
        self.status.show("")

    def _select_agent(self, agent_id: str | None) -> None:
        """Another agent is under the cursor: empty the timeline now, load it in a worker."""
        self.agent_id = agent_id
        if self._wanted is not None and (self._wanted[0] != agent_id or self._wanted[1] is None):
            self._wanted = None  # the person went elsewhere, or the agent wanted is shown
        if agent_id is None:
            return
        self.timeline.begin_loading()
        agent = self.agents_table.agent(agent_id)
        if agent is not None:
            self._show_agent_status(agent)
            self.query_one("#timeline-pane").border_title = Content.assemble("Timeline · ", visible(agent["name"]))
        self.diff.show_message(Text_muted("Loading…"))
        self.load_timeline(agent_id)

    def agent_cursor_moved(self) -> None:
        key = self.agents_table.cursor_key
        if key is not None and key != self.agent_id:
            self._select_agent(key)

    def version_cursor_moved(self) -> None:
        if self.timeline.agent is not None:
            self._show_timeline_title(self.timeline.agent)
        self._show_row_details()
        self.refresh_diff()

    @work(exclusive=True, group="timeline")
    async def load_timeline(self, agent_id: str, keep: str | None = None, start: int = 0, count: int = 0) -> None:
        """Read the agent and the window of its timeline from ``start`` (``count`` rows, at least a page).

        ``keep``: the row to put the cursor on; None keeps it where it is.
        """
        timeline = self.timeline
        page = timeline.PAGE_SIZE
        generation = timeline.generation
        known = timeline.agent if timeline.agent is not None and timeline.agent["id"] == agent_id else None
        try:
            agent = await self.service.get(agent_id)
            # Versions added or deleted since the window was read move it:
            # read a margin around it, so the cursor's version is still in it.
            margin = 0
            if start > 0 and known is not None:
                margin = min(abs(agent.get("version_count", 0) - known.get("version_count", 0)), page)
            offset = max(0, start - margin)
            limit = max(page, count) + (start - offset) + margin
            entries = await self.service.get_timeline(agent_id, limit=limit + 1, offset=offset)
            if not entries and offset > 0:
                # The window is past the end now (versions were deleted): show the newest.
                offset, limit = 0, page
                entries = await self.service.get_timeline(agent_id, limit=limit + 1, offset=0)
            marked = await self._checked_mark(agent_id, entries)
        except KaizenError as error:
            report_failure(self, error)
            self.diff.show_message(error_line(error))
            if agent_id == self.agent_id:
                timeline.finish_loading()
            return
        if agent_id != self.agent_id:
            return
        if timeline.generation != generation and not timeline.fetching:
            # The window moved (a page or a jump) while this was read: read that one.
            self.load_timeline(agent_id, keep=keep, start=timeline.start, count=len(timeline.entries))
            return
        more_below = len(entries) > limit
        entries = entries[:limit]
        keep = keep or timeline.cursor_key
        if len(entries) > timeline.max_rows:
            # Keep the window a few pages around the cursor's version.
            index = next((i for i, entry in enumerate(entries) if entry["id"] == keep), 0)
            first = min(max(0, index - timeline.max_rows // 2), len(entries) - timeline.max_rows)
            more_below = more_below or first + timeline.max_rows < len(entries)
            entries = entries[first : first + timeline.max_rows]
            offset += first
        changed = timeline.set_entries(agent, entries, start=offset, more_below=more_below, keep=keep, marked=marked)
        if self._wanted is not None and self._wanted[1] == keep:
            self._wanted = None  # shown
        self._show_timeline_title(agent)
        self._show_row_details()
        self.refresh_diff(only_if_changed=not changed)

    async def _checked_mark(self, agent_id: str, entries: list[dict[str, Any]]) -> str | None:
        """The id of the agent's marked version, or None (and the mark forgotten) when it is gone."""
        mark = self.marks.get(agent_id)
        if mark is None:
            return None
        if any(entry["id"] == mark["id"] for entry in entries):
            return mark["id"]
        try:
            await self.service.get_version(mark["id"])  # outside the window: does it still exist?
        except VersionNotFound:
            self.marks.pop(agent_id, None)
            return None
        return mark["id"]

    def _show_timeline_title(self, agent: dict[str, Any]) -> None:
        parts: list[Any] = ["Timeline · ", visible(agent["name"]), f" ({agent.get('version_count', 0):,})"]
        mark = self.marks.get(agent["id"])
        if mark is not None:
            parts.append((f" {GLYPH_MARK} v{mark['version_number']}", "$text-accent"))
        # Where the cursor is in a long history: "v37 · 464/500" (1 the newest).
        timeline = self.timeline
        current = timeline.current if timeline.agent is not None and timeline.agent["id"] == agent["id"] else None
        if current is not None and timeline.total > 1:
            index = next((i for i, entry in enumerate(timeline.entries) if entry["id"] == current["id"]), None)
            if index is not None:
                parts.append(
                    (
                        f" · v{current['version_number']} {timeline.start + index + 1:,}/{timeline.total:,}",
                        "$text-muted",
                    )
                )
        self.query_one("#timeline-pane").border_title = Content.assemble(*parts)

    @on(Timeline.NeedPage)
    def need_page(self, event: Timeline.NeedPage) -> None:
        if self.agent_id is not None:
            self.load_page(self.agent_id, event.where, event.offset, event.limit, event.generation)

    @work(exclusive=True, group="timeline-page")
    async def load_page(self, agent_id: str, where: str, offset: int, limit: int, generation: int) -> None:
        timeline = self.timeline
        try:
            if where == "last":
                agent = await self.service.get(agent_id)
                offset = max(0, agent.get("version_count", 0) - limit)
                # Versions added meanwhile push the oldest further down: read up to the end.
                entries = await self.service.get_timeline(agent_id, limit=2 * limit, offset=offset)
                more_below = len(entries) >= 2 * limit
            else:
                entries = await self.service.get_timeline(agent_id, limit=limit + 1, offset=offset)
                more_below = len(entries) > limit
                entries = entries[:limit]
        except KaizenError as error:
            report_failure(self, error)
            self.toast(str(error), "error")
            timeline.page_failed(generation)
            return
        if agent_id == self.agent_id:
            timeline.receive_page(generation, where, offset, entries, more_below)

    # -- cursor moves ------------------------------------------------------------

    def action_open_timeline(self) -> None:
        # Focus at once: the keys typed after enter belong to the timeline.
        self.set_focus(self.timeline)

    def _show_agent_status(self, agent: dict[str, Any]) -> None:
        parts: list[Any] = [
            (visible(agent["name"]), "bold"),
            f" · {visible(agent.get('agent_type'))} · {visible(agent.get('status'))} · {visible(agent.get('model_id'))}",
            f" · updated {exact_time(agent.get('updated_at'))}",
        ]
        if agent.get("unsaved_changes"):
            parts.append((f"  {GLYPH_UNSAVED} unsaved changes", "$text-warning"))
        self.status.show(Content.assemble(*parts))

    def _show_row_details(self) -> None:
        timeline = self.timeline
        agent = timeline.agent
        if agent is None:
            return
        if timeline.row_count == 0:
            self._show_agent_status(agent)
            return
        if timeline.on_live_row:
            self.status.show(
                Content.assemble(
                    (f"{GLYPH_UNSAVED} live config", "bold $text-warning"),
                    f" · changed {exact_time(agent.get('updated_at'))}",
                    " · not saved as a version yet: s snapshots it",
                )
            )
            return
        entry = timeline.current
        if entry is None:
            return
        parts: list[Any] = [
            (f"v{entry['version_number']}", "bold"),
            f" · {exact_time(entry.get('created_at'))} · {visible(entry.get('created_by'))}",
        ]
        if entry.get("matches_live"):
            parts.append((f"  {GLYPH_LIVE} live", "$text-success"))
        if entry["id"] == timeline.marked:
            parts.append((f"  {GLYPH_MARK} base", "$text-accent"))
        if entry.get("damaged"):
            parts.append((f"  {GLYPH_DAMAGED} damaged: {visible(entry['damaged'])}", "$text-error"))
        if entry.get("labels"):
            parts.append(("  " + " ".join(f"[{visible(label)}]" for label in entry["labels"]), "$text-secondary"))
        changelog = first_line(entry.get("changelog"))
        if changelog:
            parts.append(" · " + changelog)
        self.status.show(Content.assemble(*parts))

    def refresh_diff(self, only_if_changed: bool = False) -> None:
        timeline = self.timeline
        agent = timeline.agent
        if agent is None:
            return
        if timeline.row_count == 0:
            self.query_one("#diff-pane").border_title = "Diff"
            lines = [Text_muted("No versions yet.")]
            if not self.service.read_only:
                lines.append(
                    Content.assemble(
                        "Press ", ("s", "bold $text-accent"), " to save the live config as the first version."
                    )
                )
            self.diff.show_message(*lines)
            return
        self.load_diff(agent["id"], timeline.cursor_key, timeline.newest_id, only_if_changed)

    async def _comparison_for(self, agent_id: str, key: str | None) -> tuple[dict[str, Any], str, str | None] | None:
        """What the diff pane shows for a row: (comparison, pane title, heading)."""
        if key is None:
            return None
        if key == LIVE_KEY:
            newest = self.timeline.newest_id
            if newest is None:
                return None
            comparison = await self.service.compare_with_live(agent_id, newest)
            return comparison, "Unsaved changes", f"Unsaved changes: {comparison['from']['label']} → live config"
        return await self.service.compare_with_previous(key), "Diff", None

    @work(exclusive=True, group="diff")
    async def load_diff(self, agent_id: str, key: str | None, newest: str | None, only_if_changed: bool) -> None:
        await asyncio.sleep(0.02)  # a burst of cursor moves loads only the last one
        if key == LIVE_KEY and newest is None:
            self.query_one("#diff-pane").border_title = "Diff · live"
            self.diff.show_message(
                Text_muted("No versions yet: the live config will become the first version."),
                Content.assemble("Press ", ("s", "bold $text-accent"), " to snapshot it."),
            )
            return
        try:
            found = await self._comparison_for(agent_id, key)
        except KaizenError as error:
            report_failure(self, error)
            self.diff.show_message(error_line(error))
            return
        if found is None or self.agent_id != agent_id or self.timeline.cursor_key != key:
            return
        comparison, title, heading = found
        if only_if_changed and self.diff.comparison == comparison:
            return
        self.query_one("#diff-pane").border_title = Content.assemble(f"{title} · ", comparison_label(comparison))
        self.diff.show_comparison(comparison, heading)

    # -- watching the database -------------------------------------------------

    @property
    def unreachable(self) -> UnreachableLine:
        return self.query_one("#unreachable", UnreachableLine)

    @work(exclusive=True, group="poll")
    async def poll_changes(self) -> None:
        """Has anything changed since the screen was read? Also: is the database (still, again) reachable?"""
        try:
            marker = await self.service.change_marker()
        except DatabaseUnavailable as error:
            self.unreachable.show_unreachable(error)  # stays until a poll gets an answer
            return
        except KaizenError:
            return
        if self.unreachable.showing:
            self.unreachable.clear()
            self.toast(f"{visible(self.service.display_name)} can be reached again.")
        if self._marker is None:
            # The first load has not finished, or it failed (the database was
            # busy): try again unless it is still running.
            if not any(worker.group == "agents" and worker.is_running for worker in self.workers):
                self.load_agents()
            return
        if marker != self._marker:
            self._marker = marker
            self.reload()
            self._tell_screens_above()

    def _tell_screens_above(self) -> None:
        """Dialogs open over this screen that show what the database says (a prune's preview) read it again."""
        for screen in self.app.screen_stack:
            changed = getattr(screen, "database_changed", None)
            if screen is not self and callable(changed):
                changed()

    def _poll_while_unreachable(self) -> None:
        """Every second while the line says the database cannot be reached (one poll at a time)."""
        if self.unreachable.showing and not any(
            worker.group == "poll" and worker.is_running for worker in self.workers
        ):
            self.poll_changes()

    def reload(self, keep_agent: str | None = None, keep_version: str | None = None, top: bool = False) -> None:
        """Reload everything, keeping the cursors where they were (``top``: the timeline from its newest version).

        ``keep_agent`` and ``keep_version`` (a change's own rows: a new agent,
        the live row after an edit, the version rolled back to) hold until
        they are shown: a reload without them (the poll, or PostgreSQL's
        announcement of the same change) would cancel this one and leave the
        cursor, and the diff, where they were before.
        """
        if keep_version is None and self._wanted is not None and keep_agent in (None, self._wanted[0]):
            keep_agent, keep_version, top = self._wanted[0], self._wanted[1], self._wanted[2] or top
        elif keep_version is not None or keep_agent is not None:
            self._wanted = (keep_agent, keep_version, top)
        self.load_agents(keep=keep_agent or self.agent_id, keep_version=keep_version, top=top)

    # -- focus and keys ----------------------------------------------------------

    #: Keys that need an agent: hidden from the key bar while there is none.
    AGENT_ACTIONS = {"snapshot", "edit", "prune", "filter", "toggle_split", "delete_agent", "audit_log", "label_ledger"}

    #: Keys that change something: out of the key bar when the database is read-only
    #: (still bound: pressed, they say why they do nothing).
    CHANGE_ACTIONS = frozenset(
        {"snapshot", "edit", "new_agent", "prune", "delete_agent", "rollback", "delete_version", "label"}
    )

    def hidden_in_key_bar(self, action: str) -> bool:
        return bool(self.service.read_only) and action in self.CHANGE_ACTIONS

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return bool(self.filter_text) or self.query_one("#filter").display
        return action not in self.AGENT_ACTIONS or bool(self.agents_all)

    def _need_agent(self) -> dict[str, Any] | None:
        """The agent under the agents cursor (what the person sees picked)."""
        agent = self.agents_table.agent(self.agents_table.cursor_key)
        if agent is None:
            self.toast("Pick an agent first.", "warning")
        return agent

    def _need_version(self, what: str) -> dict[str, Any] | None:
        timeline = self.timeline
        if timeline.agent is None or timeline.row_count == 0:
            self.toast(f"No version to {what}: this agent has none yet (s saves one).", "warning")
            return None
        if timeline.on_live_row:
            self.toast(f"That row is the live config, not a version: pick a version to {what}.", "warning")
            return None
        return timeline.current

    def _writable(self, what: str) -> bool:
        if not self.service.read_only:
            return True
        self.toast(f"Cannot {what}: {self.service.read_only_reason}. Browsing only.", "warning")
        return False

    def action_toggle_split(self) -> None:
        self.app.action_toggle_split()  # type: ignore[attr-defined]

    def action_filter(self) -> None:
        field = self.query_one("#filter", FilterInput)
        field.display = True
        field.focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", FilterInput)
        had = bool(self.filter_text)
        field.value = ""
        field.display = False
        self.filter_text = ""
        self.agents_table.focus()
        if had:
            self._show_agents(self.agent_id)

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._show_agents(None)

    @on(Input.Submitted, "#filter")
    def filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.display = False
        self.agents_table.focus()

    # Keys act on what the cursor is on when they are pressed: each action
    # takes its target at once, then does its database work in a worker. While
    # the timeline of a newly picked agent loads, version keys wait in line
    # behind the cursor moves typed before them.

    def _deferred(self, action: str) -> bool:
        if self.timeline.busy:
            self.timeline.defer(action)
            return True
        return False

    def action_toggle_mark(self) -> None:
        if self._deferred("toggle_mark"):
            return
        entry = self._need_version("mark")
        agent = self.timeline.agent
        if entry is None or agent is None:
            return
        mark = self.marks.get(agent["id"])
        if mark is not None and mark["id"] == entry["id"]:
            self.marks.pop(agent["id"])
            self.timeline.set_marked(None)
        else:
            self.marks[agent["id"]] = {"id": entry["id"], "version_number": entry["version_number"]}
            self.timeline.set_marked(entry["id"])
        self._show_timeline_title(agent)
        self._show_row_details()

    def action_open_diff(self) -> None:
        if self._deferred("open_diff"):
            return
        timeline = self.timeline
        agent, key = timeline.agent, timeline.cursor_key
        if agent is None or not timeline.row_count or key is None:
            return
        if key == LIVE_KEY and timeline.newest_id is None:
            self.toast("No versions yet: the live config will become the first version (s).", "warning")
            return

        async def load() -> tuple[dict[str, Any], str, str | None]:
            found = await self._comparison_for(agent["id"], key)
            assert found is not None
            comparison, _title, heading = found
            return comparison, f"{visible(agent['name'])} · {comparison_label(comparison)}", heading

        # The screen opens at once and reads the diff itself: keys typed next reach it.
        self.app.push_screen(
            CompareScreen(title=visible(agent["name"]), load=load, agent=agent), self._compare_closed(agent)
        )

    def action_compare(self) -> None:
        if self._deferred("compare"):
            return
        timeline = self.timeline
        agent = timeline.agent
        if agent is None or timeline.row_count == 0 or not timeline.entries:
            self.toast("Nothing to compare: this agent has no versions yet.", "warning")
            return
        mark = self.marks.get(agent["id"])
        marked = mark["id"] if mark is not None else None
        current = timeline.current
        if marked is not None and current is not None and marked == current["id"]:
            self.toast("The marked version is the highlighted one: move to another version, then c.", "warning")
            return
        current_id = current["id"] if current else None
        newest = timeline.newest_id
        assert newest is not None  # the timeline has entries (checked above)

        async def load() -> tuple[dict[str, Any], str, str | None]:
            if marked is not None and current_id is not None:
                comparison = await self.service.compare_versions(marked, current_id)
            elif marked is not None:  # the live row is highlighted
                comparison = await self.service.compare_with_live(agent["id"], marked)
            else:
                comparison = await self.service.compare_with_live(agent["id"], current_id or newest)
            return comparison, f"Compare · {visible(agent['name'])} · {comparison_label(comparison)}", None

        screen = CompareScreen(title=f"Compare · {visible(agent['name'])}", load=load, agent=agent)
        self.app.push_screen(screen, self._compare_closed(agent))

    # -- copying (to the terminal's clipboard: over SSH too) ----------------------

    def action_copy_config(self) -> None:
        if self._deferred("copy_config"):
            return
        timeline = self.timeline
        agent = timeline.agent
        if agent is None or timeline.row_count == 0:
            self.toast("Nothing to copy: this agent has no versions yet.", "warning")
            return
        self._copy_config(agent, timeline.current)  # None on the live row: the live config

    @work(group="copy")
    async def _copy_config(self, agent: dict[str, Any], version: dict[str, Any] | None) -> None:
        what = f"v{version['version_number']}" if version is not None else "the live config"
        try:
            answer = await self.service.resolve_config(agent["id"], version=version["id"] if version else None)
        except KaizenError as error:
            self.toast(f"Nothing copied: {error}", "error")
            return
        text = config_yaml(agent["name"], answer["config"], version)
        copy_shown(self.app, text, f"{what} of {visible(agent['name'])} as YAML")

    def action_copy_diff(self) -> None:
        if any(worker.group == "diff" and not worker.is_finished for worker in self.workers):
            self._copy_diff_once_shown()  # the diff of the row the cursor just moved to is on its way
            return
        comparison = self.diff.comparison
        agent = self.timeline.agent
        if comparison is None or agent is None:
            self.toast("No diff shown to copy.", "warning")
            return
        text = comparison_text(comparison, self.diff.heading, agent["name"])
        copy_shown(self.app, text, f"the diff {comparison_label(comparison)} of {visible(agent['name'])}")

    @work(group="copy")
    async def _copy_diff_once_shown(self) -> None:
        while loading := [worker for worker in self.workers if worker.group == "diff" and not worker.is_finished]:
            try:
                await loading[-1].wait()
            except (WorkerCancelled, WorkerFailed):
                pass  # replaced by the load of the next row: wait for that one
        self.action_copy_diff()

    def _compare_closed(self, agent: dict[str, Any]) -> Callable[[dict[str, Any] | None], None]:
        """What to do when the compare view closes: the cursor on a version compared, or the one rolled back to."""

        def closed(result: dict[str, Any] | None) -> None:
            if result is None:
                return
            rolled_back = result.get("rolled_back")
            if rolled_back is not None:
                message = f"Rolled back {visible(rolled_back['name'])} to v{result['version_number']}"
                if rolled_back.get("saved_as_version") is not None:
                    message += f" (unsaved changes saved as v{rolled_back['saved_as_version']} first)"
                self.toast(message)
                self.reload(keep_agent=agent["id"], keep_version=result["version_id"])
                return
            if self.timeline.agent is not None and self.timeline.agent["id"] != agent["id"]:
                return
            if self.timeline.cursor_key not in result.get("compared", ()):
                self.reload(keep_agent=agent["id"], keep_version=result["version_id"])

        return closed

    # -- mutations -----------------------------------------------------------------

    # Dialogs open at once (the keys typed next reach them); the database
    # work starts when they close.

    def action_snapshot(self) -> None:
        agent = self._need_agent()
        if agent is None or not self._writable("snapshot"):
            return

        def done(version: dict[str, Any] | None) -> None:
            # The dialog saved what it showed (conflicts and failures kept it open).
            if version is not None:
                self.toast(f"Saved v{version['version_number']} of {visible(agent['name'])}")
                self.reload(keep_agent=agent["id"], keep_version=version["id"], top=True)

        self.app.push_screen(SnapshotModal(self.service, agent), done)

    def action_rollback(self) -> None:
        if self._deferred("rollback"):
            return
        entry = self._need_version("roll back to")
        agent = self.timeline.agent
        if entry is None or agent is None or not self._writable("roll back"):
            return
        if entry.get("damaged"):
            self.toast(
                f"Cannot roll back to v{entry['version_number']}: its snapshot is damaged "
                f"({visible(entry['damaged'])}). Pick another version.",
                "error",
            )
            return
        if entry.get("matches_live"):
            # A rollback would change nothing (and with unsaved changes it
            # would only save a copy of this very version first).
            self.toast(
                f"{visible(agent['name'])} already has the config of v{entry['version_number']}: nothing to roll back."
            )
            return

        def done(result: dict[str, Any] | None) -> None:
            # The dialog rolled back (by the plan it showed last); failures were toasts.
            if result is None:
                return
            message = f"Rolled back {visible(result['name'])} to v{entry['version_number']}"
            if result.get("saved_as_version") is not None:
                message += f" (unsaved changes saved as v{result['saved_as_version']} first)"
            self.toast(message)
            self.reload(keep_agent=agent["id"], keep_version=entry["id"])

        self.app.push_screen(RollbackModal(self.service, agent, entry), done)

    def action_delete_version(self) -> None:
        if self._deferred("delete_version"):
            return
        entry = self._need_version("delete")
        agent = self.timeline.agent
        if entry is None or agent is None or not self._writable("delete a version"):
            return
        label = f"v{entry['version_number']}"
        name = visible(agent["name"])
        if entry.get("labels"):
            # The service refuses it too: a label names it, and whoever loads that label would get nothing.
            names = ", ".join(visible(label) for label in entry["labels"])
            several = len(entry["labels"]) > 1
            self.toast(
                f"Cannot delete {label} of {name}: {'the labels' if several else 'the label'} {names} "
                f"{'name' if several else 'names'} it. Move or remove {'them' if several else 'it'} first (t).",
                "warning",
            )
            return
        lines = [
            Content.assemble("Delete ", (label, "bold"), " of ", (name, "bold"), "?"),
            Content.assemble(
                (f"{exact_time(entry.get('created_at'))} · {visible(entry.get('created_by'))} · ", "$text-muted"),
                first_line(entry.get("changelog"), 70) or "(no changelog)",
            ),
            Content.styled(
                "The live config is not changed. Version numbers are never reused. This cannot be undone.",
                "$text-warning",
            ),
        ]
        if entry.get("matches_live") and self.timeline.newest_id == entry["id"]:
            lines.append(Content.styled("It is the newest version and equals the live config.", "$text-muted"))

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._delete_version(agent, entry)

        self.app.push_screen(YesNoModal(f"Delete {label}?", lines, confirm_label="Delete"), done)

    @work(group=ACTIONS)
    async def _delete_version(self, agent: dict[str, Any], entry: dict[str, Any]) -> None:
        label = f"v{entry['version_number']}"
        try:
            await self.service.delete_version(entry["id"])
        except KaizenError as error:
            self.toast(str(error), "error")
            return
        if (self.marks.get(agent["id"]) or {}).get("id") == entry["id"]:
            self.marks.pop(agent["id"])
        self.toast(f"Deleted {label} of {visible(agent['name'])}")
        self.reload(keep_agent=agent["id"])

    def action_prune(self) -> None:
        agent = self._need_agent()
        if agent is None or not self._writable("prune"):
            return
        if agent.get("version_count", 0) <= 1:
            self.toast(f"Nothing to prune: {visible(agent['name'])} has {agent.get('version_count', 0)} version(s).")
            return

        def done(result: dict[str, Any] | None) -> None:
            # The dialog pruned (by the plan it showed last); failures were toasts.
            if result is None:
                return
            deleted, kept = result["deleted"], result["kept"]
            plural = "s" if deleted != 1 else ""
            archived = f"; archived to {visible(result['archive']['file'])}" if result.get("archive") else ""
            labelled = result.get("kept_labelled") or []
            if labelled:
                names = ", ".join(
                    f"v{version['version_number']} ({', '.join(visible(name) for name in version['labels'])})"
                    for version in labelled
                )
                archived = f" and {names} for {'their labels' if len(labelled) > 1 else 'its label'}{archived}"
            self.toast(
                f"Pruned {deleted} version{plural} of {visible(agent['name'])}; kept the {kept} newest{archived}"
            )
            self.reload(keep_agent=agent["id"], keep_version=self.timeline.cursor_key)

        self.app.push_screen(PruneModal(self.service, agent), done)

    def action_audit_log(self) -> None:
        """Who did what to the agent under the agents cursor, when: its audit log, newest first."""
        agent = self._need_agent()
        if agent is not None:
            self.app.push_screen(AuditScreen(self.service, agent))

    def action_label_ledger(self) -> None:
        """The label ledger of the agent under the agents cursor: who moved which label, when and why."""
        agent = self._need_agent()
        if agent is not None:
            self.app.push_screen(LedgerScreen(self.service, agent))

    def action_label(self) -> None:
        """Set, move or remove a label, the highlighted version the target: a dialog with the preview."""
        if self._deferred("label"):
            return
        entry = self._need_version("label")
        agent = self.timeline.agent
        if entry is None or agent is None or not self._writable("label a version"):
            return

        def done(result: dict[str, Any] | None) -> None:
            # The dialog did it (by the preview it showed last); failures were toasts.
            if result is None:
                return
            self.toast(label_toast(agent["name"], result))
            self.reload(keep_agent=agent["id"], keep_version=entry["id"])

        self.app.push_screen(LabelModal(self.service, agent, entry), done)

    def action_delete_agent(self) -> None:
        """Delete the agent under the agents cursor: archive it first (one dialog), then delete it (another)."""
        agent = self._need_agent()
        if agent is None or not self._writable("delete an agent"):
            return

        def done(result: dict[str, Any] | None) -> None:
            if result is None:
                return
            if "archived" in result:
                name = visible(result["archived"]["name"])
                self.toast(f"Archived {name}; D again deletes it")
                self.reload(keep_agent=agent["id"])
                return
            deleted = result["deleted"]
            count = deleted["versions_deleted"]
            self.marks.pop(deleted["agent_id"], None)
            self.toast(f"Deleted agent {visible(deleted['name'])} and its {count:,} version{'s' if count != 1 else ''}")
            self.reload()

        self.app.push_screen(DeleteAgentModal(self.service, agent), done)

    def _preparation(self) -> Callable[[], None]:
        """Hold the keys typed next until the returned callable is called (once is enough).

        For a key whose work decides where the next keys go: ``e`` reads the
        agent, then opens the editor; what is typed meanwhile belongs to it.
        """
        self._preparing += 1
        done = False

        def finished() -> None:
            nonlocal done
            if not done:
                done = True
                self._preparing -= 1

        return finished

    def action_edit(self) -> None:
        agent = self._need_agent()
        if agent is not None and self._writable("edit"):
            self._edit_agent(agent["id"], self._preparation())

    @work(group=ACTIONS)
    async def _edit_agent(self, agent_id: str, ready: Callable[[], None]) -> None:
        try:
            try:
                agent = await self.service.get(agent_id)
            except KaizenError as error:
                report_failure(self, error)
                self.toast(str(error), "error")
                return

            def saved(updated: dict[str, Any], message: str) -> None:
                self.toast(message)
                self._show_edited(updated)

            edit = AgentEdit(self.app, self.service, agent, saved)
            await self._edit(f"Edit {edit.name}", edit.text, edit.submit, ready)
        finally:
            ready()

    def _show_edited(self, agent: dict[str, Any]) -> None:
        """After an edit: the cursor on the live row when no version holds the edit, and the diff read again."""
        unsaved = bool(agent.get("unsaved_changes"))
        self.reload(keep_agent=agent["id"], keep_version=LIVE_KEY if unsaved else None, top=unsaved)

    def action_new_agent(self) -> None:
        if self._writable("create an agent"):
            self._new_agent(self._preparation())

    @work(group=ACTIONS)
    async def _new_agent(self, ready: Callable[[], None]) -> None:
        async def submit(text: str) -> str | None:
            if meaningful(text) == meaningful(NEW_AGENT_TEMPLATE):
                return "The template is unchanged: give the agent a name and a model, or cancel."
            try:
                data = parse_agent_text(strip_error(text), "Your YAML")
                agent = await self.service.create_agent(data)
            except KaizenError as error:
                report_failure(self, error)
                return str(error)  # the text is kept, with the reason
            self.toast(f"Created agent {visible(agent['name'])}; s saves its first version")
            self.filter_text = ""
            self.reload(keep_agent=agent["id"])
            return None

        try:
            await self._edit("New agent", NEW_AGENT_TEMPLATE, submit, ready)
        finally:
            ready()

    def _repaint_after_editor(self) -> None:
        """The editor drew over the terminal: draw every pane again from scratch."""
        self.agents_table.redraw()
        self.timeline.redraw()
        self.app.refresh(repaint=True, layout=True)

    async def _edit(
        self, title: str, text: str, submit: Callable[[str], Awaitable[str | None]], ready: Callable[[], None]
    ) -> None:
        """Edit ``text`` in $VISUAL/$EDITOR (or in the app) until ``submit`` accepts it or the user gives up.

        ``ready`` is called once the editor has the keyboard.
        """
        command = editor_command()
        if command is None:
            closed = self.app.push_screen(EditorModal(title, text, submit), wait_for_dismiss=True)
            ready()  # the dialog is on top: the keys typed meanwhile go to it
            await closed
            return
        # The editor takes the terminal: keys typed for it before it started are not for the app.
        self.app.discard_held_keys()  # type: ignore[attr-defined]
        ready()
        original = text
        error: str | None = None
        while True:
            try:
                edited = run_external_editor(self.app, command, text if error is None else with_error(text, error))
            except EditorFailed as failure:
                self.toast(str(failure), "error")
                return
            finally:
                self._repaint_after_editor()
            edited = strip_error(edited)
            if not meaningful(edited):
                self.toast("Nothing changed: the file was empty.")
                return
            if meaningful(edited) == meaningful(original) and title != "New agent":
                self.toast("Nothing changed.")
                return
            if meaningful(edited) == meaningful(original):
                self.toast("Nothing created: the template was not changed.")
                return
            error = await submit(edited)
            if error is None:
                return
            text = edited
            again = await self.app.push_screen_wait(EditAgainModal(error))
            if not again:
                self.toast("Discarded the edit; nothing was changed.")
                return


def folded(text: str) -> str:
    """``text`` as the filter compares it: case and accents folded (``Résumé`` → ``resume``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def Text_muted(text: str) -> Content:
    return Content.styled(text, "$text-muted")
