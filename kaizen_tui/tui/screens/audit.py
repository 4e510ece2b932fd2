"""Who did what, when: the audit log of one agent, newest first (``L``)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from kaizen_tui.core.audit_text import event_summary
from kaizen_tui.core.errors import KaizenError
from kaizen_tui.service import AsyncAgentService
from kaizen_tui.tui.screens.dialog import Dialog
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.text import error_line, exact_time, visible

#: How many events the view reads (the newest).
AUDIT_LIMIT = 200


def audit_lines(events: list[dict[str, Any]]) -> list[Content]:
    """One line an event, newest first: time, actor, action, what (as the CLI's ``log`` words it)."""
    lines = []
    for event in events:
        lines.append(
            Content.assemble(
                (exact_time(event.get("at")).ljust(21), "$text-muted"),
                (visible(event.get("actor")).ljust(10)[:10] + " ", "bold"),
                (visible(event.get("action")).ljust(17), "$text-accent"),
                visible(event_summary(event)),
            )
        )
    return lines


class AuditScreen(Dialog[None]):
    """The audit log of an agent, read from :meth:`AgentService.audit_trail`; ``esc`` closes."""

    BINDINGS = [
        Binding("escape,q,L", "close", "close"),
        Binding("j,down", "scroll(1)", "scroll", key_display="j/k"),
        Binding("k,up", "scroll(-1)", show=False),
        Binding("pagedown", "scroll(10)", show=False),
        Binding("pageup", "scroll(-10)", show=False),
    ]

    def __init__(self, service: AsyncAgentService, agent: dict[str, Any]) -> None:
        super().__init__()
        self.service = service
        self.agent = agent
        self.events: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide -help") as dialog:
            dialog.border_title = Content(f"Who did what · {visible(self.agent['name'])}")
            with VerticalScroll(id="audit-scroll"):
                yield Static(Content.styled("Reading the audit log…", "$text-muted"), id="audit-log")
            yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#audit-scroll").focus()
        self.load()

    @work(exclusive=True, group="audit")
    async def load(self) -> None:
        view = self.query_one("#audit-log", Static)
        try:
            self.events = await self.service.audit_trail(self.agent["id"], AUDIT_LIMIT)
        except KaizenError as error:
            view.update(error_line(error))
            return
        if not self.events:
            view.update(Content.styled("Nothing in the audit log for this agent yet.", "$text-muted"))
            return
        heading = Content.styled(f"{'When (UTC)'.ljust(21)}{'Who'.ljust(11)}{'Action'.ljust(17)}What", "bold")
        lines = [heading, *audit_lines(self.events)]
        if len(self.events) == AUDIT_LIMIT:
            lines.append(Content.styled(f"The newest {AUDIT_LIMIT}; kaizen-tui log shows them all.", "$text-muted"))
        view.update(Content("\n").join(lines))

    def action_scroll(self, lines: int) -> None:
        scroll = self.query_one("#audit-scroll", VerticalScroll)
        scroll.scroll_relative(y=lines, animate=False, immediate=True)

    def action_close(self) -> None:
        self.dismiss(None)
