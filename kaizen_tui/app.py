"""The kaizen-tui terminal app: agents, version timeline and diff, driven by the keyboard.

Open it with ``KaizenApp(service).run()``. ``now`` gives the time relative
times are measured from (tests freeze it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from kaizen_tui.screens.compare import CompareScreen
from kaizen_tui.screens.help import HelpScreen
from kaizen_tui.screens.main import MainScreen
from kaizen_tui.service import AgentService
from kaizen_tui.widgets.diff import DiffBody
from kaizen_tui.widgets.text import default_now


def _styles_dir() -> Path:
    """``kaizen_tui/styles`` in a wheel, ``<repo>/styles`` in an editable install."""
    here = Path(__file__).parent
    for candidate in (here / "styles", here.parent / "styles"):
        if (candidate / "app.tcss").is_file():
            return candidate
    return here / "styles"


#: Every action of the main screen, for the command palette: (title, help, action).
MAIN_COMMANDS: list[tuple[str, str, str]] = [
    ("Snapshot", "Save the live config of the agent as a new version (s)", "snapshot"),
    ("Mark version", "Mark / unmark the highlighted version as the comparison base (space)", "toggle_mark"),
    ("Compare", "Marked version against the highlighted one, or highlighted against the live config (c)", "compare"),
    ("Roll back", "Make the live config equal the highlighted version (r)", "rollback"),
    ("Prune", "Keep the N newest versions of the agent, delete the rest (p)", "prune"),
    ("Delete version", "Delete the highlighted version (x)", "delete_version"),
    ("Edit agent", "Edit the live config as YAML (e)", "edit"),
    ("New agent", "Create an agent from a YAML template (n)", "new_agent"),
    ("Filter agents", "Filter the agents as you type (/)", "filter"),
    ("Diff full screen", "Show the diff of the highlighted version full screen (enter)", "open_diff"),
]


class KaizenApp(App[None]):
    """Browse agents and their versions; snapshot, compare, roll back and prune."""

    TITLE = "kaizen-tui"
    CSS_PATH = str(_styles_dir() / "app.tcss")
    BINDINGS = [
        Binding("ctrl+p", "command_palette", "palette", key_display="^p", priority=True),
    ]
    COMMAND_PALETTE_BINDING = "ctrl+p"

    def __init__(self, service: AgentService, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        self.service = service
        self.now = now or default_now
        #: "auto" (split when there is room), "split" or "unified"; ``u`` toggles.
        self.split_mode = "auto"
        #: Every toast shown, oldest first: (message, severity). Tests read it.
        self.toasts: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        if not self.is_headless and self.console.color_system in ("standard", "windows") and not self.no_color:
            # 16 colours: the terminal's own palette, not truecolours rounded to it.
            self.theme = "ansi-dark"
        self.push_screen(MainScreen())

    # -- toasts never interpret markup: messages carry names from the database --

    def notify(self, message: str, *, title: str = "", severity="information", timeout=None, markup: bool = True) -> None:  # type: ignore[override]
        self.toasts.append((message, severity))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # -- actions available everywhere ------------------------------------------

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen())

    def action_toggle_split(self) -> None:
        bodies = list(self.screen.query(DiffBody))
        if not bodies:
            bodies = [body for screen in self.screen_stack for body in screen.query(DiffBody)]
        showing_split = bodies[0].is_split if bodies else False
        self.split_mode = "unified" if showing_split else "split"
        for screen in self.screen_stack:
            for body in screen.query(DiffBody):
                body.split_mode = self.split_mode  # type: ignore[assignment]
        self.notify(f"Diff: {'side by side' if self.split_mode == 'split' else 'unified'}", timeout=2)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        if main is not None and screen is main:
            for title, help_text, action in MAIN_COMMANDS:
                yield SystemCommand(title, help_text, partial(main.run_action, action))
        yield SystemCommand("Split / unified diff", "Show text diffs side by side or unified (u)", self.action_toggle_split)
        yield SystemCommand("Help", "Every key and what the markers mean (? or f1)", self.action_help)
        if isinstance(screen, CompareScreen):
            yield SystemCommand("Back", "Close the compare view (esc)", screen.action_close)
        yield from super().get_system_commands(screen)
