"""Dialogs that show a plan of the service and carry it out: rollback, deleting an agent, prune.

Each opens at once (the keys typed next reach it), reads the plan in a
worker and shows what will change, with Cancel focused: ``enter`` never
destroys anything; ``y`` confirms, ``n`` or ``esc`` cancels. Confirmed, the
dialog carries the plan out itself, with the plan's revision or token: when
the data changed while the dialog was open, nothing is done and the dialog
shows the fresh plan, with one line saying so.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import replace
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Button, Input, Label, Static

from kaizen_tui.core.errors import ArchiveExists, Conflict, FileNotWritten, KaizenError, StalePlan
from kaizen_tui.service import AsyncAgentService
from kaizen_tui.tui.screens.dialog import SCROLL_BINDINGS, Dialog
from kaizen_tui.tui.screens.modals import ConfirmModal
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.connection import report_failure
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.text import error_line, exact_time, first_line, visible

#: How many doomed versions the prune dialog lists (they scroll) before summarising the rest.
PRUNE_LIST_LIMIT = 1000
#: Up to this many rows of window the prune dialog takes the whole height, without blank lines or key bar.
PRUNE_SHORT_HEIGHT = 32
#: The summary (and its warnings) stays in view above the list while at least this many rows of the list show.
PRUNE_LIST_MIN_ROWS = 3


def changed_meanwhile(error: Conflict, what: str) -> Content:
    """One line: who changed which fields while a dialog was open, and that nothing was done.

    From the conflict's audited changes (``{"actor", "at", "action", "fields"}``);
    its message when it has none.
    """
    actors: list[str] = []
    fields: list[str] = []
    for change in error.changes:
        actors.append(visible(change.get("actor")))
        fields += [visible(field) for field in change.get("fields") or []]
    actors, fields = list(dict.fromkeys(actors)), list(dict.fromkeys(fields))  # each once, in order
    if not actors:
        return Content.assemble(("⚠ ", "bold $text-warning"), (visible(str(error)), "$text-warning"))
    return Content.assemble(
        ("⚠ Changed meanwhile ", "bold $text-warning"),
        (f"by {', '.join(actors)}" + (f" ({', '.join(fields)})" if fields else ""), "$text-warning"),
        f": nothing was {what}. Fresh preview below.",
    )


class PlanModal(ConfirmModal[dict[str, Any] | None]):
    """A dialog that shows a plan read from the service and, on ``y``, carries it out itself.

    It opens at once (the keys typed next reach it) and reads the plan in a
    worker. The plan carries the agent's revision; when the agent changed
    while the dialog was open the service refuses (:class:`Conflict`) and
    nothing is done: the dialog stays, says who changed what in one line and
    shows the fresh plan, which ``y`` then confirms. Dismissed with what the
    service returned, or None (cancelled, or failed: the error is a toast).

    A ``y`` typed before the first plan came confirms it once shown, unless
    it refuses; after a conflict only a ``y`` pressed on the fresh plan does.
    """

    #: Said in the "changed meanwhile" line: "nothing was <done>".
    NOT_DONE = "changed"

    def __init__(
        self, service: AsyncAgentService, title: str, lines: list[Content], *, confirm_label: str, **options: Any
    ) -> None:
        super().__init__(title, lines, confirm_label=confirm_label, **options)
        self.service = service
        self.plan: dict[str, Any] | None = None
        #: The "changed meanwhile" line shown over a fresh plan.
        self.stale_note: Content | None = None
        self._confirm_when_planned = False
        self._working = False

    def compose_extra(self) -> ComposeResult:
        yield Static(id="plan-note")

    def on_mount(self) -> None:
        # ConfirmModal.on_mount focuses Cancel.
        self.query_one("#plan-note", Static).update(Content.styled("Reading what will change…", "$text-muted"))
        self.load()

    @work(exclusive=True, group="plan")
    async def load(self) -> None:
        """Read the plan and show it."""
        self.plan = None
        try:
            plan = await self.read_plan()
        except KaizenError as error:
            self._confirm_when_planned = False
            self.query_one("#plan-note", Static).update(error_line(error))
            return
        self.plan = plan
        notes = [self.stale_note] if self.stale_note is not None else []
        self.query_one("#plan-note", Static).update(Content("\n").join(notes + self.plan_lines(plan)))
        self.show_plan(plan)
        if self._confirm_when_planned:
            self._confirm_when_planned = False
            self.call_later(self.action_confirm)

    @abstractmethod
    async def read_plan(self) -> dict[str, Any]:
        """Ask the service for the plan (the rollback's, the deletion's...)."""

    @abstractmethod
    def plan_lines(self, plan: dict[str, Any]) -> list[Content]:
        """The lines that say what the plan will do (under the dialog's own lines)."""

    def show_plan(self, plan: dict[str, Any]) -> None:
        """Anything else to update for a plan (a diff, a button's label)."""

    def refusal(self, plan: dict[str, Any]) -> str | None:
        """Why ``y`` does nothing for this plan (None: it can be carried out)."""
        refused = plan.get("refused")
        return str(refused["message"]) if refused else None

    @abstractmethod
    async def carry_out(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Ask the service to do what the plan says, with the plan's token (its revision)."""

    def action_cancel(self) -> None:
        if not self._working:  # being written: its result is shown when it is done
            self.dismiss(None)

    def action_confirm(self) -> None:
        if self._working:
            return
        plan = self.plan
        if plan is None:
            # Still being read: confirm it when it is shown (the first time only).
            self._confirm_when_planned = self.stale_note is None
            return
        refusal = self.refusal(plan)
        if refusal is not None:
            self.notify(refusal, severity="warning")
            return
        self._working = True
        self._carry_out(plan)

    @work(exclusive=True, group="carry-out")
    async def _carry_out(self, plan: dict[str, Any]) -> None:
        try:
            result = await self.carry_out(plan)
        except Conflict as error:
            self._working = False
            self.stale_note = changed_meanwhile(error, self.NOT_DONE)
            self.load()
            return
        except KaizenError as error:
            self._working = False
            report_failure(self, error)
            self.app.notify(str(error), severity="error", timeout=8)
            self.dismiss(None)
            return
        self.dismiss(result)


class RollbackModal(PlanModal):
    """Roll back to a version: shows :meth:`plan_rollback` (what changes, what is saved first).

    Carried out with the plan's revision; dismissed with
    ``rollback_to_version``'s result (the agent, ``saved_as_version``).
    """

    NOT_DONE = "rolled back"

    def __init__(self, service: AsyncAgentService, agent: dict[str, Any], version: dict[str, Any]) -> None:
        self.agent = agent
        self.version = version
        label = f"v{version['version_number']}"
        name = visible(agent["name"])
        super().__init__(
            service,
            f"Roll back to {label}?",
            [Content.assemble("Make the live config of ", (name, "bold"), " equal ", (label, "bold"), ".")],
            confirm_label="Roll back",
            comparison_heading=f"What changes: live config → {label}",
        )

    def on_mount(self) -> None:
        # PlanModal.on_mount runs after this one (Textual calls each class's handler): not super().
        self.query_one(DiffBody).show_message(Content.styled("Reading what will change…", "$text-muted"))

    async def read_plan(self) -> dict[str, Any]:
        return await self.service.plan_rollback(self.agent["id"], self.version["id"])

    def plan_lines(self, plan: dict[str, Any]) -> list[Content]:
        label = f"v{plan['version']['version_number']}"
        if plan["refused"]:
            return [error_line(f"Cannot roll back: {plan['refused']['message']}")]
        if plan["identical"]:
            return [Content.styled(f"The live config already equals {label}: nothing will change.", "$text-success")]
        if plan["auto_save"]:
            return [
                Content.assemble(
                    ("● The live config has unsaved changes: ", "$text-warning"),
                    "they are saved first as a new version ",
                    (f'"{visible(plan["auto_save_changelog"])}"', "bold"),
                    ", so nothing is lost.",
                )
            ]
        return [Content.styled("The live config is saved as a version already: nothing is lost.", "$text-muted")]

    def show_plan(self, plan: dict[str, Any]) -> None:
        body = self.query_one(DiffBody)
        dialog = self.query_one(".dialog")
        # Nothing to change (or nothing readable): the note says it; an empty
        # diff box would fill the screen.
        shown = not plan["identical"] and not plan["refused"]
        body.display = shown
        dialog.set_class(shown, "-diff")
        if shown:
            body.show_comparison(plan["comparison"], self.comparison_heading)
        self.call_after_refresh(self._limit_body)

    async def carry_out(self, plan: dict[str, Any]) -> dict[str, Any]:
        return await self.service.rollback_to_version(
            self.agent["id"], plan["version"]["id"], expected_revision=plan["revision"]
        )


class DeleteAgentModal(PlanModal):
    """Delete an agent, in two deliberate steps: archive it, then delete it.

    Reads :meth:`plan_delete_agent`. While the agent is not archived the
    deletion is refused, and ``y`` archives it instead (dismissed with
    ``{"archived": agent}``); once it is archived, the dialog shows what goes
    (name, id, how many versions) and ``y`` deletes it (dismissed with
    ``{"deleted": delete_agent's result}``). Both carry the revision read.
    """

    def __init__(self, service: AsyncAgentService, agent: dict[str, Any]) -> None:
        self.agent = agent
        archived = agent.get("status") == "archived"
        super().__init__(
            service,
            f"Delete {visible(agent['name'])}?" if archived else f"Archive {visible(agent['name'])}?",
            [],
            confirm_label="Delete" if archived else "Archive",
        )

    async def read_plan(self) -> dict[str, Any]:
        return await self.service.plan_delete_agent(self.agent["id"])

    def refusal(self, plan: dict[str, Any]) -> str | None:
        return None  # refused deletion: y archives

    def plan_lines(self, plan: dict[str, Any]) -> list[Content]:
        agent = plan["agent"]
        name = visible(agent["name"])
        count = plan["version_count"]
        versions = f"{count:,} version{'s' if count != 1 else ''}"
        if plan["refused"]:
            return [
                Content.assemble(
                    (name, "bold"),
                    f" is {visible(agent['status'])}: only an archived agent can be deleted.",
                ),
                Content.assemble(
                    "Archive it first? Its live config and its ",
                    versions,
                    " stay as they are; once archived, ",
                    ("D", "bold"),
                    " again deletes it.",
                ),
            ]
        return [
            Content.assemble("Delete the agent ", (name, "bold"), " and all its versions?"),
            Content.assemble(("  id        ", "$text-muted"), visible(agent["id"])),
            Content.assemble(("  versions  ", "$text-muted"), versions),
            Content.assemble(("  status    ", "$text-muted"), visible(agent["status"])),
            Content.styled("This cannot be undone.", "bold $text-error"),
        ]

    def show_plan(self, plan: dict[str, Any]) -> None:
        archive = plan["refused"] is not None
        name = visible(plan["agent"]["name"])
        self.query_one(".dialog").border_title = Content(f"Archive {name}?" if archive else f"Delete {name}?")
        confirm = self.query_one("#confirm", Button)
        confirm.label = "Archive  y" if archive else "Delete  y"
        confirm.variant = "primary" if archive else "error"  # archiving loses nothing
        self.call_after_refresh(self._limit_body)

    async def carry_out(self, plan: dict[str, Any]) -> dict[str, Any]:
        agent_id, revision = plan["agent"]["id"], plan["agent"]["revision"]
        if plan["refused"] is not None:
            agent = await self.service.update(agent_id, {"status": "archived"}, expected_revision=revision)
            return {"archived": agent}
        return {"deleted": await self.service.delete_agent(agent_id, expected_revision=revision)}


class KeepInput(Input):
    """The number of versions to keep: digits only, so ``y``/``n``, ``j``/``k`` stay keys of the dialog."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character.isdigit()


class ArchiveInput(Input):
    """The file the versions that go are archived to: any text, so while it has focus letters type."""

    async def action_submit(self) -> None:
        # enter: the name is typed; on to the buttons (Cancel), where y prunes and n cancels. At
        # once, not through a Submitted message: a y typed right after is for the buttons.
        self.screen.set_focus(self.screen.query_one("#cancel", Button))


#: The prune dialog's letter keys: while the archive path is typed, they are letters of the path.
LETTER_ACTIONS = frozenset({"confirm", "no", "move_focus", "scroll_body"})


def _what_is_shown(plan: dict[str, Any]) -> tuple[Any, ...]:
    """What the prune dialog shows of a plan: what goes first (what ``y`` does), then what else it says."""
    return (
        ([version["id"] for version in plan["delete"]], plan["live_loses_version"]),
        [(version["version_number"], version["labels"]) for version in plan.get("kept_labelled") or []],
        plan["agent"].get("version_count"),
    )


def plan_changes_line(changes: list[dict[str, Any]], then: str) -> Content:
    """One line: what changed meanwhile, as the service words it (``set production → v2 by carol``), then ``then``."""
    shown = changes[-3:]
    said = [f"{visible(change.get('summary'))} by {visible(change.get('actor'))}" for change in shown]
    if len(changes) > len(shown):
        said.insert(0, f"{len(changes) - len(shown)} earlier changes")
    return Content.assemble(
        ("⚠ Changed meanwhile", "bold $text-warning"),
        (f": {'; '.join(said)}" if said else "", "$text-warning"),
        f". {then}",
    )


class PruneModal(Dialog[dict[str, Any] | None]):
    """How many of the newest versions to keep; shows :meth:`plan_prune` for that number.

    The field opens empty and focused: nothing is deleted on a number the
    person did not type (``y`` on an empty field only says to type one).
    ``enter`` in the field shows the preview of the number typed and keeps
    the dialog open; ``y`` then confirms.
    ``y`` prunes by the plan shown (its ``plan_id``): if what it deletes
    changed meanwhile (versions saved or deleted, labels set, moved or
    removed), the service refuses (:class:`StalePlan`), nothing is deleted,
    and the dialog stays with the fresh plan and a line saying what changed
    and who changed it; ``y`` then prunes by that one. A ``y`` pressed
    before the plan of the number typed came waits for it. The preview is
    read again whenever the database changes (:meth:`database_changed`):
    when it says something else, it is shown with the same line.

    What the person confirms is in view: the fields, then the summary with
    its warnings (the versions kept for their labels, the version equal to
    the live config that goes), stay at the top; the versions that go are
    listed below them and scroll (``j``/``k``, page keys). Only when the
    window is too small for that does everything scroll together.

    The second field, empty by default, names a file to archive the versions
    to before they are deleted (``prune(archive=...)``). While it has focus
    the letter keys type (``enter`` or ``tab`` leave it); a file that exists
    already, or a folder that does not, keeps the dialog open with the
    reason, and nothing is deleted.
    Dismissed with ``prune``'s result (``deleted``, ``kept``, ``archive``...), or None.
    """

    DEFAULT_CSS = """
    PruneModal #prune-doomed {
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    BINDINGS = [
        Binding("y", "confirm", "prune", priority=True),
        Binding("n", "no", "cancel", priority=True),
        Binding("escape", "cancel", "cancel", show=False),
        *[Binding(str(digit), f"digit({digit})", show=False) for digit in range(10)],
        Binding("backspace", "backspace", show=False),
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
        # Letters: taken before the field (which opens focused) would swallow them.
        Binding("h", "move_focus(-1)", show=False, priority=True),
        Binding("l", "move_focus(1)", show=False, priority=True),
        # The key bar says j/k scroll the list (while it does not all fit).
        *[
            replace(binding, priority=True, show=True, key_display="j/k")
            if binding.key.startswith("j")
            else replace(binding, priority=True)
            for binding in SCROLL_BINDINGS
        ],
    ]

    def __init__(self, service: AsyncAgentService, agent: dict[str, Any]) -> None:
        super().__init__()
        self.service = service
        self.agent = agent
        #: The number typed (0: none yet).
        self.keep = 0
        #: The plan shown (None while the plan of ``keep`` is read, or when it failed).
        self.plan: dict[str, Any] | None = None
        #: The "changed meanwhile" line shown over a fresh plan.
        self.stale_note: Content | None = None
        #: Why the archive file typed could not be written (the prune deleted nothing).
        self.archive_error: Content | None = None
        self._confirm_when_previewed = False
        self._working = False
        #: Does some of the text not fit (j/k then scroll)? Set as the height is shared out.
        self._scrolls = False

    @property
    def doomed(self) -> list[dict[str, Any]]:
        """The versions the plan shown deletes, newest first."""
        return self.plan["delete"] if self.plan is not None else []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="prune-dialog") as dialog:
            dialog.border_title = "Prune versions"
            # The fields and the summary with its warnings: always in view, unless the window is tiny.
            with VerticalScroll(id="prune-head", can_focus=False):
                yield Static(self._intro(self.agent), id="prune-intro")
                with Horizontal(classes="keep-row -number"):
                    yield Label("Versions to keep (type a number):")
                    yield KeepInput("", type="integer", id="keep", max_length=7)
                with Horizontal(classes="keep-row -archive"):
                    yield Label("Archive them to (optional):")
                    yield ArchiveInput("", placeholder="a file, e.g. old-versions.jsonl", id="archive")
                yield Static(id="prune-summary")
            # The versions that go: they scroll (j/k) in the room left.
            with VerticalScroll(classes="dialog-body", id="prune-body", can_focus=False):
                yield Static(id="prune-doomed")
            with Horizontal(classes="buttons"):
                yield Static(id="prune-scroll-hint")
                yield Button("Cancel  n", id="cancel")
                yield Button("Prune  y", id="confirm", variant="error")
            yield KeyBar()

    @staticmethod
    def _intro(agent: dict[str, Any]) -> Content:
        return Content.assemble(
            "Keep the newest versions of ",
            (visible(agent["name"]), "bold"),
            f" (it has {agent.get('version_count', 0):,}) and delete the rest.",
        )

    @property
    def archive(self) -> str:
        """The archive file typed ("" for none)."""
        return self.query_one("#archive", ArchiveInput).value.strip()

    def on_mount(self) -> None:
        # The field, empty: enter there previews, never deletes, and no default is offered.
        self.query_one("#keep", KeepInput).focus()
        self.preview(self.keep)

    def fit_window(self) -> None:
        super().fit_window()
        # Up to this many rows (80x24, 100x30) the dialog takes the whole height and drops the blank lines.
        short = self.app.size.height < PRUNE_SHORT_HEIGHT
        self.set_class(short, "-short")
        # Fields of one line whatever the size, buttons too in a short window: the summary and the list need the room.
        for widget in self.query("Input, Button"):
            if isinstance(widget, Input):
                widget.compact = True
            elif isinstance(widget, Button):
                widget.compact = short or self.cramped

    def _limit_body(self) -> None:
        """Share the dialog's height: the fields and the summary in full, the list of what goes in the rest.

        When the window cannot show them and :data:`PRUNE_LIST_MIN_ROWS` rows
        of the list, the summary scrolls too (``j`` scrolls it first).
        """
        try:
            dialog = self.query_one("#prune-dialog")
            head = self.query_one("#prune-head", VerticalScroll)
            body = self.query_one("#prune-body", VerticalScroll)
        except NoMatches:
            return  # closed before the refresh this waited for
        max_height = dialog.styles.max_height
        if self.cramped or max_height is None:
            room = dialog.size.height  # the whole window: its height inside the border
        else:
            room = int(max_height.resolve(self.size, self.app.size)) - dialog.styles.gutter.height
        for child in dialog.children:
            if child not in (head, body) and child.display:
                room -= child.outer_size.height + child.styles.margin.height
        room -= head.styles.margin.height + body.styles.margin.height
        wanted_head = head.virtual_size.height
        wanted_list = min(body.virtual_size.height, PRUNE_LIST_MIN_ROWS)
        # All of the summary when it fits (a cap it does not reach), else it scrolls too.
        head_room = max(1, room - wanted_list)
        head.styles.max_height = head_room
        list_room = max(wanted_list, room - wanted_head)
        # A cramped dialog's list takes the rest of the window (height 1fr) by itself.
        body.styles.max_height = None if self.cramped else max(1, list_room)
        # Where the key bar is not shown, a line by the buttons says that j/k scroll.
        self._scrolls = wanted_head > head_room or body.virtual_size.height > list_room
        hint = "j/k scroll the list" if self._scrolls and not self.query_one(KeyBar).display else ""
        self.query_one("#prune-scroll-hint", Static).update(Content.styled(hint, "$text-muted"))
        self.refresh_bindings()

    def action_scroll_body(self, lines: int) -> None:
        """Scroll the list; in a tiny window the summary above it first (down), last (up)."""
        head = self.query_one("#prune-head", VerticalScroll)
        body = self.query_one("#prune-body", VerticalScroll)
        ahead = head.scroll_y < head.max_scroll_y if lines > 0 else body.scroll_y <= 0 and head.scroll_y > 0
        # At once: keys typed faster than the screen refreshes would each start from the same offset.
        (head if ahead else body).scroll_relative(y=lines, animate=False, immediate=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a path is typed, y, n, h, l, j and k are letters of it (escape still cancels).
        if action in LETTER_ACTIONS and isinstance(self.focused, ArchiveInput):
            return False
        if action == "scroll_body":
            return self._scrolls
        return True

    def action_move_focus(self, step: int) -> None:
        if step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    def action_no(self) -> None:
        self.action_cancel()

    # -- typing the number -----------------------------------------------------

    def action_digit(self, digit: int) -> None:
        keep_input = self.query_one("#keep", KeepInput)
        if keep_input.has_focus:
            keep_input.insert_text_at_cursor(str(digit))
            return
        # Typed while a button has focus: goes to the end of the number.
        keep_input.value += str(digit)
        keep_input.cursor_position = len(keep_input.value)

    def action_backspace(self) -> None:
        keep_input = self.query_one("#keep", KeepInput)
        if keep_input.has_focus:
            keep_input.action_delete_left()
        else:
            keep_input.value = keep_input.value[:-1]

    @on(Input.Changed, "#keep")
    def keep_changed(self, event: Input.Changed) -> None:
        self._take_keep(event.value)

    def _take_keep(self, typed: str) -> None:
        """The field holds ``typed``: preview that number."""
        try:
            keep = int(typed)
        except ValueError:
            keep = 0
        if keep != self.keep:
            self._confirm_when_previewed = False  # y was for another number
            self.stale_note = None  # the line was about the plan of the number before
        self.keep = keep
        self.preview(keep)

    @on(Input.Submitted, "#keep")
    def keep_submitted(self, event: Input.Submitted) -> None:
        # Shows the preview of the number typed (read again) and stays: y confirms it.
        event.stop()
        self.preview(self.keep)

    @on(Input.Changed, "#archive")
    def archive_changed(self) -> None:
        self.archive_error = None  # it was about the file typed before
        if self.plan is not None:
            self.show_plan(self.plan)

    # -- the plan --------------------------------------------------------------

    @work(exclusive=True, group="prune-preview")
    async def preview(self, keep: int) -> None:
        summary = self.query_one("#prune-summary", Static)
        if keep < 1:
            self.plan = None
            summary.update(Content.assemble(("Type how many versions to keep: at least 1.", "$text-warning")))
            self.query_one("#prune-doomed", Static).update("")
            self.call_after_refresh(self._limit_body)
            return
        self.plan = None
        try:
            plan = await self.service.plan_prune(self.agent["id"], keep)
        except KaizenError as error:
            self._confirm_when_previewed = False
            if not self._open:
                return
            summary.update(error_line(error))
            self.query_one("#prune-doomed", Static).update("")
            self.call_after_refresh(self._limit_body)
            return
        if not self._open:
            return  # closed (esc) while it was read
        self.show_plan(plan)
        if self._confirm_when_previewed and keep == self.keep:
            self._confirm_when_previewed = False
            self.call_later(self.action_confirm)

    @property
    def _open(self) -> bool:
        """Still open (a worker's answer that comes after esc has nowhere to go)."""
        return self in self.app.screen_stack

    def database_changed(self) -> None:
        """Something was committed (by anyone): read the preview shown again (the main screen calls this)."""
        if self.plan is not None and not self._working:
            self.refresh_plan(self.plan)

    @work(exclusive=True, group="prune-refresh")
    async def refresh_plan(self, shown: dict[str, Any]) -> None:
        """Read the plan of ``shown`` again; when it says something else, show it with a line saying what changed."""
        try:
            fresh = await self.service.plan_prune(self.agent["id"], shown["keep"], since=shown["plan_id"])
        except KaizenError:
            return  # the preview stays; y is still checked against the database
        if self.plan is not shown or self._working or not self._open:
            return  # another number typed, the prune started, or the dialog closed, meanwhile
        if _what_is_shown(fresh) == _what_is_shown(shown):
            return  # the same preview
        if fresh["changes"] or _what_is_shown(fresh)[0] != _what_is_shown(shown)[0]:
            # What y deletes changed: a line says what and who, and stays until another number is typed.
            self.stale_note = plan_changes_line(fresh["changes"], "The preview below is fresh.")
        self.show_plan(fresh)

    def show_plan(self, plan: dict[str, Any]) -> None:
        """Show what ``plan`` deletes, under the "changed meanwhile" line if there is one."""
        self.plan = plan
        self.agent = plan["agent"]
        self.query_one("#prune-intro", Static).update(self._intro(plan["agent"]))
        summary = self.query_one("#prune-summary", Static)
        doomed_view = self.query_one("#prune-doomed", Static)
        about = [self.stale_note] if self.stale_note is not None else []
        doomed, keep = plan["delete"], plan["keep"]
        if not doomed:
            about.append(
                Content.assemble(("Nothing to delete: ", "$text-success"), f"the agent has at most {keep} versions.")
            )
            summary.update(Content("\n").join(about))
            doomed_view.update("")
            self.call_after_refresh(self._limit_body)
            return
        # The warnings first, then what goes, right above the list of it.
        if plan["live_loses_version"]:
            # The only versions that hold the live config go: none will hold it.
            label = ", ".join(f"v{version['version_number']}" for version in doomed if version.get("matches_live"))
            about.append(
                Content.assemble(
                    ("◆ ", "bold $text-warning"),
                    (f"{label} equals the live config and goes: ", "$text-warning"),
                    "no version will hold the live config. Cancel and snapshot it (s) first to keep a copy.",
                )
            )
        if plan.get("kept_labelled"):
            kept = ", ".join(
                f"v{version['version_number']} ({', '.join(visible(name) for name in version['labels'])})"
                for version in plan["kept_labelled"]
            )
            why = ": labels name them." if len(plan["kept_labelled"]) > 1 else ": a label names it."
            about.append(Content.assemble(("Also keeps ", "$text-muted"), kept, (why, "$text-muted")))
        if self.archive_error is not None:
            about.append(self.archive_error)
        elif self.archive:
            about.append(
                Content.assemble(
                    ("Archive: ", "bold"),
                    "they are written to ",
                    (visible(self.archive), "bold"),
                    " first (kaizen-tui import brings them back).",
                )
            )
        about.append(
            Content.assemble(
                ("Deletes ", "$text-error"),
                (f"{len(doomed):,} version{'s' if len(doomed) != 1 else ''}", "bold $text-error"),
                f" (v{plan['oldest_deleted']}–v{plan['newest_deleted']}); keeps the {keep} newest. "
                "The live config is not changed.",
            )
        )
        summary.update(Content("\n").join(about))
        # One line per version, cut to the width (#prune-doomed does not
        # wrap), marked like the removed lines of a diff: a ✗ would say
        # "damaged", as it does in the timeline.
        lines = []
        for version in doomed[:PRUNE_LIST_LIMIT]:
            lines.append(
                Content.assemble(
                    ("  ◆ " if version.get("matches_live") else "  - ", "$text-error"),
                    (f"v{version['version_number']}".ljust(6), "bold"),
                    (exact_time(version.get("created_at")).ljust(22), "$text-muted"),
                    (visible(version.get("created_by")).ljust(10)[:10] + " ", "$text-muted"),
                    first_line(version.get("changelog")) or "(no changelog)",
                )
            )
        if len(doomed) > PRUNE_LIST_LIMIT:
            more = f"{len(doomed) - PRUNE_LIST_LIMIT:,} older"
            lines.append(Content.assemble(("  … and ", "$text-muted"), more, (" versions", "$text-muted")))
        doomed_view.update(Content("\n").join(lines))
        self.call_after_refresh(self._limit_body)

    # -- carrying it out -------------------------------------------------------

    def action_confirm(self) -> None:
        if self._working:
            return
        typed = self.query_one("#keep", KeepInput).value
        if typed != (str(self.keep) if self.keep else ""):
            # A digit typed right before y, whose Changed message has not come yet: y is for it.
            self._take_keep(typed)
        if self.keep < 1:
            self.notify("Type how many versions to keep (at least 1), then y.", severity="warning")
            return
        plan = self.plan
        if plan is None or plan["keep"] != self.keep:
            # What would go is still being read: confirm it when it is shown.
            self._confirm_when_previewed = True
            return
        if not plan["delete"]:
            self.notify(f"Nothing to prune: {visible(self.agent['name'])} has at most {self.keep} versions.")
            self.dismiss(None)
            return
        self._working = True
        self._prune(plan)

    @work(exclusive=True, group="prune")
    async def _prune(self, plan: dict[str, Any]) -> None:
        try:
            result = await self.service.prune(
                self.agent["id"], plan["keep"], plan_id=plan["plan_id"], archive=self.archive or None
            )
        except (ArchiveExists, FileNotWritten) as error:
            # Nothing was deleted: the dialog stays, for another file name.
            self._working = False
            self.archive_error = error_line(error)
            self.show_plan(plan)
            self.notify(str(error), severity="warning", timeout=8)
            self.query_one("#archive", ArchiveInput).focus()
            return
        except StalePlan as error:
            self._working = False
            # One line: what changed and who changed it; the service's sentence is the toast.
            self.stale_note = plan_changes_line(error.changes, "Nothing was deleted: the preview below is fresh.")
            self.notify(str(error), severity="warning", timeout=8)
            if plan["keep"] == self.keep:
                self.show_plan(error.fresh)
            return
        except KaizenError as error:
            # Nothing was deleted (the database unreachable or read-only...): the dialog stays,
            # with the reason, the number and the archive file as typed; y tries again.
            self._working = False
            report_failure(self, error)
            self.stale_note = error_line(error, "nothing was deleted; y tries again")
            self.show_plan(plan)
            self.app.notify(str(error), severity="error", timeout=8)
            return
        self.dismiss(result)

    @on(Button.Pressed, "#confirm")
    def confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        if not self._working:  # being deleted: its result is shown when it is done
            self.dismiss(None)
