"""Fixtures of the HTTP API tests: tokens, the framework's test client, and a real server.

Most tests drive ``kaizen_tui.api.app.asgi_app(service)`` (the app with its
Guard middleware) through FastAPI's ``TestClient``; the tests in
``test_http.py`` start ``kaizen-tui serve`` as a process on a free port and
talk to it over real sockets.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kaizen_tui.api.app import asgi_app
from kaizen_tui.service import AgentService

PROBLEM_TYPE = "application/problem+json"
JSON_TYPE = "application/json"
#: The program the tests start, from the virtual environment they run in.
KAIZEN = Path(sys.executable).parent / "kaizen-tui"
#: One line of the request log: time, method, path and query string, status, duration, actor.
LOG_LINE = re.compile(
    r"^\S+ (?P<method>[A-Z]+) (?P<path>/[^\s?]*)(?:\?(?P<query>\S*))? (?P<status>\d{3}) [\d.]+ms actor=(?P<actor>\S+)$"
)
#: How long a server may take to start or stop before a test gives up on it.
SERVER_DEADLINE = 30.0


# -- tokens and the test client ---------------------------------------------------


#: The token of each role, by name: the actor the audit log and created_by show.
TOKEN_NAMES = {"read": "reader", "write": "ci-bot", "admin": "boss"}


@dataclass(frozen=True)
class Tokens:
    """The secret of one token of each role (named as :data:`TOKEN_NAMES` says)."""

    secrets: dict[str, str]

    def header(self, role: str) -> dict[str, str]:
        return bearer(self.secrets[role])


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_tokens(service: AgentService) -> Tokens:
    return Tokens({role: service.create_token(name, role)["token"] for role, name in TOKEN_NAMES.items()})


@pytest.fixture
def tokens(service: AgentService) -> Tokens:
    """A read, a write and an admin token (named reader, ci-bot and boss)."""
    return make_tokens(service)


@pytest.fixture
def client(service: AgentService) -> Iterator[TestClient]:
    """The app as a server runs it (with its Guard), tokens checked on every request (no cache).

    A server error comes back as a 500 response, not as an exception: the
    tests see what a client would.
    """
    with TestClient(asgi_app(service, token_cache_seconds=0), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def writer(client: TestClient, tokens: Tokens) -> TestClient:
    """The client, sending the write token (ci-bot) with every request."""
    client.headers.update(tokens.header("write"))
    return client


@pytest.fixture
def agent(writer: TestClient, agent_data: dict[str, Any]) -> dict[str, Any]:
    """Support Agent, created over the API by ci-bot (no versions yet)."""
    response = writer.post("/api/v1/agents", json=agent_data)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem of this status and code, with a sentence and no traceback; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_TYPE, response.headers
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


@contextmanager
def nothing_written(service: AgentService) -> Iterator[None]:
    """Assert the block changes nothing in the database: no audit event, the same agents and versions."""

    def state() -> tuple[int, list[dict[str, Any]], list[list[dict[str, Any]]]]:
        agents = service.list_agents()
        versions = [service.get_versions(agent["id"]) for agent in agents]
        return service.change_marker(), agents, versions

    before = state()
    yield
    assert state() == before


# -- a real server ------------------------------------------------------------------


def free_port() -> int:
    """A port nothing listens on now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def program_environment(home: Path) -> dict[str, str]:
    """The environment of a started program: no developer database, user or colours."""
    environment = {key: value for key, value in os.environ.items() if key not in ("KAIZEN_DB", "NO_COLOR")}
    environment.update({"KAIZEN_USER": "tester", "XDG_DATA_HOME": str(home / "xdg-data")})
    return environment


def run_kaizen(db: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``kaizen-tui --db DB ARGV...`` as a process."""
    return subprocess.run(
        [str(KAIZEN), "--db", str(db), *argv],
        capture_output=True,
        text=True,
        check=False,
        env=program_environment(db.parent),
        timeout=SERVER_DEADLINE,
    )


@dataclass
class Server:
    """A running ``kaizen-tui serve``: its address and what it wrote on stderr."""

    process: subprocess.Popen[bytes]
    port: int
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self, containing: str = "") -> list[str]:
        """The request log lines written so far (not the start banner nor warnings), those ``containing`` text."""
        return [line for line in self.stderr().splitlines() if LOG_LINE.match(line) and containing in line]

    def wait_for_log_lines(self, count: int, containing: str = "") -> list[str]:
        """The log lines once there are at least ``count`` (a line is written just after its response is sent)."""
        deadline = time.monotonic() + SERVER_DEADLINE
        while len(lines := self.log_lines(containing)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return lines


@contextmanager
def running_server(
    db: Path | str, stderr_path: Path, *, port: int | None = None, serve_args: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Start ``kaizen-tui --db DB serve --port PORT [SERVE_ARGS]`` (a free port by default), wait until
    ``/healthz`` answers; stop it after.

    On the way out the server is terminated and must exit. Its environment's
    folders are those of ``stderr_path``'s folder.
    """
    port = port or free_port()
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(KAIZEN), "--db", str(db), "serve", "--port", str(port), *serve_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=program_environment(stderr_path.parent),
        )
    server = Server(process, port, stderr_path)
    try:
        deadline = time.monotonic() + SERVER_DEADLINE
        while True:
            assert process.poll() is None, f"the server exited with {process.returncode}:\n{server.stderr()}"
            assert time.monotonic() < deadline, f"the server did not answer /healthz:\n{server.stderr()}"
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield server
    finally:
        stop_server(server)


def stop_server(server: Server) -> None:
    """Terminate the server and wait until it has exited (its port then refuses connections); it must exit."""
    if server.process.poll() is None:
        server.process.terminate()
    try:
        server.process.wait(timeout=SERVER_DEADLINE)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        pytest.fail(f"the server did not exit when terminated:\n{server.stderr()}")


@dataclass
class LiveServer:
    """The module's server, its database, and the write token kaizen-tui token create made for it."""

    server: Server
    db: Path
    token: dict[str, str]

    @property
    def secret(self) -> str:
        return self.token["token"]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=bearer(self.secret), timeout=SERVER_DEADLINE)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One ``kaizen-tui serve`` for a module's tests, with a write token named ci-bot made by the CLI.

    At the end the server is terminated and must exit, and nothing it wrote
    may hold the token's secret.
    """
    folder = tmp_path_factory.mktemp("live")
    db = folder / "kaizen.db"
    made = run_kaizen(db, "token", "create", "ci-bot", "--role", "write", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)
    with running_server(db, folder / "server.stderr") as server:
        yield LiveServer(server, db, token)
    assert server.process.returncode is not None
    assert token["token"] not in server.stderr()
