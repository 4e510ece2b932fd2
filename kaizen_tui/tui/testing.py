"""Driving the app headless (``App.run_test``): used by the tests and by
scripts/screenshots.py, never by the app itself."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

#: The longest settle() waits for the work it sees, in all.
SETTLE_DEADLINE_SECONDS = 20.0


async def settle(pilot: Any, *, ignoring: Collection[str] = ()) -> None:
    """Let loads finish: wait for running workers (not the ones waiting on a dialog), and for the work
    waiting for the screen's next refresh.

    ``pilot`` is the Textual ``Pilot`` of ``KaizenApp.run_test()``. Returns
    once two pauses in a row found nothing running, or after 12 rounds.
    ``ignoring``: groups of workers a test holds back on purpose (a slow
    preview), which are not waited for.
    """
    from kaizen_tui.tui.screens.main import ACTIONS
    from kaizen_tui.tui.screens.modals import EDITOR_SAVE

    app = pilot.app
    loop = asyncio.get_running_loop()
    # A worker that never ends (a dialog it waits on that the test never
    # answers) must fail the test's next assertion, not hang the suite.
    deadline = loop.time() + SETTLE_DEADLINE_SECONDS
    quiet = 0
    for _ in range(12):
        # Messages handled, then a short breath for what they scheduled (timers, refreshes).
        await pilot.pause(0.01)
        # Actions (and the in-app editor's save) wait on a dialog while one is
        # open above their screen; on their screen they work.
        pending = [
            worker
            for worker in app.workers
            if worker.is_running
            and worker.group not in ignoring
            and (worker.group not in (ACTIONS, EDITOR_SAVE) or _screen_of(worker.node) is app.screen)
        ]
        if not pending and getattr(app.screen, "_callbacks", None):
            # Work waiting for the screen's next refresh (call_after_refresh: a
            # layout measured once drawn): let it run before calling it quiet.
            quiet = 0
            try:
                await asyncio.wait_for(app.screen.wait_for_refresh(), max(0.01, deadline - loop.time()))
            except TimeoutError:
                return
            continue
        if pending:
            quiet = 0
            # Wait for them, but look again as soon as another screen is on top: an action's
            # worker that opens a dialog meanwhile (after $EDITOR ran, say) then waits on that
            # dialog, which waits for the test's next key. Waiting on it here would never end.
            screen = app.screen
            while any(worker.is_running for worker in pending) and app.screen is screen:
                if loop.time() > deadline:
                    return
                await asyncio.sleep(0.005)
            continue
        quiet += 1
        if quiet == 2:
            return


def _screen_of(node: Any) -> Any:
    from textual.screen import Screen

    return node if isinstance(node, Screen) else getattr(node, "screen", None)


class _ShownAs:
    """A database that gives the TUI another name to show, and is the real one for everything else."""

    def __init__(self, database: Any, shown: str) -> None:
        self._database = database
        self.display_name = shown

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


def show_database_as(service: Any, shown: object) -> None:
    """Make the app's header show ``shown`` as the database of ``service`` (an ``AgentService``).

    Screenshots and snapshot tests run on a temporary file whose path
    changes from run to run; the data is still read from that file.
    """
    service.store = _ShownAs(service.store, str(shown))
