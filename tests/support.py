"""Helpers shared by the tests (no tests here): data, raw writes, a frozen clock, the app, the CLI.

Fixtures live in ``conftest.py``; this module holds plain functions and
classes, imported as ``from tests.support import ...``. It does not import
Textual: the TUI helpers import the app when they are called, so the core,
store and CLI tests never load the TUI.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import sqlite3
import stat
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kaizen_tui.core.names import name_key
from kaizen_tui.core.schema import content_hash, snapshot_json
from kaizen_tui.service import AgentService, agent_config
from kaizen_tui.tui.testing import settle

if TYPE_CHECKING:
    import pytest

    from kaizen_tui.tui.app import KaizenApp
    from kaizen_tui.tui.screens.main import MainScreen

__all__ = [
    "NOW",
    "PROMPT_V1",
    "PROMPT_V2",
    "SIZE",
    "Clock",
    "Result",
    "Runner",
    "TtyStringIO",
    "at_once",
    "audit_actions",
    "burst",
    "cli_runner",
    "database_rows",
    "fake_editor",
    "frozen_now",
    "holding_the_write_lock",
    "impatient_writers",
    "key_event",
    "live_agent",
    "long_history",
    "main_screen",
    "make_app",
    "open_agent",
    "press",
    "raw_sql",
    "running_app",
    "screen_text",
    "seed_small",
    "settle",  # re-exported: the TUI tests import it from here with the other helpers
    "slow_down",
    "toasts",
    "write_raw_snapshot",
]

# -- running the service --------------------------------------------------------------


def at_once(*calls: Callable[[], Any], exceptions: bool = False) -> list[Any]:
    """Run ``calls`` on threads of their own, let go together, as several people or requests at once.

    Returns what each returned, in order. An exception one raised is raised
    here, or with ``exceptions`` put in its place in the list.
    """
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        except Exception as error:
            if not exceptions:
                raise
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def live_agent(db_path: Path, agent_id: str) -> dict[str, Any]:
    """The agent as a fresh service on ``db_path`` reads it (the service is closed again)."""
    service = AgentService(str(db_path))
    try:
        return service.get(agent_id)
    finally:
        service.close()


def audit_actions(service: AgentService, action: str, agent_id: str | None = None) -> int:
    """How many audit events of ``action`` there are (of one agent, if given), among the newest 1,000."""
    return sum(1 for event in service.audit_log(agent_id, limit=1000) if event["action"] == action)


# -- data -----------------------------------------------------------------------------

#: "Now" for every TUI test: after the demo's history (Sept–Nov 2026).
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def frozen_now() -> datetime:
    return NOW


class Clock:
    """A service clock that moves one hour per call, from 2026-11-01."""

    def __init__(self) -> None:
        self.hour = 0

    def __call__(self) -> str:
        self.hour += 1
        day, hour = divmod(self.hour, 24)
        return f"2026-11-{1 + day:02d}T{hour:02d}:00:00Z"


PROMPT_V1 = "You are the support assistant for Acme.\nAnswer briefly.\nNever promise refunds."
PROMPT_V2 = "You are the support assistant for Acme Cloud.\nAnswer briefly and politely.\nNever promise refunds."


def seed_small(service: AgentService) -> dict[str, Any]:
    """Two agents: Support Agent (v1..v3, live = v3) and Billing Bot (v1, live edited since).

    Returns the ids: ``support``, ``billing``, ``support_versions`` (v1, v2, v3).
    """
    service.clock = Clock()
    support = service.create_agent(
        {
            "name": "Support Agent",
            "description": "Handles inquiries",
            "agent_type": "chat",
            "status": "active",
            "system_prompt": PROMPT_V1,
            "model_id": "gpt-4o",
            "temperature": 0.7,
            "max_tokens": 1024,
        }
    )
    v1 = service.create_version(support["id"], "First version")
    service.update(support["id"], {"system_prompt": PROMPT_V2, "temperature": 0.5})
    v2 = service.create_version(support["id"], "Friendlier prompt, cooler temperature")
    service.update(support["id"], {"max_tokens": 2048})
    v3 = service.create_version(support["id"], "Longer answers")
    billing = service.create_agent(
        {"name": "Billing Bot", "agent_type": "task", "model_id": "gpt-4o-mini", "system_prompt": "Explain invoices."}
    )
    service.create_version(billing["id"], "Initial")
    service.update(billing["id"], {"temperature": 0.2})
    return {"support": support["id"], "billing": billing["id"], "support_versions": [v1["id"], v2["id"], v3["id"]]}


def long_history(service: AgentService, db_path: Path, count: int, name: str = "Busy Bot") -> dict[str, Any]:
    """An agent with ``count`` versions, written straight into the database (quick for thousands).

    The rows are what the service writes: ``ver-`` ids, canonical snapshots,
    the agent's version counter. Version n has ``max_tokens = n`` and the
    changelog ``step n``; the live config equals the newest version. Returns
    the agent as the service describes it.
    """
    agent = service.create_agent({"name": name, "model_id": "gpt-4o", "system_prompt": "Be busy."})
    config = agent_config(agent)
    first = datetime(2026, 9, 1, tzinfo=UTC)
    rows = [
        (
            "ver-" + uuid.uuid4().hex,
            agent["id"],
            number,
            snapshot_json({**config, "max_tokens": number}),
            f"step {number}",
            "tester",
            (first + timedelta(minutes=number)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            content_hash({**config, "max_tokens": number}),
        )
        for number in range(1, count + 1)
    ]
    with raw_sql(db_path) as connection:
        connection.executemany(
            "INSERT INTO agent_version "
            "(id, agent_id, version_number, config_snapshot, changelog, created_by, created_at, content_hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute(
            "UPDATE agent SET last_version_number = ?, max_tokens = ?, content_hash = ? WHERE id = ?",
            (count, count, content_hash({**config, "max_tokens": count}), agent["id"]),
        )
    return service.get(agent["id"])


class RawConnection:
    """A DB-API connection to the test's database, on either backend, taking SQLite's ``?`` parameters."""

    def __init__(self, connection: Any, postgres: bool) -> None:
        self.connection = connection
        self.postgres = postgres

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def execute(self, statement: str, parameters: Sequence[Any] = ()) -> Any:
        return self.connection.execute(self._sql(statement), parameters)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.postgres:
            with self.connection.cursor() as cursor:
                cursor.executemany(self._sql(statement), list(rows))
        else:
            self.connection.executemany(statement, rows)


@contextmanager
def raw_sql(db_path: Path | str) -> Iterator[RawConnection]:
    """Write to the database the way another tool could, around the service (test only); commits at the end."""
    target = str(db_path)
    if target.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(target) as connection:
            yield RawConnection(connection, postgres=True)
        return
    connection = sqlite3.connect(target)
    try:
        with connection:
            yield RawConnection(connection, postgres=False)
    finally:
        connection.close()


def database_rows(db_path: Path | str) -> list[tuple[str, list[str]]]:
    """Every row of every table, as text: equal results, unchanged database (either backend)."""
    postgres = str(db_path).startswith("postgresql://")
    tables_query = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1"
        if postgres
        else "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    )
    with raw_sql(db_path) as connection:
        tables = [row[0] for row in connection.execute(tables_query).fetchall()]
        return [(table, sorted(map(repr, connection.execute(f"SELECT * FROM {table}").fetchall()))) for table in tables]


@contextmanager
def holding_the_write_lock(db_path: Path | str) -> Iterator[None]:
    """Another process's write transaction, open for as long as the block runs (either backend)."""
    if str(db_path).startswith("postgresql://"):
        import psycopg

        from kaizen_tui.store.postgres import WRITE_LOCK_KEY

        with psycopg.connect(str(db_path), autocommit=True) as holder:
            holder.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
            try:
                yield
            finally:
                holder.execute("ROLLBACK")
        return
    holder = sqlite3.connect(db_path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
    finally:
        holder.close()


def impatient_writers(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Writers give up waiting for another's lock after ``seconds`` (both backends; for new connections)."""
    from kaizen_tui.store import postgres, sqlite

    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_SECONDS", seconds)
    monkeypatch.setattr(postgres, "LOCK_TIMEOUT_SECONDS", seconds)


def rename_as_an_older_tool(db_path: Path | str, agent_id: str, name: str) -> None:
    """Give an agent a name today's rules refuse to new names ("/", control characters), as an older
    kaizen-tui could have: such agents stay, shown safely and reached by id (test only)."""
    with raw_sql(db_path) as connection:
        statement = "UPDATE agent SET name = ?, name_key = ? WHERE id = ?"
        changed = connection.execute(statement, (name, name_key(name), agent_id)).rowcount
    assert changed == 1, f"no agent {agent_id!r} in {db_path}"


def write_raw_snapshot(db_path: Path, version: str | tuple[str, int], text: str = '{"name": "broken"') -> None:
    """Overwrite a stored snapshot the way another tool could: straight into the file (test only).

    ``version`` is a version id, or ``(agent id, version number)``. The
    default text is cut off mid-object: not valid JSON.
    """
    if isinstance(version, tuple):
        where, key = "agent_id = ? AND version_number = ?", version
    else:
        where, key = "id = ?", (version,)
    with raw_sql(db_path) as connection:
        statement = f"UPDATE agent_version SET config_snapshot = ? WHERE {where}"
        changed = connection.execute(statement, (text, *key)).rowcount
    assert changed == 1, f"no version {version!r} in {db_path}"


# -- the TUI --------------------------------------------------------------------------

#: The terminal size of most Pilot tests.
SIZE = (100, 30)


def make_app(service: AgentService) -> KaizenApp:
    """The app on ``service``, its clock frozen at :data:`NOW`."""
    from kaizen_tui.tui.app import KaizenApp

    return KaizenApp(service, now=frozen_now)


@asynccontextmanager
async def running_app(
    service: AgentService, *, size: tuple[int, int] = SIZE, agent: str | None = None, **options: Any
) -> AsyncIterator[Any]:
    """The app on ``service`` run under Pilot, once its first load is done; yields the pilot.

    ``agent``: go to that agent's timeline first (:func:`open_agent`).
    ``options`` go to ``run_test`` (``notifications=True``...).
    """
    async with make_app(service).run_test(size=size, **options) as pilot:
        await settle(pilot)
        if agent is not None:
            await open_agent(pilot, agent)
        yield pilot


def main_screen(app: KaizenApp) -> MainScreen:
    """The main screen, under whatever dialog is open."""
    from kaizen_tui.tui.screens.main import MainScreen

    return next(screen for screen in app.screen_stack if isinstance(screen, MainScreen))


async def open_agent(pilot: Any, name: str) -> MainScreen:
    """Put the agents cursor on ``name`` and go to its timeline."""
    screen = main_screen(pilot.app)
    table = screen.agents_table
    names = [agent["name"] for agent in table.agents]
    table.move_cursor(row=names.index(name))
    await settle(pilot)
    await press(pilot, "enter")
    assert screen.focused is screen.timeline
    return screen


def toasts(app: KaizenApp, severity: str | None = None) -> list[str]:
    """The messages of the notifications shown so far (of one severity, if given)."""
    return [message for message, shown in app.toasts if severity is None or shown == severity]


def screen_text(app: KaizenApp) -> str:
    """Everything the screen on top would send to the terminal, as text."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip if not segment.control) for strip in strips)


def key_event(key: str) -> Any:
    """The event a terminal sends for ``key`` (a name like ``enter`` or ``question_mark``, or a character)."""
    import unicodedata

    from textual import events
    from textual.keys import _character_to_key, _get_unicode_name_from_key

    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        character: str | None = unicodedata.lookup(_get_unicode_name_from_key(key))
    except KeyError:
        character = key if len(key) == 1 else None
    return events.Key(key, character)


async def press(pilot: Any, *keys: str, ignoring: Collection[str] = ()) -> None:
    """Press keys as a quick typist would, then let the work they started finish (but ``ignoring``, see settle).

    Each key is sent once the one before it has been handled (not once the
    work it started is done): the app must cope with keys arriving before
    earlier loads finish, and pressing them without waiting for those is
    part of what these tests check.
    """
    app = pilot.app
    for key in keys:
        handled = app.keys_handled
        app.post_message(key_event(key))
        if key in app.ALWAYS_PASS:
            await pilot.pause()
            continue
        for _ in range(1000):  # a key that quits never comes back: at most ~2 s
            if app.keys_handled > handled:
                break
            await asyncio.sleep(0.002)
    await settle(pilot, ignoring=ignoring)


async def burst(pilot: Any, *keys: str) -> None:
    """Keys arriving all at once (a paste, or keys typed over a slow SSH link), then let the work finish.

    Unlike :func:`press`, nothing is waited for between the keys: they are
    all in the app's queue before the first one is handled.
    """
    for key in keys:
        pilot.app.post_message(key_event(key))
    await settle(pilot)


def fake_editor(tmp_path: Path, script: str) -> str:
    """A fake $EDITOR (for ``VISUAL`` or ``EDITOR``): ``script`` run by this Python on the file to edit.

    The script starts with ``pathlib`` and ``sys`` imported; the file's path
    is ``sys.argv[1]``. Returns the command to set.
    """
    path = tmp_path / "fake_editor.py"
    path.write_text("import pathlib, sys\n" + script)
    runner = tmp_path / "fake-editor"
    runner.write_text(f'#!/bin/sh\nexec {sys.executable} {path} "$@"\n')
    runner.chmod(runner.stat().st_mode | stat.S_IEXEC)
    return str(runner)


def slow_down(service: AgentService, delay: float = 0.1) -> AgentService:
    """Make every call of ``service`` take ``delay`` seconds longer, in the thread that makes it.

    Like a slow disk or a busy database: the time passes inside the call, on
    the worker's thread, so cancelling the task that waits for it does not
    stop the work.
    """
    for name, method in inspect.getmembers(type(service), inspect.isfunction):
        if name.startswith("_") or name in ("close", "close_discarding_new", "watch_changes"):
            continue

        def slow(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            time.sleep(delay)
            return _method(service, *args, **kwargs)

        setattr(service, name, slow)
    return service


# -- the command line -------------------------------------------------------------------


@dataclass
class Result:
    code: int
    out: str
    err: str


Runner = Callable[..., Result]


class TtyStringIO(io.StringIO):
    """A stream that says it is a terminal: for colour and ``Proceed?`` prompts."""

    def isatty(self) -> bool:
        return True


def cli_runner(capsys: pytest.CaptureFixture[str], db_path: Path) -> Runner:
    """Run ``kaizen-tui --db <db_path> ARGS...`` in-process, returning the exit code and what it printed."""

    from kaizen_tui.cli import main

    def run(*argv: str) -> Result:
        code = main(["--db", str(db_path), *argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
