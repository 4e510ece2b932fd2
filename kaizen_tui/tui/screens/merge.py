"""Settling an edit's conflicts: the fields an edit and someone else both changed, differently.

:class:`~kaizen_tui.tui.screens.editing.AgentEdit` opens it when the service
refuses an edit (:class:`~kaizen_tui.core.errors.EditConflict`); nothing is
written until the person has chosen, for each field, whose value it keeps.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Static

from kaizen_tui.tui.screens.dialog import Dialog
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.text import error_line, format_value, visible

#: How much of a value the merge dialog shows before summarising: lines, and characters in all.
#: A value can be a 1 MB prompt; laying all of it out would hold up every key.
MERGE_VALUE_LINES = 40
MERGE_VALUE_CHARS = 4000
MINE, THEIRS = "mine", "theirs"


def _value_lines(value: Any) -> list[Content]:
    """A field's value as lines of plain text: strings as they are (one line each), JSON for structures.

    At most :data:`MERGE_VALUE_LINES` lines and :data:`MERGE_VALUE_CHARS`
    characters, then a line that says how much more there is.
    """
    text = format_value(value)
    if text == "":
        return [Content.styled("(empty)", "$text-muted")]
    lines = text.split("\n")
    shown: list[Content] = []
    room = MERGE_VALUE_CHARS
    for line in lines[:MERGE_VALUE_LINES]:
        if room <= 0:
            break
        shown.append(Content(visible(line[:room]) + ("…" if len(line) > room else "")))
        room -= len(line)
    more_lines = len(lines) - len(shown)
    if more_lines:
        more = f"… {more_lines:,} more line{'s' if more_lines != 1 else ''}"
    elif room < 0:
        more = f"… {-room:,} more character{'s' if room != -1 else ''}"
    else:
        return shown
    return [*shown, Content.styled(more, "$text-muted")]


class MergeConflictModal(Dialog[dict[str, str] | None]):
    """Fields an edit and someone else both changed, differently: choose whose value each keeps.

    Lists every conflicting field with their value and yours. ``j``/``k``
    pick a field; ``m`` keeps yours, ``t`` theirs, ``space`` switches;
    ``M``/``T`` choose for all. No field starts chosen: ``y`` saves once
    every field is (dismissed with ``{field: "mine" | "theirs"}``), ``esc``
    or ``n`` goes back without writing anything (dismissed with None).
    """

    DEFAULT_CSS = """
    MergeConflictModal .conflict {
        padding: 0 1;
        margin: 1 0 0 0;
    }
    MergeConflictModal .conflict.-current {
        background: $boost;
        border-left: thick $accent;
        padding: 0 1 0 0;
    }
    MergeConflictModal #merge-hint {
        margin: 1 0 0 0;
    }
    """

    BINDINGS = [
        Binding("y", "save", "save"),
        Binding("n", "cancel", "back"),
        Binding("escape", "cancel", "back", show=False),
        Binding("j,down", "move(1)", "field", show=False),
        Binding("k,up", "move(-1)", show=False),
        Binding("m", "choose('mine')", "mine"),
        Binding("t", "choose('theirs')", "theirs"),
        Binding("space", "switch", "switch"),
        Binding("M", "choose_all('mine')", "all mine"),
        Binding("T", "choose_all('theirs')", "all theirs"),
        Binding("left,h", "app.focus_previous", show=False),
        Binding("right,l", "app.focus_next", show=False),
        Binding("pagedown", "scroll_body(10)", show=False),
        Binding("pageup", "scroll_body(-10)", show=False),
    ]

    def __init__(self, name: str, message: str, conflicts: list[dict[str, Any]]) -> None:
        super().__init__()
        self.name_text = name
        self.message = message
        self.conflicts = conflicts
        #: The choice of each field ("mine" / "theirs"); a field not in it is not chosen yet.
        self.choices: dict[str, str] = {}
        self.current = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide") as dialog:
            dialog.border_title = Content(f"Changed meanwhile: {self.name_text}")
            with VerticalScroll(classes="dialog-body", can_focus=False):
                yield Static(error_line(self.message), classes="note")
                for index in range(len(self.conflicts)):
                    yield Static(id=f"conflict-{index}", classes="conflict")
                yield Static(id="merge-hint")
            with Horizontal(classes="buttons"):
                yield Button("Back  n", id="cancel")
                yield Button("Save  y", id="save", variant="primary")
            yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
        self._show()

    def _field_content(self, index: int) -> Content:
        conflict = self.conflicts[index]
        field = conflict["field"]
        choice = self.choices.get(field)
        if choice is None:
            state = ("   choose m (yours) or t (theirs)", "$text-warning")
        else:
            state = (f"   keeps {'yours' if choice == MINE else 'theirs'}", "$text-success")
        pointer = ("▶ " if index == self.current else "  ", "bold $text-accent")
        parts = [Content.assemble(pointer, (visible(field), "bold"), state)]
        for side, label in ((THEIRS, "theirs"), (MINE, "yours ")):
            chosen = choice == side
            mark = ("● ", "bold $text-success") if chosen else ("○ ", "$text-muted")
            lines = _value_lines(conflict[side])
            parts.append(Content.assemble("  ", mark, (label, "bold" if chosen else "$text-muted"), "  ", lines[0]))
            parts += [Content.assemble(" " * 12, line) for line in lines[1:]]
        return Content("\n").join(parts)

    def _show(self) -> None:
        for index in range(len(self.conflicts)):
            view = self.query_one(f"#conflict-{index}", Static)
            view.update(self._field_content(index))
            view.set_class(index == self.current, "-current")
        left = [conflict["field"] for conflict in self.conflicts if conflict["field"] not in self.choices]
        hint = self.query_one("#merge-hint", Static)
        if left:
            hint.update(
                Content.assemble(
                    ("Nothing is written until every field is chosen: ", "$text-muted"),
                    ", ".join(visible(field) for field in left),
                    (" still to choose. Your other changes are kept.", "$text-muted"),
                )
            )
        else:
            hint.update(
                Content.assemble(("y saves: ", "bold"), "your other changes, and for each field the value chosen.")
            )

    def action_move(self, step: int) -> None:
        self.current = max(0, min(len(self.conflicts) - 1, self.current + step))
        self._show()
        self.query_one(f"#conflict-{self.current}", Static).scroll_visible(animate=False, immediate=True)

    def action_choose(self, side: str) -> None:
        self.choices[self.conflicts[self.current]["field"]] = side
        self._show()

    def action_switch(self) -> None:
        field = self.conflicts[self.current]["field"]
        self.choices[field] = THEIRS if self.choices.get(field) == MINE else MINE
        self._show()

    def action_choose_all(self, side: str) -> None:
        self.choices = {conflict["field"]: side for conflict in self.conflicts}
        self._show()

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        left = [conflict["field"] for conflict in self.conflicts if conflict["field"] not in self.choices]
        if left:
            self.notify(f"Choose yours (m) or theirs (t) for {', '.join(left)} first.", severity="warning")
            self.current = next(i for i, conflict in enumerate(self.conflicts) if conflict["field"] in left)
            self._show()
            return
        self.dismiss(dict(self.choices))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
