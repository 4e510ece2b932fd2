"""Labels: the dialog that sets, moves or removes a label (``t``) and the label ledger (``T``).

The dialog acts on the version highlighted in the timeline. As a label is
typed (or one of the agent's picked with ↑/↓) it shows the service's
:meth:`plan_label_move`: where the label points now, where it goes, and the
diff between the two, which is what changes for everyone who loads that
label. ``y`` carries out the move shown, compare-and-swap: ``expected`` is
where the preview said the label points, so when someone moved it
meanwhile nothing moves, and the dialog stays with the fresh preview and a
line saying who moved it. ``x`` (or the Remove button) turns the dialog
into the removal of the label, confirmed the same way. A protected label
moves (or goes) only once its name is typed into one more field.

The ledger view lists every set, move and removal of the agent's labels,
newest first, with the reason given; ``f`` shows one label at a time.

Text from the database (names, reasons, actors) is data: it goes through
:func:`visible`, never markup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, Static

from kaizen_tui.core.errors import DamagedSnapshot, InvalidValue, KaizenError, LabelConflict, ProtectedLabel
from kaizen_tui.core.labels import check_label
from kaizen_tui.service import AsyncAgentService
from kaizen_tui.tui.screens.dialog import Dialog
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.connection import report_failure
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.text import error_line, exact_time, first_line, visible

#: Below this many rows the label dialog takes the whole height, without blank lines or key bar.
SHORT_HEIGHT = 32
#: How many ledger entries the view reads (the newest).
LEDGER_LIMIT = 200
#: The dialog's keys that are letters while a field has focus (they act from the buttons).
LETTER_ACTIONS = frozenset({"confirm", "cancel_key", "remove", "move_focus", "scroll_diff"})


def _version(number: object) -> str:
    return f"v{number}" if number is not None else "—"


def set_by(label: dict[str, Any] | None) -> str:
    """``since 2026-11-03 10:30 UTC, maria``: when a label was last put where it points, by whom."""
    if label is None:
        return ""
    return f"since {exact_time(label.get('updated_at'))}, {visible(label.get('updated_by'))}"


class FieldInput(Input):
    """A one-line field of the label dialog: any text, so while it has focus letters type.

    ``enter`` moves on to the next field, or to the buttons (Cancel) after
    the last one: at once, not through a Submitted message, so that a ``y``
    typed right after is for the buttons.
    """

    BINDINGS = [
        Binding("enter", "submit", "next"),
        Binding("escape", "screen.cancel", "cancel"),
    ]

    def __init__(self, *, next_field: Callable[[], str], **options: Any) -> None:
        super().__init__(**options)
        self._next_field = next_field

    async def action_submit(self) -> None:
        self.screen.set_focus(self.screen.query_one(f"#{self._next_field()}"))


class LabelInput(FieldInput):
    """The label's name; ↑/↓ pick the agent's labels in turn."""

    BINDINGS = [
        Binding("down", "pick(1)", "pick a label", key_display="↑↓"),
        Binding("up", "pick(-1)", "previous label", show=False),
    ]

    def action_pick(self, step: int) -> None:
        screen = self.screen
        if isinstance(screen, LabelModal):
            screen.pick(step)


class ExistingLabels(Suggester):
    """Completes a name typed with the agent's labels (→ or end accepts)."""

    def __init__(self, names: Callable[[], list[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names = names

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        return next((name for name in self.names() if name.startswith(value) and name != value), None)


class LabelModal(Dialog[dict[str, Any] | None]):
    """Point a label of ``agent`` at ``version``, or remove a label, after a preview.

    Dismissed with ``{"action": "set" | "move" | "remove" | "unchanged",
    "label", "from", "to"}`` (version numbers) once done, or None when
    cancelled. A move that failed keeps the dialog open, with the reason and what was typed.
    """

    DEFAULT_CSS = """
    LabelModal #label-intro {
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    LabelModal .buttons Button.-idle {
        text-style: dim;
    }
    """

    BINDINGS = [
        Binding("y", "confirm", "confirm"),
        Binding("n", "cancel_key", "cancel"),
        Binding("x", "remove", "remove label"),
        Binding("escape", "cancel", "cancel", show=False),
        Binding("left,h", "move_focus(-1)", show=False),
        Binding("right,l", "move_focus(1)", show=False),
        Binding("j,down", "scroll_diff(1)", "scroll", show=False),
        Binding("k,up", "scroll_diff(-1)", show=False),
        Binding("pagedown", "scroll_diff(10)", show=False),
        Binding("pageup", "scroll_diff(-10)", show=False),
    ]

    def __init__(self, service: AsyncAgentService, agent: dict[str, Any], version: dict[str, Any]) -> None:
        super().__init__()
        self.service = service
        self.agent = agent
        self.version = version
        #: The agent's labels as last read (``list_labels``).
        self.labels: list[dict[str, Any]] = []
        #: The preview shown: ``plan_label_move`` of the label typed (None while it is read, or none).
        self.plan: dict[str, Any] | None = None
        #: The dialog removes the label rather than moving it (``x``).
        self.removing = False
        #: The "moved meanwhile" line shown over a fresh preview.
        self.stale_note: Content | None = None
        #: A ``y`` typed before the preview of this label came: confirm it once shown.
        self._confirm_when_planned: str | None = None
        self._working = False

    # -- layout ------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide", id="label-dialog") as dialog:
            dialog.border_title = Content(self._title())  # holds the agent's name: never markup
            with VerticalScroll(classes="dialog-body", can_focus=False):
                yield Static(self._intro(), id="label-intro")
                with Horizontal(classes="field-row", id="label-row"):
                    yield Label("Label", classes="field-label")
                    yield LabelInput(
                        next_field=lambda: "reason",
                        placeholder="production, staging, canary-eu…  (↑↓ the agent's)",
                        id="label",
                        max_length=63,
                        suggester=ExistingLabels(self._names),
                    )
                yield Static(id="label-choices")
                with Horizontal(classes="field-row"):
                    yield Label("Reason", classes="field-label")
                    yield FieldInput(
                        next_field=lambda: "protect" if self._protect_shown else "cancel",
                        placeholder="why, for the ledger (optional)",
                        id="reason",
                    )
                with Horizontal(classes="field-row", id="protect-row"):
                    yield Label("Confirm", classes="field-label")
                    yield FieldInput(next_field=lambda: "cancel", id="protect")
                yield Static(id="label-summary")
            yield DiffBody(id="confirm-diff")
            with Horizontal(classes="buttons"):
                yield Button("Cancel  n", id="cancel")
                yield Button("Remove  x", id="remove", variant="warning")
                yield Button("Move  y", id="confirm", variant="error")
            yield KeyBar()

    def _title(self) -> str:
        return f"Label v{self.version['version_number']} of {visible(self.agent['name'])}"

    def _intro(self) -> Content:
        version = self.version
        return Content.assemble(
            (f"v{version['version_number']}", "bold"),
            (f" · {exact_time(version.get('created_at'))} · {visible(version.get('created_by'))} · ", "$text-muted"),
            first_line(version.get("changelog"), 60) or "(no changelog)",
        )

    def on_mount(self) -> None:
        self.query_one("#protect-row").display = False
        diff = self.query_one(DiffBody)
        diff.display = False
        diff.can_focus = False  # tab goes from the fields to the buttons; j/k scroll it from there
        self.query_one("#remove").display = False
        self.query_one("#label", LabelInput).focus()  # typing is what comes first; enter never confirms
        self._show_choices()
        self._show_summary([Content.styled("Reading the agent's labels…", "$text-muted")])
        self.read_labels()

    def fit_window(self) -> None:
        super().fit_window()
        # Up to this many rows (80x24, 100x30) the dialog takes the whole height and drops the blank lines.
        self.set_class(self.app.size.height < SHORT_HEIGHT, "-short")
        # One line each, whatever the size: the preview and its diff need the room.
        for widget in self.query("FieldInput, Button"):
            if isinstance(widget, (Input, Button)):
                widget.compact = True

    # -- fields ------------------------------------------------------------------

    @property
    def typed_label(self) -> str:
        return self.query_one("#label", LabelInput).value.strip()

    @property
    def reason(self) -> str:
        return self.query_one("#reason", FieldInput).value.strip()

    @property
    def _protect_shown(self) -> bool:
        return bool(self.query_one("#protect-row").display)

    def _names(self) -> list[str]:
        return [row["label"] for row in self.labels]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a field has focus, y, n, x, h, l, j and k are letters (esc still cancels).
        if action in LETTER_ACTIONS and isinstance(self.focused, Input):
            return False
        if action == "remove":
            return self._removable() is not None or None
        return True

    def action_move_focus(self, step: int) -> None:
        if step > 0:
            self.focus_next()
        else:
            self.focus_previous()

    def pick(self, step: int) -> None:
        """↑/↓ in the label field: the agent's next (previous) label, by name."""
        names = self._names()
        if not names:
            self.notify(f"{visible(self.agent['name'])} has no labels yet: type a new one.", timeout=3)
            return
        field = self.query_one("#label", LabelInput)
        current = names.index(field.value) if field.value in names else (-1 if step > 0 else len(names))
        field.value = names[(current + step) % len(names)]
        field.cursor_position = len(field.value)

    @on(Input.Changed, "#label")
    def label_changed(self) -> None:
        self.removing = False
        self.stale_note = None  # it was about the label typed before
        self._confirm_when_planned = None
        self._show_choices()
        self.preview()

    @on(Input.Changed, "#protect")
    def protect_changed(self) -> None:
        if self.plan is not None:
            self._show_buttons(self.plan)

    # -- reading -------------------------------------------------------------------

    @work(exclusive=True, group="label-list")
    async def read_labels(self) -> None:
        try:
            self.labels = await self.service.list_labels(self.agent["id"])
        except KaizenError as error:
            self._show_summary([error_line(error)])
            return
        self._show_choices()
        if not self.typed_label:
            self.preview()

    @work(exclusive=True, group="label-plan")
    async def preview(self) -> None:
        """Read and show what pointing the label typed at the version changes."""
        label = self.typed_label
        self.plan = None
        self._show_buttons(None)
        if not label:
            self._hide_diff()
            hint = "Type a label name"
            if self.labels:
                hint += ", or pick one of the agent's with ↑/↓"
            self._show_summary([Content.styled(hint + ".", "$text-muted")])
            return
        try:
            check_label(label)
        except InvalidValue as error:
            self._hide_diff()
            self._show_summary([error_line(error.problem)])
            return
        await asyncio.sleep(0.03)  # a burst of letters reads only the last name
        try:
            plan = await self.service.plan_label_move(self.agent["id"], label, self.version["id"])
            labels = await self.service.list_labels(self.agent["id"])
        except KaizenError as error:
            self._confirm_when_planned = None
            self._hide_diff()
            self._show_summary([error_line(error)])
            return
        if label != self.typed_label:
            return  # typed on meanwhile: that name's preview is on its way
        self.labels = labels
        self._show_choices()
        self.show_plan(plan)
        if self._confirm_when_planned == label:
            self._confirm_when_planned = None
            self.call_later(self.action_confirm)

    # -- showing -------------------------------------------------------------------

    def _label_row(self, name: str) -> dict[str, Any] | None:
        return next((row for row in self.labels if row["label"] == name), None)

    def _show_choices(self) -> None:
        """The agent's labels, one after the other: ``production v4 (protected) · staging v7``."""
        view = self.query_one("#label-choices", Static)
        if not self.labels:
            view.update(Content.styled("The agent has no labels yet.", "$text-muted"))
            return
        typed = self.typed_label
        parts: list[Content] = []
        for row in self.labels:
            chosen = row["label"] == typed
            name_style = "bold reverse" if chosen else "bold"
            parts.append(
                Content.assemble(
                    (visible(row["label"]), name_style),
                    f" v{row['version_number']}",
                    (" (protected)", "$text-warning") if row.get("protected") else "",
                )
            )
        view.update(Content.assemble(("Labels: ", "$text-muted"), Content(" · ").join(parts)))

    def _show_summary(self, lines: list[Content]) -> None:
        notes = [self.stale_note] if self.stale_note is not None else []
        self.query_one("#label-summary", Static).update(Content("\n").join(notes + lines))
        self.call_after_refresh(self._limit_body)

    def _hide_diff(self) -> None:
        self.query_one(DiffBody).display = False
        self.query_one("#label-dialog").set_class(False, "-diff")
        self.call_after_refresh(self._limit_body)

    def show_plan(self, plan: dict[str, Any]) -> None:
        """The preview of ``plan``: moving the label, or (``x``) removing it."""
        self.plan = plan
        if self.removing and plan["from"] is None:
            self.removing = False  # removed meanwhile: nothing to remove any more
        dialog = self.query_one("#label-dialog")
        label = visible(plan["label"])
        target = plan["to"]["version_number"]
        source = plan["from"]["version_number"] if plan["from"] else None
        current = self._label_row(plan["label"])
        who = set_by(current) if current is not None and current["version_number"] == source else ""
        lines: list[Content] = []
        comparison = None
        if self.removing:
            dialog.border_title = Content(f"Remove {label} of {visible(self.agent['name'])}?")
            lines.append(
                Content.assemble(
                    ("Remove ", "bold $text-error"),
                    (label, "bold"),
                    f": it points at v{source}" + (f" ({who})" if who else "") + ". ",
                    "Whoever loads it then gets an error (no such label); the ledger keeps where it pointed.",
                )
            )
        else:
            dialog.border_title = Content(self._title())
            if plan["refused"]:
                lines.append(error_line(f"Cannot point {label} at v{target}: {plan['refused']['message']}"))
            elif plan["unchanged"]:
                lines.append(
                    Content.assemble(
                        ("✓ ", "bold $text-success"),
                        (label, "bold"),
                        f" already points at v{target}" + (f" ({who})" if who else "") + ": nothing to move.",
                    )
                )
            elif source is None:
                lines.append(
                    Content.assemble(
                        ("New label ", "$text-success"),
                        (label, "bold"),
                        ": it will point at ",
                        (f"v{target}", "bold"),
                        ", and whoever loads it gets that version.",
                    )
                )
            else:
                # The diff's heading says it: what changes for everyone who loads the label.
                lines.append(
                    Content.assemble(
                        ("Move ", "$text-accent"),
                        (label, "bold"),
                        "  ",
                        (f"v{source}", "bold"),
                        " → ",
                        (f"v{target}", "bold"),
                        (f"   at v{source} {who}" if who else "", "$text-muted"),
                    )
                )
                comparison = plan["comparison"]
        if plan["protected"] and not (plan["unchanged"] and not self.removing) and not plan["refused"]:
            lines.append(
                Content.assemble(
                    ("Protected label: ", "bold $text-warning"),
                    "type ",
                    (label, "bold"),
                    " in the Confirm field to " + ("remove" if self.removing else "move") + " it.",
                )
            )
        self._show_protect(plan)
        self._show_summary(lines)
        body = self.query_one(DiffBody)
        shown = comparison is not None
        body.display = shown
        dialog.set_class(shown, "-diff")
        if comparison is not None:
            body.show_comparison(comparison, f"For everyone on {label}: v{source} → v{target}")
        self._show_buttons(plan)
        self.call_after_refresh(self._limit_body)

    def _needs_protect(self, plan: dict[str, Any] | None) -> bool:
        if plan is None or not plan["protected"] or (plan["refused"] and not self.removing):
            return False
        return self.removing or not plan["unchanged"]

    def _show_protect(self, plan: dict[str, Any]) -> None:
        row = self.query_one("#protect-row")
        needed = self._needs_protect(plan)
        if needed:
            self.query_one("#protect", FieldInput).placeholder = f"type {plan['label']} to confirm"
        row.display = needed

    def _show_buttons(self, plan: dict[str, Any] | None) -> None:
        confirm = self.query_one("#confirm", Button)
        remove = self.query_one("#remove", Button)
        if plan is None:
            confirm.label = "Move  y"
            confirm.set_class(True, "-idle")
            remove.display = False
            self.refresh_bindings()
            return
        if self.removing:
            confirm.label = "Remove  y"
        elif plan["from"] is None:
            confirm.label = "Set  y"
        else:
            confirm.label = "Move  y"
        # Nothing to do, refused, or a protected label not confirmed yet: the button is dimmed, and y
        # says why. (Not disabled: a disabled button would leave the tab order and, in 16 colours, grow a border.)
        idle = not self.removing and bool(plan["refused"] or plan["unchanged"])
        unconfirmed = self._needs_protect(plan) and self._protect_typed() != plan["label"]
        confirm.set_class(idle or unconfirmed, "-idle")
        remove.display = plan["from"] is not None and not self.removing
        self.refresh_bindings()

    def _protect_typed(self) -> str:
        return self.query_one("#protect", FieldInput).value.strip()

    def _removable(self) -> dict[str, Any] | None:
        plan = self.plan
        if plan is None or plan["from"] is None or self.removing or plan["label"] != self.typed_label:
            return None
        return plan

    # -- acting --------------------------------------------------------------------

    def action_scroll_diff(self, lines: int) -> None:
        bodies = [body for body in self.query(DiffBody) if body.display and body.size.height > 0]
        if not bodies:
            self.action_scroll_body(lines)
        for body in bodies:
            body.scroll_relative(y=lines, animate=False, immediate=True)

    def action_cancel(self) -> None:
        if not self._working:  # being written: its result is shown when it is done
            self.dismiss(None)

    def action_cancel_key(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#cancel")
    def cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Button.Pressed, "#confirm")
    def confirm_pressed(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#remove")
    def remove_pressed(self) -> None:
        self.action_remove()

    def action_remove(self) -> None:
        """``x``: the dialog removes the label typed instead of moving it (y then confirms)."""
        if self._working:
            return
        plan = self._removable()
        if plan is None:
            label = self.typed_label
            if self.removing:
                return
            if label and self.plan is not None and self.plan["label"] == label:
                self.notify(f"{visible(label)} is not set on {visible(self.agent['name'])}: nothing to remove.")
            elif label:
                self.notify(f"Still reading where {visible(label)} points: x again in a moment.", timeout=3)
            else:
                self.notify("Type or pick (↑/↓) the label to remove first.", severity="warning")
            return
        self.removing = True
        self.stale_note = None
        self.show_plan(plan)
        self.query_one("#protect" if self._needs_protect(plan) else "#cancel").focus()

    def action_confirm(self) -> None:
        if self._working:
            return
        label = self.typed_label
        if not label:
            self.notify("Type a label name first (or pick one of the agent's with ↑/↓).", severity="warning")
            self.query_one("#label").focus()
            return
        try:
            check_label(label)
        except InvalidValue as error:
            self.notify(str(error), severity="warning")
            self.query_one("#label").focus()
            return
        plan = self.plan
        if plan is None or plan["label"] != label:
            # Still being read: confirm it once shown, unless it came after a conflict.
            self._confirm_when_planned = label if self.stale_note is None else None
            return
        name = visible(label)
        if not self.removing and plan["refused"]:
            self.notify(
                f"Cannot point {name} at v{plan['to']['version_number']}: {plan['refused']['message']}",
                severity="warning",
            )
            return
        if not self.removing and plan["unchanged"]:
            self.notify(f"{name} already points at v{plan['to']['version_number']}: nothing to move.")
            return
        if self._needs_protect(plan) and self._protect_typed() != label:
            self.notify(f"{name} is a protected label: type {name} in the Confirm field, then y.", severity="warning")
            self.query_one("#protect").focus()
            return
        self._working = True
        self._carry_out(plan, self.removing, self.reason)

    @work(exclusive=True, group="label-carry-out")
    async def _carry_out(self, plan: dict[str, Any], removing: bool, reason: str) -> None:
        label = plan["label"]
        expected = plan["from"]["version_number"] if plan["from"] else None
        allow = bool(plan["protected"])  # its name was typed: a person confirmed the protected label
        try:
            if removing:
                await self.service.remove_label(
                    self.agent["id"], label, expected=expected, reason=reason, allow_protected=allow
                )
                result = {"action": "remove", "label": label, "from": expected, "to": None}
            else:
                moved = await self.service.set_label(
                    self.agent["id"], label, self.version["id"], expected=expected, reason=reason, allow_protected=allow
                )
                action = "unchanged" if not moved["moved"] else "set" if expected is None else "move"
                result = {"action": action, "label": label, "from": expected, "to": moved["version_number"]}
        except LabelConflict as error:
            self._working = False
            self.stale_note = Content.assemble(
                ("⚠ Moved meanwhile: ", "bold $text-warning"),
                (visible(str(error)), "$text-warning"),
                " Fresh preview below.",
            )
            self.notify(str(error), severity="warning", timeout=8)
            self.preview()
            return
        except ProtectedLabel:
            self._working = False
            self.stale_note = Content.assemble(
                ("⚠ Protected meanwhile: ", "bold $text-warning"),
                (visible(label), "bold"),
                " was made a protected label while this was open; nothing moved.",
            )
            self.preview()
            return
        except (InvalidValue, DamagedSnapshot) as error:
            self._working = False
            self.stale_note = error_line(error, "nothing moved")
            self.preview()
            return
        except KaizenError as error:
            # Nothing moved (the database unreachable or read-only, the agent gone...): the dialog
            # stays with the reason and what was typed (the label, the reason); y tries again.
            self._working = False
            report_failure(self, error)
            self.stale_note = error_line(error, "nothing moved; y tries again")
            if self.plan is not None:
                self.show_plan(self.plan)
            else:
                self._show_summary([])
            self.app.notify(str(error), severity="error", timeout=8)
            return
        self.dismiss(result)


def label_toast(agent_name: str, result: dict[str, Any]) -> str:
    """What the toast says once the dialog did its work: ``Support Agent: production → v7 (was v5)``."""
    label, name = visible(result["label"]), visible(agent_name)
    if result["action"] == "remove":
        return f"{name}: removed {label} (was {_version(result['from'])})"
    if result["action"] == "unchanged":
        return f"{name}: {label} already pointed at v{result['to']}"
    if result["action"] == "set":
        return f"{name}: {label} → v{result['to']} (new label)"
    return f"{name}: {label} → v{result['to']} (was v{result['from']})"


# -- the ledger ----------------------------------------------------------------------


def change_text(entry: dict[str, Any]) -> str:
    """``set → v3``, ``v3 → v5``, ``v5 → removed``."""
    if entry["action"] == "set":
        return f"set → v{entry['to_version']}"
    if entry["action"] == "remove":
        return f"v{entry['from_version']} → removed"
    return f"v{entry['from_version']} → v{entry['to_version']}"


def ledger_lines(entries: list[dict[str, Any]], label_width: int) -> list[Content]:
    """Two lines an entry, newest first: time, actor, label, change; then the reason, indented."""
    lines = []
    for entry in entries:
        action_style = {"set": "$text-success", "remove": "$text-error"}.get(entry["action"], "$text-accent")
        lines.append(
            Content.assemble(
                (exact_time(entry.get("at")).removesuffix(" UTC").ljust(17), "$text-muted"),
                (visible(entry.get("actor")).ljust(10)[:10] + " ", "bold"),
                (visible(entry.get("label")).ljust(label_width)[: max(label_width, 1)] + " ", "bold"),
                (change_text(entry), action_style),
            )
        )
        reason = entry.get("reason") or ""
        if reason.strip():
            # Shown whole (wrapped), each line of it made visible: free text, never markup.
            shown = " ⏎ ".join(visible(line) for line in reason.strip().splitlines())
            lines.append(Content.assemble(("  “", "$text-muted"), shown, ("”", "$text-muted")))
        else:
            lines.append(Content.styled("  (no reason given)", "$text-muted"))
    return lines


class LedgerScreen(Dialog[None]):
    """The label ledger of an agent (``label_history``), newest first; ``f`` shows one label at a time."""

    BINDINGS = [
        Binding("escape,q,T", "close", "close"),
        Binding("f", "cycle_filter", "label filter"),
        Binding("j,down", "scroll(1)", "scroll", key_display="j/k"),
        Binding("k,up", "scroll(-1)", show=False),
        Binding("pagedown", "scroll(10)", show=False),
        Binding("pageup", "scroll(-10)", show=False),
    ]

    def __init__(self, service: AsyncAgentService, agent: dict[str, Any]) -> None:
        super().__init__()
        self.service = service
        self.agent = agent
        #: The label shown alone (None: all of them).
        self.only: str | None = None
        #: Every label name the ledger or the agent has, for ``f``.
        self.names: list[str] = []
        self.labels: list[dict[str, Any]] = []
        self.entries: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide -help", id="ledger-dialog") as dialog:
            dialog.border_title = Content(self._title())
            yield Static(id="ledger-now")
            with VerticalScroll(id="ledger-scroll"):
                yield Static(Content.styled("Reading the ledger…", "$text-muted"), id="ledger")
            yield KeyBar()

    def _title(self) -> str:
        title = f"Label ledger · {visible(self.agent['name'])}"
        return title + (f" · {visible(self.only)} only" if self.only else "")

    def on_mount(self) -> None:
        self.query_one("#ledger-scroll").focus()
        self.load()

    @work(exclusive=True, group="ledger")
    async def load(self) -> None:
        view = self.query_one("#ledger", Static)
        try:
            self.labels = await self.service.list_labels(self.agent["id"])
            self.entries = await self.service.label_history(self.agent["id"], self.only, limit=LEDGER_LIMIT)
        except KaizenError as error:
            view.update(error_line(error))
            return
        if self.only is None:
            seen = [row["label"] for row in self.labels] + [entry["label"] for entry in self.entries]
            self.names = sorted(set(seen))
        self.query_one("#ledger-dialog").border_title = Content(self._title())
        self.query_one("#ledger-now", Static).update(self._now_line())
        if not self.entries:
            if self.only is not None:
                text = f"Nothing in the ledger for {visible(self.only)}."
            else:
                text = "No label of this agent was ever set. t on a version in the timeline sets one."
            view.update(Content.styled(text, "$text-muted"))
            return
        width = min(16, max(5, *(len(visible(entry["label"])) for entry in self.entries)))
        heading = Content.styled(f"{'When (UTC)'.ljust(17)}{'Who'.ljust(11)}{'Label'.ljust(width + 1)}Change", "bold")
        lines = [heading, *ledger_lines(self.entries, width)]
        if len(self.entries) == LEDGER_LIMIT:
            lines.append(
                Content.styled(f"The newest {LEDGER_LIMIT}; kaizen-tui label history shows them all.", "$text-muted")
            )
        view.update(Content("\n").join(lines))

    def _now_line(self) -> Content:
        """Where the labels point now: ``Now: production v4 (protected) · staging v7``."""
        if not self.labels:
            return Content.styled("No label is set now.", "$text-muted")
        parts = [
            Content.assemble(
                (visible(row["label"]), "bold"),
                f" → v{row['version_number']}",
                (" (protected)", "$text-warning") if row.get("protected") else "",
            )
            for row in self.labels
        ]
        return Content.assemble(("Now: ", "$text-muted"), Content(" · ").join(parts))

    def action_cycle_filter(self) -> None:
        """All labels → each label in turn → all labels again."""
        if not self.names:
            self.notify("No labels to filter by.", timeout=3)
            return
        choices: list[str | None] = [None, *self.names]
        index = choices.index(self.only) if self.only in choices else 0
        self.only = choices[(index + 1) % len(choices)]
        self.query_one("#ledger-scroll", VerticalScroll).scroll_home(animate=False)
        self.load()

    def action_scroll(self, lines: int) -> None:
        scroll = self.query_one("#ledger-scroll", VerticalScroll)
        scroll.scroll_relative(y=lines, animate=False, immediate=True)

    def action_close(self) -> None:
        self.dismiss(None)
