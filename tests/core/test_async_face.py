"""The service's async face (AsyncAgentService): the same operations, awaited, their work on threads."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kaizen_tui.service import AgentService, AsyncAgentService

#: Methods of the service that the face does not await: they read no data.
NOT_AWAITED = {"watch_changes"}


def test_the_face_has_every_operation_of_the_service_with_its_parameters() -> None:
    operations = [
        name
        for name, method in inspect.getmembers(AgentService, inspect.isfunction)
        if not name.startswith("_") and name not in NOT_AWAITED
    ]
    assert len(operations) > 50
    for name in operations:
        face = getattr(AsyncAgentService, name, None)
        assert face is not None, f"AsyncAgentService has no {name}"
        assert inspect.signature(face) == inspect.signature(getattr(AgentService, name)), name


@pytest.mark.sqlite_only  # it only hops threads: the backend does not matter
def test_a_call_runs_off_the_loop_and_ends_even_when_its_caller_gave_up(db_path: Path, agent_data: dict) -> None:
    """``await face.x()`` runs ``service.x()`` on another thread. A call asked for is made even if the
    task awaiting it is cancelled while it waits for a thread, and ``asyncio.run`` returns once it is done."""
    service = AgentService(str(db_path))
    face = AsyncAgentService(service)
    service.check_name = lambda *args, **kwargs: threading.get_ident()  # type: ignore[method-assign]

    async def caller_gives_up() -> str:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        assert await face.check_name("x") != threading.get_ident()  # the instance's method, on a thread
        agent = await face.create_agent(agent_data)
        gate = threading.Event()
        busy = loop.run_in_executor(None, gate.wait, 60)  # the one thread is taken: the snapshot waits its turn
        task = asyncio.ensure_future(face.create_version(agent["id"], "while the caller leaves"))
        await asyncio.sleep(0)  # asked for
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        await busy
        return str(agent["id"])

    try:
        agent_id = asyncio.run(caller_gives_up())
        versions = service.get_versions(agent_id)
        assert [version["changelog"] for version in versions] == ["while the caller leaves"]
    finally:
        service.close()


@pytest.mark.sqlite_only  # the script holds SQLite's lock, so that its snapshot is still waiting when it ends
def test_a_write_under_way_when_an_asyncio_script_ends_is_committed(db_path: Path, agent_data: dict) -> None:
    """A script that neither awaits nor closes: the snapshot it started still lands, whole."""
    setup = AgentService(str(db_path))
    agent_id = setup.create_agent(agent_data)["id"]
    setup.close()
    script = f"""
import asyncio, sqlite3, threading
from kaizen_tui.service import AgentService, AsyncAgentService

blocker = sqlite3.connect({str(db_path)!r}, isolation_level=None, check_same_thread=False)
blocker.execute("BEGIN IMMEDIATE")  # the snapshot must wait for this lock
threading.Timer(0.5, lambda: blocker.execute("COMMIT")).start()
service = AsyncAgentService(AgentService({str(db_path)!r}))

async def main():
    asyncio.ensure_future(service.create_version({agent_id!r}, "started, never awaited"))
    await asyncio.sleep(0.05)  # it is waiting for the lock when the script ends

asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    check = AgentService(str(db_path))
    try:
        versions = check.get_versions(agent_id)
        assert [version["changelog"] for version in versions] == ["started, never awaited"]
    finally:
        check.close()
