"""Helpers shared by the TUI tests (no tests here): data, a frozen clock, waiting for workers."""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from kaizen_tui.core.schema import snapshot_json
from kaizen_tui.service import AgentService, agent_config
from kaizen_tui.tui.testing import settle

__all__ = ["settle"]  # the tests import it from here with the other helpers

#: "Now" for every TUI test: after the demo's history (Sept–Nov 2026).
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


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


async def seed_small(service: AgentService) -> dict[str, Any]:
    """Two agents: Support Agent (v1..v3, live = v3) and Billing Bot (v1, live edited since).

    Returns the ids: ``support``, ``billing``, ``support_versions`` (v1, v2, v3).
    """
    service.clock = Clock()
    support = await service.create_agent(
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
    v1 = await service.create_version(support["id"], "First version")
    await service.update(support["id"], {"system_prompt": PROMPT_V2, "temperature": 0.5})
    v2 = await service.create_version(support["id"], "Friendlier prompt, cooler temperature")
    await service.update(support["id"], {"max_tokens": 2048})
    v3 = await service.create_version(support["id"], "Longer answers")
    billing = await service.create_agent(
        {"name": "Billing Bot", "agent_type": "task", "model_id": "gpt-4o-mini", "system_prompt": "Explain invoices."}
    )
    await service.create_version(billing["id"], "Initial")
    await service.update(billing["id"], {"temperature": 0.2})
    return {"support": support["id"], "billing": billing["id"], "support_versions": [v1["id"], v2["id"], v3["id"]]}


def damage_version(db_path: Path, version_id: str, text: str = '{"name": "broken"') -> None:
    """Overwrite a stored snapshot as another tool might (test only)."""
    with sqlite3.connect(db_path) as connection:
        connection.execute("UPDATE agent_version SET config_snapshot = ? WHERE id = ?", (text, version_id))


async def long_history(service: AgentService, db_path: Path, count: int, name: str = "Busy Bot") -> dict[str, Any]:
    """An agent with ``count`` versions, written straight into the database (quick for thousands).

    The rows are what the service writes: ``ver-`` ids, canonical snapshots,
    the agent's version counter. Version n has ``max_tokens = n`` and the
    changelog ``step n``; the live config equals the newest version. Returns
    the agent as the service describes it.
    """
    agent = await service.create_agent({"name": name, "model_id": "gpt-4o", "system_prompt": "Be busy."})
    config = agent_config(agent)
    first = datetime(2026, 9, 1, tzinfo=timezone.utc)
    rows = [
        (
            "ver-" + uuid.uuid4().hex,
            agent["id"],
            number,
            snapshot_json({**config, "max_tokens": number}),
            f"step {number}",
            "tester",
            (first + timedelta(minutes=number)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for number in range(1, count + 1)
    ]
    with sqlite3.connect(db_path) as connection:
        connection.executemany(
            "INSERT INTO agent_version (id, agent_id, version_number, config_snapshot, changelog, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        connection.execute(
            "UPDATE agent SET last_version_number = ?, max_tokens = ? WHERE id = ?", (count, count, agent["id"])
        )
    return await service.get(agent["id"])


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


async def press(pilot: Any, *keys: str) -> None:
    """Press keys as a quick typist would, then let the work they started finish.

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
    await settle(pilot)


async def burst(pilot: Any, *keys: str) -> None:
    """Keys arriving all at once (a paste, or keys typed over a slow SSH link), then let the work finish.

    Unlike :func:`press`, nothing is waited for between the keys: they are
    all in the app's queue before the first one is handled.
    """
    for key in keys:
        pilot.app.post_message(key_event(key))
    await settle(pilot)


def slow_down(service: AgentService, delay: float = 0.1) -> AgentService:
    """Make every call of ``service`` take ``delay`` seconds longer, in its worker thread.

    Like a slow disk or a busy database: the time passes inside the thread,
    so cancelling the coroutine that waits for it does not stop the work.
    """
    for name, method in inspect.getmembers(type(service), inspect.iscoroutinefunction):
        blocking = getattr(method, "__wrapped__", None)
        if name.startswith("_") or blocking is None:
            continue

        def slow(*args: Any, _blocking: Any = blocking, **kwargs: Any) -> Any:
            def work() -> Any:
                time.sleep(delay)
                return _blocking(service, *args, **kwargs)

            return asyncio.to_thread(work)

        setattr(service, name, slow)
    return service
