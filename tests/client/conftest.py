"""Fixtures of the client tests: real ``kaizen-tui serve`` processes, on SQLite and on PostgreSQL.

``kaizen`` is one server per module and backend (the module's tests run once
on each), with a read token made for the client, and an in-process service on
the same database through which the tests change what the server serves
(labels moved, versions made). A test that stops a server starts its own on
the same database (:meth:`Kaizen.server`), and may start it again on the
same port. Requests are counted from the server's request log, one line per
request (method, path without the query string, status).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaizen_tui.service import AgentService
from tests.api.conftest import SERVER_DEADLINE, Server, running_server

PROMPT = "You are the support assistant for Acme Cloud.\nNever promise refunds."


@contextmanager
def serving(db: str, folder: Path, port: int | None = None) -> Iterator[Server]:
    """``kaizen-tui --db DB serve`` on ``port`` (a free one by default) until ``/healthz`` answers; stopped after."""
    stderr_path = folder / f"server-{uuid.uuid4().hex[:6]}.stderr"
    with running_server(db, stderr_path, port=port) as server:
        yield server


def config_requests(server: Server, agent: str) -> list[str]:
    """The statuses of the ``GET .../agents/AGENT/config`` requests the server has logged, in order.

    A request to a path of its own is sent first and waited for: every request
    sent before it has been logged by then.
    """
    marker = f"/marker-{uuid.uuid4().hex}"
    httpx.get(server.url + marker, timeout=SERVER_DEADLINE)
    deadline = time.monotonic() + SERVER_DEADLINE
    while f"GET {marker} " not in server.stderr():
        assert time.monotonic() < deadline, "the server did not log a request"
        time.sleep(0.01)
    wanted = re.compile(rf" GET /api/v1/agents/{re.escape(agent)}/config(?:\?\S*)? (\d{{3}}) ")
    return [found.group(1) for line in server.stderr().splitlines() if (found := wanted.search(line))]


@dataclass
class Kaizen:
    """A database with a read token, the module's server on it, and a service to change it with."""

    db: str
    folder: Path
    token: str
    service: AgentService
    shared: Server
    _names: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.shared.url

    def server(self, port: int | None = None) -> Any:
        """Another server on the same database (a context manager), for a test to stop."""
        return serving(self.db, self.folder, port)

    def agent(self, prefix: str = "agent", **fields: Any) -> dict[str, Any]:
        """A new agent with a unique name without spaces (so the request log's lines can be matched)."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        data = {"name": name, "model_id": "gpt-4o", "system_prompt": PROMPT, "extra": {"tools": ["search"]}}
        data.update(fields)
        return self.service.create_agent(data)

    def snapshot(self, agent: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Change the live config (if asked) and save it as a new version; the version."""
        if changes:
            self.service.update(agent["id"], changes)
        return self.service.create_version(agent["id"], "test")

    def set_label(self, agent: dict[str, Any], label: str, version: int) -> None:
        self.service.set_label(agent["id"], label, version)

    def remove_label(self, agent: dict[str, Any], label: str) -> None:
        self.service.remove_label(agent["id"], label)


@pytest.fixture(scope="module")
def kaizen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kaizen]:
    """One server per module, on a new SQLite database with a read token named agent-runtime.

    The client never meets the backend (it reads HTTP): what the server
    answers on PostgreSQL is the service's, tested on both in tests/core.
    """
    folder = tmp_path_factory.mktemp("client")
    db = str(folder / "kaizen.db")
    service = AgentService(db, user="tester")
    try:
        token = service.create_token("agent-runtime", "read")["token"]
        with serving(db, folder) as server:
            yield Kaizen(db, folder, token, service, server)
        assert token not in server.stderr()
    finally:
        service.close()
