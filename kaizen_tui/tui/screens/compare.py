"""The compare view: one comparison, full screen; ``r`` / ``R`` roll back to the newer / older version shown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.worker import WorkerCancelled, WorkerFailed

from kaizen_tui.core.errors import KaizenError
from kaizen_tui.service import AsyncAgentService
from kaizen_tui.tui.actions import Scope, bindings
from kaizen_tui.tui.clipboard import copy_shown
from kaizen_tui.tui.screens.plans import RollbackModal
from kaizen_tui.tui.widgets.chrome import BottomBar, KeyBar, StatusLine, TopBar
from kaizen_tui.tui.widgets.diff import DiffBody, comparison_label, comparison_text
from kaizen_tui.tui.widgets.lists import LIVE_KEY
from kaizen_tui.tui.widgets.text import error_line, visible

#: Reads what to show: (comparison, pane title, heading or None).
Loader = Callable[[], Awaitable[tuple[dict[str, Any], str, str | None]]]


class CompareScreen(Screen[dict[str, Any] | None]):
    """A comparison with the whole terminal to itself; ``esc`` goes back.

    Given a ``load`` coroutine instead of a comparison, the screen opens at
    once and reads the comparison itself: the keys typed right after the
    one that opened it (scrolling, ``esc``) already reach it.

    Given the ``agent`` compared, ``r`` rolls back to the newer version
    shown and ``R`` to the older one, through the usual dialog
    (:class:`RollbackModal`). Dismissed with ``{"version_id": ...}``: the
    version the main screen's cursor goes to (one that was compared, or the
    one rolled back to, with ``"rolled_back"``: the service's result).
    """

    BINDINGS = bindings(Scope.COMPARE)

    def __init__(
        self,
        comparison: dict[str, Any] | None = None,
        title: str = "Compare",
        heading: str | None = None,
        *,
        load: Loader | None = None,
        agent: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.agent = agent
        self.comparison = comparison
        self.title_text = title
        self.heading = heading
        self._load = load

    @property
    def service(self) -> AsyncAgentService:
        return self.app.service  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        service = self.service
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
        self._show_status()
        if self.comparison is not None:
            body.show_comparison(self.comparison, self.heading)
            self._show_status()
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
        self._show_status()
        self.refresh_bindings()

    def _show_status(self) -> None:
        # The key bar below already says esc, u and ?; this says which version r and R roll back to.
        parts = ["j/k scroll · g/G top/bottom"]
        newer, older = self._side("newer"), self._side("older")
        if self.service.read_only:
            newer = older = None
        if newer is not None:
            parts.append(f"r roll back to v{newer['version_number']}")
        if older is not None:
            parts.append(f"R roll back to v{older['version_number']}")
        self.query_one(StatusLine).show(" · ".join(parts))

    def _versions(self) -> list[dict[str, Any]]:
        """The versions shown (of the agent compared), newer first: sides that are a version, not live or nothing."""
        if self.comparison is None or self.agent is None:
            return []
        sides = [self.comparison["to"], self.comparison["from"]]
        versions = [side for side in sides if side.get("version_id") and side.get("version_number") is not None]
        return sorted(versions, key=lambda side: -int(side["version_number"]))

    def _side(self, which: str) -> dict[str, Any] | None:
        versions = self._versions()
        if which == "newer":
            return versions[0] if versions else None
        return versions[1] if len(versions) > 1 else None

    def hidden_in_key_bar(self, action: str) -> bool:
        # Read-only: r and R stay bound (they say why they do nothing), out of the key bar.
        return self.service.read_only and action in ("rollback", "rollback_older")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "rollback":
            return self._side("newer") is not None
        if action == "rollback_older":
            return self._side("older") is not None
        return True

    def action_rollback(self) -> None:
        self._roll_back(self._side("newer"))

    def action_rollback_older(self) -> None:
        self._roll_back(self._side("older"))

    def _roll_back(self, side: dict[str, Any] | None) -> None:
        agent, service = self.agent, self.service
        if side is None or agent is None:
            self.notify("No version shown to roll back to.", severity="warning")
            return
        if service.read_only:
            self.notify(f"Cannot roll back: {service.read_only_reason}. Browsing only.", severity="warning")
            return
        version = {"id": side["version_id"], "version_number": side["version_number"]}

        def done(result: dict[str, Any] | None) -> None:
            if result is not None:
                self.dismiss(
                    {"version_id": version["id"], "version_number": version["version_number"], "rolled_back": result}
                )

        self.app.push_screen(RollbackModal(service, agent, version), done)

    def action_copy_diff(self) -> None:
        if any(worker.group == "compare" and not worker.is_finished for worker in self.workers):
            self._copy_once_shown()  # typed before the comparison came: copy it when it is shown
            return
        if self.comparison is None:
            self.notify("No diff shown to copy.", severity="warning")
            return
        agent = visible(self.agent["name"]) if self.agent is not None else None
        text = comparison_text(self.comparison, self.heading, agent)
        what = f"the diff {comparison_label(self.comparison)}" + (f" of {agent}" if agent else "")
        copy_shown(self.app, text, what)

    @work(group="copy")
    async def _copy_once_shown(self) -> None:
        for worker in [worker for worker in self.workers if worker.group == "compare"]:
            try:
                await worker.wait()
            except (WorkerCancelled, WorkerFailed):
                pass
        self.action_copy_diff()

    def set_split_mode(self, mode: str) -> None:
        self.query_one(DiffBody).split_mode = mode  # type: ignore[assignment]

    def action_close(self) -> None:
        # Back with the cursor on a version compared (the main screen keeps it if it is on one).
        versions = self._versions()
        if not versions:
            self.dismiss(None)
            return
        compared = [side["version_id"] for side in versions]
        if self.comparison is not None and "live" in (self.comparison["from"]["label"], self.comparison["to"]["label"]):
            compared.append(LIVE_KEY)  # the live row was compared too
        self.dismiss({"version_id": versions[0]["version_id"], "compared": compared})
