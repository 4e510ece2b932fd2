"""``kaizen-tui serve`` over real HTTP: concurrent clients, two servers on one file, the request log.

The module shares one server (``live`` in conftest.py) on a free port; its
write token (ci-bot) was made with ``kaizen-tui token create --json``. A
test that needs a second server starts it on the same database.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kaizen_tui.api.server import listening_socket
from kaizen_tui.service import AgentService
from tests.api.conftest import LOG_LINE, PROBLEM_TYPE, LiveServer, Server, bearer, run_kaizen, running_server
from tests.postgres_server import PostgresServer

CLIENTS = 16
SNAPSHOTS_PER_CLIENT = 25


def new_agent(live: LiveServer, name: str) -> dict[str, Any]:
    with live.client() as client:
        response = client.post(
            "/api/v1/agents", json={"name": name, "model_id": "gpt-4o", "system_prompt": "Be quick."}
        )
    assert response.status_code == 201, response.text
    return response.json()


def snapshot_from_threads(urls: list[str], secret: str, agent_id: str) -> tuple[list[int], list[str]]:
    """One thread per URL, each with its own ``httpx.Client``, each taking 25 snapshots.

    Returns the version numbers the server gave and any failure, as text.
    """
    numbers: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(len(urls))

    def client_thread(url: str, index: int) -> None:
        try:
            with httpx.Client(base_url=url, headers=bearer(secret), timeout=60.0) as client:
                start.wait()
                for step in range(SNAPSHOTS_PER_CLIENT):
                    response = client.post(
                        f"/api/v1/agents/{agent_id}/versions", json={"changelog": f"client {index} step {step}"}
                    )
                    with lock:
                        if response.status_code == 201:
                            numbers.append(response.json()["version_number"])
                        else:
                            failures.append(f"{response.status_code} {response.text}")
        except Exception as error:  # reported by the test, not lost in the thread
            with lock:
                failures.append(repr(error))

    threads = [threading.Thread(target=client_thread, args=(url, index)) for index, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return numbers, failures


def versions_of(live: LiveServer, agent_id: str) -> list[dict[str, Any]]:
    with live.client() as client:
        response = client.get(f"/api/v1/agents/{agent_id}/versions")
    assert response.status_code == 200
    return response.json()


def test_healthz_and_a_token_made_by_the_cli_work_over_http(live: LiveServer) -> None:
    assert live.token["name"] == "ci-bot" and live.token["role"] == "write"
    health = httpx.get(f"{live.server.url}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    with live.client() as client:
        listed = client.get("/api/v1/agents")
    assert listed.status_code == 200
    assert listed.headers["content-type"] == "application/json"


def test_an_error_over_http_is_a_problem_without_a_traceback(live: LiveServer) -> None:
    refused = httpx.get(f"{live.server.url}/api/v1/agents")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == PROBLEM_TYPE
    assert refused.headers["www-authenticate"] == "Bearer"
    with live.client() as client:
        missing = client.get("/api/v1/agents/agt-nope")
        malformed = client.post("/api/v1/agents", content=b"[" * 100_000, headers={"Content-Type": "application/json"})
        too_large = client.post("/api/v1/agents", content=b"x" * (2 * 1024 * 1024))
    assert (missing.status_code, missing.json()["code"]) == (404, "agent_not_found")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
    assert (too_large.status_code, too_large.json()["code"]) == (413, "body_too_large")
    for response in (refused, missing, malformed, too_large):
        assert "Traceback" not in response.text


def test_16_clients_taking_25_snapshots_each_get_the_numbers_1_to_400(live: LiveServer) -> None:
    agent = new_agent(live, "Busy Agent")
    numbers, failures = snapshot_from_threads([live.server.url] * CLIENTS, live.secret, agent["id"])
    assert failures == []
    total = CLIENTS * SNAPSHOTS_PER_CLIENT
    assert sorted(numbers) == list(range(1, total + 1))
    stored = versions_of(live, agent["id"])
    assert [version["version_number"] for version in stored] == list(range(total, 0, -1))
    assert {version["created_by"] for version in stored} == {"ci-bot"}


def test_two_servers_on_one_database_give_distinct_gapless_numbers(
    live: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    agent = new_agent(live, "Shared Agent")
    stderr_path = tmp_path_factory.mktemp("second") / "server.stderr"
    with running_server(live.db, stderr_path) as second:
        urls = [live.server.url, second.url] * (CLIENTS // 2)
        numbers, failures = snapshot_from_threads(urls, live.secret, agent["id"])
        served_by_second = second.wait_for_log_lines(CLIENTS // 2 * SNAPSHOTS_PER_CLIENT, containing="/versions 201 ")
    assert failures == []
    total = CLIENTS * SNAPSHOTS_PER_CLIENT
    assert sorted(numbers) == list(range(1, total + 1))
    assert len(served_by_second) == total // 2
    assert [v["version_number"] for v in versions_of(live, agent["id"])] == list(range(total, 0, -1))
    assert live.secret not in second.stderr()


def requests_logged(server: Server, requests: Callable[[], int]) -> list[dict[str, str]]:
    """The log lines of what ``requests`` sends (it returns how many requests it made), parsed.

    A line is written just after its response is sent, so the line of a
    request made before may still be on its way: the lines counted start
    after a marker request's own line, which comes after theirs.
    """
    marker = f"mark={uuid.uuid4().hex}"
    httpx.get(f"{server.url}/healthz?{marker}")
    server.wait_for_log_lines(1, containing=marker)
    lines = server.log_lines()
    before = next(index for index, line in enumerate(lines) if marker in line) + 1
    count = requests()
    lines = server.wait_for_log_lines(before + count)
    assert len(lines) == before + count, lines[before:]
    parsed = [LOG_LINE.match(line) for line in lines[before:]]
    return [match.groupdict() for match in parsed if match is not None]


def test_each_request_is_one_log_line_naming_method_path_status_and_actor(live: LiveServer) -> None:
    agent = new_agent(live, "Logged Agent")

    def requests() -> int:
        with live.client() as client:
            client.get(f"/api/v1/agents/{agent['id']}/versions", params={"limit": 3})
            client.post(f"/api/v1/agents/{agent['id']}/versions", json={"changelog": "logged"})
            client.get("/api/v1/agents/agt-nope")
            client.delete(f"/api/v1/agents/{agent['id']}")
        httpx.get(f"{live.server.url}/healthz")
        httpx.get(f"{live.server.url}/api/v1/agents", headers=bearer("kz_an-invented-secret"))
        return 6

    logged = requests_logged(live.server, requests)
    assert logged[0]["query"] == "limit=3"
    assert [(line["method"], line["path"], line["status"], line["actor"]) for line in logged] == [
        ("GET", f"/api/v1/agents/{agent['id']}/versions", "200", "ci-bot"),
        ("POST", f"/api/v1/agents/{agent['id']}/versions", "201", "ci-bot"),
        ("GET", "/api/v1/agents/agt-nope", "404", "ci-bot"),
        ("DELETE", f"/api/v1/agents/{agent['id']}", "403", "ci-bot"),
        ("GET", "/healthz", "200", "-"),
        ("GET", "/api/v1/agents", "401", "-"),
    ]


def test_the_server_log_never_holds_a_secret(live: LiveServer) -> None:
    invented = "kz_this-secret-was-never-issued"

    def requests() -> int:
        with live.client() as client:
            client.get("/api/v1/agents", params={"token": live.secret})
            client.post("/api/v1/agents", json={"name": live.secret, "model_id": live.secret})
        httpx.get(f"{live.server.url}/api/v1/agents", headers=bearer(invented))
        return 3

    logged = requests_logged(live.server, requests)
    assert [line["status"] for line in logged] == ["200", "201", "401"]
    assert logged[0]["query"] == "token=<hidden>", "the query string is logged, a secret in it is not"
    log = live.server.stderr()
    assert live.secret not in log
    assert invented not in log
    assert "Authorization" not in log and "Bearer kz_" not in log


def test_the_server_log_starts_with_where_it_serves(live: LiveServer) -> None:
    first = live.server.stderr().splitlines()[0]
    assert f"http://127.0.0.1:{live.server.port}" in first
    assert str(live.db) in first


def new_log_after(server: Server, send: Callable[[], None]) -> list[str]:
    """The raw stderr lines ``send`` caused, up to and including the log line of a sentinel request sent after it."""
    mark = len(server.stderr())
    send()
    sentinel = f"/sentinel-{uuid.uuid4().hex}"
    httpx.get(f"{server.url}{sentinel}")
    server.wait_for_log_lines(1, containing=f" {sentinel} ")
    return server.stderr()[mark:].splitlines()


def test_a_path_cannot_forge_a_log_line(live: LiveServer) -> None:
    forged = "2026-01-01T00:00:00%20DELETE%20/api/v1/agents/agt-victim%20204%200.5ms%20actor=boss"
    lines = new_log_after(live.server, lambda: httpx.get(f"{live.server.url}/api/v1/agents/x%0A{forged}%0Ay"))
    assert len(lines) == 2, lines  # the request's line and the sentinel's
    assert not any(line.endswith("actor=boss") for line in lines), lines


def test_control_characters_of_a_path_are_escaped_in_the_log(live: LiveServer) -> None:
    lines = new_log_after(live.server, lambda: httpx.get(f"{live.server.url}/api/v1/agents/a%1B[2Jb"))
    assert not any("\x1b" in line for line in lines), lines


def test_bidirectional_controls_of_a_path_and_query_are_escaped_in_the_log(live: LiveServer) -> None:
    """U+202E would show the rest of a line reversed to whoever reads the log: escaped like C0 and C1."""

    def send() -> None:
        httpx.get(f"{live.server.url}/api/v1/agents/a%E2%80%AEb%E2%81%A6c?label=x%E2%80%AEy&at=%0A")

    lines = new_log_after(live.server, send)
    assert len(lines) == 2, lines
    assert not any(char in line for line in lines for char in "\u202e\u2066\n"), lines
    assert "/api/v1/agents/a\\u202eb\\u2066c?label=x%E2%80%AEy&at=%0A 401 " in lines[0], lines


def test_serve_on_a_port_in_use_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    assert run_kaizen(tmp_path / "kaizen.db", "token", "create", "ci-bot", "--role", "read").returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_kaizen(tmp_path / "kaizen.db", "serve", "--port", str(port))
    assert result.returncode == 1, result
    assert result.stderr == (
        f"kaizen-tui: error: Port {port} on 127.0.0.1 is taken: another program listens there. "
        "Stop it, or choose another port with --port.\n"
    )


def test_the_connections_serve_accepts_send_each_write_at_once() -> None:
    """Nagle's algorithm is off on a served connection, as uvicorn has it on a socket of its own: a
    response goes out in two writes (headers, then body), and with it on the body waited for the
    client's delayed ACK, 40 ms a request. Accepted as uvicorn accepts (``create_server(sock=...)``)."""
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]

    async def nodelay_of_an_accepted_connection() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        async with await asyncio.start_server(accepted, sock=sock):
            _, client = await asyncio.open_connection("127.0.0.1", port)
            value = await seen
            client.close()
        return value

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0


def test_a_database_that_stops_and_starts_again_is_503_then_200_and_the_log_says_so_once(
    stoppable_postgres: PostgresServer, tmp_path: Path
) -> None:
    url = stoppable_postgres.new_database()
    service = AgentService(url)
    try:
        service.create_agent({"name": "Bot", "model_id": "m"})
        secret = service.create_token("agent", "read")["token"]
    finally:
        service.close()
    with running_server(url, tmp_path / "server.stderr") as server:
        config = f"{server.url}/api/v1/agents/Bot/config"
        assert httpx.get(config, headers=bearer(secret), timeout=30).status_code == 200
        stoppable_postgres.stop_serving()
        for _ in range(3):
            down = httpx.get(config, headers=bearer(secret), timeout=30)
            assert down.status_code == 503 and down.json()["code"] == "database_unavailable", down.text
        stoppable_postgres.start_serving()
        # The first request after the start answers (a pool waiting out its retries made it a 503).
        assert httpx.get(config, headers=bearer(secret), timeout=30).status_code == 200
        lines = server.stderr().splitlines()
    events = [line for line in lines[1:] if not LOG_LINE.match(line)]
    assert len(events) == 2, lines  # one line each, ours: none of the pool's own messages over several lines
    assert re.match(
        r"^\S+Z database unreachable: Cannot reach PostgreSQL at 127\.0\.0\.1:\d+: connection refused", events[0]
    )
    assert re.match(r"^\S+Z database reachable again: postgresql://", events[1]), events
