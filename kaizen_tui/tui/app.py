"""The kaizen-tui terminal app: agents, version timeline and diff, driven by the keyboard.

Open it with ``KaizenApp(service).run()`` (a synchronous
:class:`~kaizen_tui.service.AgentService`; the screens await it through
:class:`~kaizen_tui.service.AsyncAgentService`). ``now`` gives the time
relative times are measured from (tests freeze it).

Keys typed ahead are never lost nor sent to the wrong place: while the
screen on top is still being built (a dialog just opened) or says it is not
ready for keys (the main screen before its first data), keys are held and
then replayed in order, each one handled before the next is looked at. Over
SSH, keys typed during a stall arrive all at once; ``s`` then a changelog
then ``enter`` must still save that changelog.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from time import monotonic

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input, TextArea

from kaizen_tui.service import AgentService, AsyncAgentService
from kaizen_tui.tui.actions import Scope, bindings, palette_actions
from kaizen_tui.tui.screens.compare import CompareScreen
from kaizen_tui.tui.screens.help import HelpScreen
from kaizen_tui.tui.screens.main import MainScreen
from kaizen_tui.tui.widgets.diff import DiffBody
from kaizen_tui.tui.widgets.text import default_now, visible


def _styles_dir() -> Path:
    """``kaizen_tui/tui/styles`` in a wheel, ``<repo>/styles`` in an editable install."""
    here = Path(__file__).parent
    for candidate in (here / "styles", here.parent.parent / "styles"):
        if (candidate / "app.tcss").is_file():
            return candidate
    return here / "styles"


class KaizenApp(App[None]):
    """Browse agents and their versions; snapshot, compare, roll back and prune."""

    TITLE = "kaizen-tui"
    CSS_PATH = str(_styles_dir() / "app.tcss")
    BINDINGS = bindings(Scope.APP)
    COMMAND_PALETTE_BINDING = "ctrl+p"

    #: Keys never held: they quit, whatever is loading.
    ALWAYS_PASS = frozenset({"ctrl+c", "ctrl+q"})
    #: A held key waits at most this long for the screen to be ready.
    KEY_HOLD_LIMIT = 5.0
    #: Sent after each replayed key; its return to the app means that key was handled.
    _BARRIER = "kaizen-key-barrier"

    def __init__(self, service: AgentService, *, now: Callable[[], datetime] | None = None) -> None:
        super().__init__()
        #: The service, awaited by the screens' workers: each call runs on a thread of the loop's
        #: executor, so the screen keeps drawing and taking keys while the database works.
        self.service = AsyncAgentService(service)
        self.now = now or default_now
        #: "auto" (split when there is room), "split" or "unified"; ``u`` toggles.
        self.split_mode = "auto"
        #: Every toast shown, oldest first: (message, severity). Tests read it.
        self.toasts: list[tuple[str, str]] = []
        self._held_keys: deque[events.Key] = deque()
        self._replayed: set[int] = set()
        self._fast_replays: set[int] = set()
        self._releasing = False
        self._barrier = asyncio.Event()
        self._in_flight_since: float | None = None
        #: How many keys have been handled to the end (tests wait on it).
        self.keys_handled = 0

    def _theme_is_ansi(self, theme: object = None) -> None:
        # In an ANSI theme $background is the terminal's own: a dialog's see-through
        # backdrop would be drawn opaque and blank the panes behind (styles/app.tcss).
        self.set_class(bool(getattr(self.current_theme, "ansi", False)), "-ansi-theme")

    def on_mount(self) -> None:
        self.theme_changed_signal.subscribe(self, self._theme_is_ansi)
        if not self.is_headless and self.console.color_system in ("standard", "windows") and not self.no_color:
            # 16 colours: the terminal's own palette, not truecolours rounded to it.
            self.theme = "ansi-dark"
        self._theme_is_ansi()
        self.push_screen(MainScreen())

    # -- keys typed ahead ------------------------------------------------------
    #
    # Textual hands a key to the focused widget and runs a screen's binding
    # only when the key comes back up to the app, so keys that arrive together
    # are all given to the widget that had focus before the first one acted
    # (a dialog it opened, a field it focused, never see them). Here each key
    # is followed by a barrier key taking the same way; until it is back,
    # later keys wait in line, and they also wait while the screen on top is
    # being built or says it is not ready for keys.

    def _ready_for_keys(self) -> bool:
        """Can the screen on top take a key now (built, and not waiting for its data)?"""
        try:
            screen = self.screen
        except Exception:
            return False
        return screen.is_mounted and getattr(screen, "accepts_keys", True) is not False

    def _key_in_flight(self) -> bool:
        # A barrier some widget swallowed must not hold the keys for ever.
        return self._in_flight_since is not None and monotonic() - self._in_flight_since < 1.0

    def _holds(self, event: events.Key) -> bool:
        if event.key in self.ALWAYS_PASS:
            return False
        if self._held_keys or self._releasing or self._key_in_flight():
            return True  # behind keys not handled yet
        if self._ready_for_keys():
            return False
        # Keys a screen lets through while it waits for data (q quits a slow start).
        screen = self.screen
        return not (screen.is_mounted and event.key in getattr(screen, "PASS_WHILE_LOADING", ()))

    async def on_event(self, event: events.Event) -> None:
        if not isinstance(event, events.Key):
            await super().on_event(event)
            return
        if event.key == self._BARRIER:
            if event.is_forwarded:  # back from its trip: the key before it was handled
                self._in_flight_since = None
                self.keys_handled += 1
                self._barrier.set()
                self._start_release()
            else:
                await super().on_event(event)
            return
        if event.is_forwarded:  # a key coming back up from the widgets
            await super().on_event(event)
            return
        if id(event) in self._replayed:
            self._replayed.discard(id(event))
            if id(event) in self._fast_replays:  # a character for a field: handled once it is given to it
                self._fast_replays.discard(id(event))
                await super().on_event(event)
                self.keys_handled += 1
                return
        elif self._holds(event):
            self._held_keys.append(event)
            self._start_release()
            return
        elif self._typed_into_field(event):
            # Typed into a field: the field takes it on the way down and runs
            # no binding, so the next key cannot go astray. No barrier: a paste
            # (without bracketed paste) goes in at full speed.
            await super().on_event(event)
            self.keys_handled += 1
            return
        else:
            self._in_flight_since = monotonic()
            await super().on_event(event)
            self.post_message(events.Key(self._BARRIER, None))
            return
        await super().on_event(event)

    def _typed_into_field(self, event: events.Key) -> bool:
        """Is this a character for the focused text field (no binding can act on it)?"""
        return (
            event.is_printable
            and isinstance(self.focused, (Input, TextArea))
            and not getattr(self.focused, "read_only", False)
            and event.key not in self._priority_keys()
        )

    def _priority_keys(self) -> set[str]:
        """Keys a priority binding of the screen takes even from a field (a dialog's y and n)."""
        keys: set[str] = set()
        for owner in (type(self.screen), type(self)):
            for binding in owner.BINDINGS:
                if isinstance(binding, Binding) and binding.priority:
                    keys.update(key.strip() for key in binding.key.split(","))
        return keys

    def _start_release(self) -> None:
        if self._held_keys and not self._releasing:
            self._releasing = True
            self.run_worker(self._release_keys(), group="held-keys", exclusive=True)

    async def _release_keys(self) -> None:
        """Replay the held keys in order, each once the screen is ready and the one before was handled."""
        try:
            waited_since = monotonic()
            while self._held_keys:
                ready = self._ready_for_keys() and not self._key_in_flight()
                if not ready and monotonic() - waited_since < self.KEY_HOLD_LIMIT:
                    await asyncio.sleep(0.005)
                    continue
                held = self._held_keys.popleft()
                replay = events.Key(held.key, held.character)
                self._replayed.add(id(replay))
                if self._typed_into_field(held):
                    self._fast_replays.add(id(replay))
                    self.post_message(replay)  # a field takes it: nothing to wait for
                    await asyncio.sleep(0)
                    continue
                self._barrier.clear()
                self._in_flight_since = monotonic()
                self.post_message(replay)
                self.post_message(events.Key(self._BARRIER, None))
                try:
                    await asyncio.wait_for(self._barrier.wait(), timeout=1.0)
                except TimeoutError:
                    self._in_flight_since = None  # a widget stopped it: go on
                waited_since = monotonic()
        finally:
            self._releasing = False

    def discard_held_keys(self) -> None:
        """Forget the keys typed ahead (they were meant for a program that takes the terminal)."""
        self._held_keys.clear()

    # -- toasts never interpret markup: messages carry names from the database --

    #: A toast longer than this is cut (an error can quote a whole value).
    TOAST_MAX_CHARS = 600

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        # Control characters are drawn visibly, here too: an error message can quote data.
        text = str(message)
        if len(text) > self.TOAST_MAX_CHARS:
            text = text[: self.TOAST_MAX_CHARS - 1] + "…"
        shown = "\n".join(visible(line) for line in text.split("\n"))
        self.toasts.append((shown, severity))
        super().notify(shown, title=visible(title), severity=severity, timeout=timeout, markup=False)

    def action_help_quit(self) -> None:
        """ctrl+c: say how to quit, in plain words.

        Textual's own notice is markup (``Press [b]q[/b] to quit``), and
        toasts here never interpret markup.
        """
        keys = [key for key, active in self.active_bindings.items() if active.binding.action in ("quit", "app.quit")]
        key = "q" if "q" in keys else keys[0] if keys else "ctrl+q"
        self.notify(f"Press {key} to quit.", title="Do you want to quit?")

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
        """The palette: the registry's actions for ``screen``, then Textual's own (theme, quit...)."""
        scope = {MainScreen: Scope.MAIN, CompareScreen: Scope.COMPARE}.get(type(screen))
        for action in palette_actions(scope):
            assert action.palette is not None
            title, description = action.palette
            # Through run_action, as a key would: the owner's check_action still applies.
            owner = self if action.owner == "app" else screen
            yield SystemCommand(
                title, f"{description} ({action.palette_key_text})", partial(owner.run_action, action.name)
            )
        yield from super().get_system_commands(screen)
