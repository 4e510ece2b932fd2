"""The HTTP API (``kaizen-tui serve``) against a bare FastAPI app serving the same bytes, in the same run.

    .venv/bin/python bench/api.py            # full run, about a minute on 2 cores
    .venv/bin/python bench/api.py --quick    # smoke run, well under 20 s
    .venv/bin/python bench/api.py --json     # every figure and its samples as JSON on stdout (table on stderr)

Data: a fresh database in ``bench/out/`` made through the service: one agent
with a ~2 KB system prompt and a few versions, and two API tokens (read and
write).

Two servers run as subprocesses on free loopback ports with the same uvicorn
settings as ``kaizen-tui serve`` (``access_log=False, log_level="warning",
lifespan="off"``, uvicorn's default loop and HTTP implementation): ours, the
real ``kaizen-tui --db DB serve`` (its request log goes to
``bench/out/api-ours.log``, as a server's log goes to a file), and the floor,
a bare FastAPI app whose one route answers ``GET /api/v1/agents/{agent}/config``
with the very bytes and headers ours sent (fetched from ours first) and
``If-None-Match`` with 304, and does nothing else: no token, no database, no
middleware, no log.

The client is the same for both: a minimal HTTP/1.1 client over a keep-alive
socket (a prepared request, ``Content-Length`` framing), so the client's own
time is small next to the server's. Every figure runs interleaved with its
floor and is reported as the median (or the percentile named) of its runs, so
drift of a shared, noisy machine cancels out in the ratio. At 1 client the
requests go back to back in blocks of 20 per server (A x20, B x20, ...; the
first of each block is not counted: it would pay for the other server's last
request still finishing); alternating request by request would let ours
finish its work after each response (its log line...) while the floor answers,
which slows the floor and flatters the ratio. An info figure adds a 5 ms
pause before each request, alternated A B A B: the server idle when a request
comes, as for an agent that fetches its config now and then. At 32 clients
the servers alternate round by round; each client is a thread with its own
connection, all in this process; each server is one process, as
``kaizen-tui serve`` is. The server's CPU time per request (from ``/proc``) is
shown beside the throughput: it is what the throughput is made of, and it
does not depend on how fast the client is.

``POST .../versions`` under 32 clients has no floor: its latency and rate are
shown as information, and the numbers it made are checked to be distinct and
gapless.

This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tables import markdown_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
HOST = "127.0.0.1"
AGENT_NAME = "bench api agent"
CLIENTS = 32

#: The floor: the same framework on the same server, one route, the same bytes.
#: argv: body file, headers file (JSON), port. Started with ``python -c``.
BARE_APP = r"""
import json, sys
from pathlib import Path
import uvicorn
from fastapi import FastAPI, Request
from starlette.responses import Response

body = Path(sys.argv[1]).read_bytes()
headers = json.loads(Path(sys.argv[2]).read_text())
media_type = headers.pop("content-type")
etag = headers["etag"]
app = FastAPI()

@app.get("/api/v1/agents/{agent}/config")
async def config(agent: str, request: Request) -> Response:
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), access_log=False, log_level="warning", lifespan="off")
"""


@dataclass
class Scale:
    name: str
    latency_requests: int  # per server, 1 client, back to back, alternated in blocks
    idle_requests: int  # the same with a pause before each request, alternated request by request
    revalidate_requests: int  # the same with If-None-Match (304)
    rounds: int  # throughput rounds per server at 32 clients, alternated
    round_seconds: float
    posts_per_client: int  # POST .../versions, 32 clients
    warmup: int  # requests per server before measuring


FULL = Scale(
    "full",
    latency_requests=4000,
    idle_requests=400,
    revalidate_requests=2000,
    rounds=7,
    round_seconds=3.0,
    posts_per_client=40,
    warmup=300,
)
QUICK = Scale(
    "quick",
    latency_requests=500,
    idle_requests=100,
    revalidate_requests=300,
    rounds=3,
    round_seconds=0.8,
    posts_per_client=6,
    warmup=100,
)


# ---------------------------------------------------------------------------
# a minimal HTTP/1.1 client


class Connection:
    """One keep-alive connection: send a prepared request, read one response framed by Content-Length."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def request(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """``(status, head, body)`` of the response to ``raw``."""
        self.sock.sendall(raw)
        buffer = self.buffer
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            buffer += self._recv()
        head, buffer = buffer[:end], buffer[end + 4 :]
        status = int(head[9:12])
        at = head.lower().find(b"\r\ncontent-length:")
        if at >= 0:
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)])
        elif status in (204, 304):
            length = 0
        else:
            raise RuntimeError(f"a response without Content-Length: {head[:200]!r}")
        while len(buffer) < length:
            buffer += self._recv()
        self.buffer = buffer[length:]
        return status, head, buffer[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def headers_of(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


def get_request(port: int, path: str, token: str, etag: str | None = None) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        f"Authorization: Bearer {token}",
        "Accept: application/json",
    ]
    if etag is not None:
        lines.append(f"If-None-Match: {etag}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def post_request(port: int, path: str, token: str, data: dict[str, Any]) -> bytes:
    body = json.dumps(data).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


# ---------------------------------------------------------------------------
# data and servers


def prompt_text(size: int = 2048) -> str:
    rng = random.Random(20240611)
    words = (
        "customer",
        "ticket",
        "refund",
        "invoice",
        "policy",
        "escalate",
        "summary",
        "tone",
        "concise",
        "friendly",
        "answer",
        "question",
        "context",
        "source",
        "citation",
        "document",
        "search",
        "tool",
        "result",
        "error",
        "retry",
        "limit",
        "budget",
        "report",
        "privacy",
        "consent",
    )
    lines: list[str] = []
    while sum(len(line) + 1 for line in lines) < size:
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(7, 14)))
        lines.append(sentence.capitalize() + ".")
    return "\n".join(lines)


def build_database(db: Path) -> tuple[str, dict[str, str]]:
    """A new database through the service: one agent, a few versions, a read and a write token."""
    from kaizen_tui.service import AgentService

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)

    service = AgentService(str(db), user="bench")
    try:
        agent = service.create_agent(
            {
                "name": AGENT_NAME,
                "description": "The agent the API benchmark reads and snapshots.",
                "agent_type": "chat",
                "system_prompt": prompt_text(),
                "model_id": "gpt-4o",
                "temperature": 0.3,
                "max_tokens": 2048,
                "extra": {"tools": ["search", "calendar"], "top_p": 0.9},
            }
        )
        service.create_version(agent["id"], "Initial version")
        for temperature in (0.4, 0.5, 0.2):
            service.update(agent["id"], {"temperature": temperature})
            service.create_version(agent["id"], f"Temperature {temperature}")
        tokens = {role: service.create_token(f"bench-{role}", role)["token"] for role in ("read", "write")}
        return agent["id"], tokens
    finally:
        service.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def kaizen_command() -> list[str]:
    script = Path(sys.executable).parent / "kaizen-tui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "kaizen_tui.cli"]


class Server:
    """A server subprocess, its output in a log file; stopped by :meth:`stop` (SIGINT, then SIGKILL)."""

    def __init__(self, name: str, command: list[str], port: int, log_path: Path) -> None:
        self.name, self.port, self.log_path = name, port, log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )

    def wait_ready(self, probe: bytes, timeout: float = 60.0) -> None:
        deadline = time.perf_counter() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} server exited ({self.process.returncode}): {self.tail()}")
            try:
                connection = Connection(self.port)
                try:
                    status, _, _ = connection.request(probe)
                finally:
                    connection.close()
                if status == 200:
                    return
            except OSError:
                pass
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the {self.name} server did not answer within {timeout:.0f} s: {self.tail()}")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far (Linux; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-2000:].strip() or "(no output)"

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# ---------------------------------------------------------------------------
# measuring


@dataclass
class Figure:
    key: str
    label: str
    ours: float | None
    floor: float | None
    unit: str
    target: str  # "<= 1.5" or ">= 0.6" (a ratio ours/floor), or "" (information)
    floor_label: str = ""
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.floor is None or self.ours <= 0 or self.floor <= 0:
            return None
        return self.ours / self.floor

    @property
    def ok(self) -> bool | None:
        if not self.target or self.ratio is None:
            return None
        op, _, number = self.target.partition(" ")
        limit = float(number.rstrip("x"))
        return {"<=": self.ratio <= limit, ">=": self.ratio >= limit}[op]


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` 0.5 is the median of an odd count)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


#: Requests in a row to one server at 1 client, before the other server's turn.
BLOCK = 20
#: The pause before each request of the "idle server" figure.
PAUSE_SECONDS = 0.005


def sequential(
    servers: list[tuple[int, bytes]], count: int, warmup: int, expect: int, *, pause: float = 0.0
) -> list[list[float]]:
    """One client per server, alternated in short blocks (A x20, B x20, A ...); each request's time in ms.

    Back to back (no ``pause``), the first request of a block is not counted:
    a server still finishing its last request (its log line, ...) when the
    other one's block starts would slow the other one's first request, not
    its own; within a block that tail work delays the server's own next
    request, as it does for a real client. With a ``pause`` before every
    request, the servers simply alternate A B A B: each has long finished and
    gone idle when its next request comes, as for an agent that fetches its
    config now and then.
    """
    connections = [Connection(port) for port, _ in servers]
    times: list[list[float]] = [[] for _ in servers]
    block, skip = (1, 0) if pause else (BLOCK, 1)
    try:
        for connection, (_, raw) in zip(connections, servers, strict=True):
            for _ in range(warmup):
                connection.request(raw)
        for _block in range(-(-count // block)):
            for index, (connection, (_, raw)) in enumerate(zip(connections, servers, strict=True)):
                for n in range(skip + block):
                    if pause:
                        time.sleep(pause)
                    started = time.perf_counter()
                    status, _, _ = connection.request(raw)
                    elapsed = (time.perf_counter() - started) * 1000
                    if status != expect:
                        raise RuntimeError(f"status {status}, not {expect}")
                    if n >= skip:
                        times[index].append(elapsed)
    finally:
        for connection in connections:
            connection.close()
    return times


@dataclass
class Load:
    """What ``clients`` threads, each on its own connection, did together."""

    requests: int
    seconds: float
    latencies: list[float]  # ms
    statuses: dict[int, int]
    bodies: list[bytes]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def same_request(raw: bytes) -> Callable[[int, int], bytes]:
    return lambda _client, _n: raw


def load(
    port: int,
    clients: int,
    make: Callable[[int, int], bytes],
    *,
    seconds: float | None = None,
    count: int | None = None,
    expect: int = 200,
    keep_bodies: bool = False,
) -> Load:
    """``clients`` threads send requests (``make(client, n)``) for ``seconds`` or ``count`` each, all started at once."""
    connections = [Connection(port) for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[dict[int, int]] = [{} for _ in range(clients)]
    bodies: list[list[bytes]] = [[] for _ in range(clients)]
    ends = [0.0] * clients
    errors: list[BaseException] = []
    start = [0.0]

    def client(index: int) -> None:
        connection, mine, seen = connections[index], latencies[index], statuses[index]
        try:
            barrier.wait()
            deadline = start[0] + seconds if seconds is not None else None
            n = 0
            while (count is None or n < count) and (deadline is None or time.perf_counter() < deadline):
                raw = make(index, n)
                began = time.perf_counter()
                status, _, body = connection.request(raw)
                mine.append((time.perf_counter() - began) * 1000)
                seen[status] = seen.get(status, 0) + 1
                if keep_bodies and status == expect:
                    bodies[index].append(body)
                n += 1
        except BaseException as error:  # reported by the caller
            errors.append(error)
        finally:
            ends[index] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    start[0] = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join()
    for connection in connections:
        connection.close()
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed; the first: {errors[0]!r}")
    merged: dict[int, int] = {}
    for seen in statuses:
        for status, times in seen.items():
            merged[status] = merged.get(status, 0) + times
    done = merged.get(expect, 0)
    return Load(
        done,
        max(ends) - start[0],
        [t for mine in latencies for t in mine],
        merged,
        [body for mine in bodies for body in mine],
    )


# ---------------------------------------------------------------------------
# the run


def measure(scale: Scale, log: Callable[[str], None]) -> tuple[list[Figure], dict[str, Any]]:
    OUT.mkdir(parents=True, exist_ok=True)
    db = OUT / "api.db"
    agent_id, tokens = build_database(db)
    read, write = tokens["read"], tokens["write"]
    path = f"/api/v1/agents/{agent_id}/config"
    servers: list[Server] = []
    info: dict[str, Any] = {}
    try:
        ours_port = free_port()
        ours = Server(
            "kaizen-tui",
            [*kaizen_command(), "--db", str(db), "serve", "--host", HOST, "--port", str(ours_port)],
            ours_port,
            OUT / "api-ours.log",
        )
        servers.append(ours)
        ours.wait_ready(get_request(ours_port, "/healthz", read))

        # The bytes ours serves: the floor will serve exactly these.
        probe = Connection(ours_port)
        try:
            status, head, body = probe.request(get_request(ours_port, path, read))
        finally:
            probe.close()
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        sent = headers_of(head)
        kept = {name: sent[name] for name in ("content-type", "etag", "x-kaizen-agent-revision")}
        (OUT / "api-bare-body.json").write_bytes(body)
        (OUT / "api-bare-headers.json").write_text(json.dumps(kept))
        info.update(body_bytes=len(body), content_type=kept["content-type"], etag=kept["etag"])

        bare_port = free_port()
        bare = Server(
            "bare FastAPI",
            [
                sys.executable,
                "-c",
                BARE_APP,
                str(OUT / "api-bare-body.json"),
                str(OUT / "api-bare-headers.json"),
                str(bare_port),
            ],
            bare_port,
            OUT / "api-bare.log",
        )
        servers.append(bare)
        bare.wait_ready(get_request(bare_port, path, read))
        check = Connection(bare_port)
        try:
            status, bare_head, bare_body = check.request(get_request(bare_port, path, read))
        finally:
            check.close()
        bare_sent = headers_of(bare_head)
        if bare_body != body or any(bare_sent.get(name) != value for name, value in kept.items()):
            raise RuntimeError("the bare app does not answer with the same bytes and headers as ours")
        log(f"servers up: ours on :{ours_port}, bare on :{bare_port}; /config body {len(body):,} B, same bytes on both")

        figures: list[Figure] = []
        fresh = [(ours_port, get_request(ours_port, path, read)), (bare_port, get_request(bare_port, path, read))]
        etag = kept["etag"]
        revalidate = [
            (ours_port, get_request(ours_port, path, read, etag)),
            (bare_port, get_request(bare_port, path, read, etag)),
        ]

        # -- 1 client: latency ----------------------------------------------------
        log(f"GET /config at 1 client, {scale.latency_requests:,} requests each, alternated in blocks of {BLOCK} ...")
        ours_ms, bare_ms = sequential(fresh, scale.latency_requests, scale.warmup, 200)
        figures.append(
            Figure(
                "config_p50_1",
                "GET /config p50 latency, 1 client",
                percentile(ours_ms, 0.5),
                percentile(bare_ms, 0.5),
                "ms",
                "<= 1.5",
                "bare FastAPI route, same bytes, same uvicorn",
                samples={"ours": ours_ms, "floor": bare_ms},
            )
        )
        figures.append(
            Figure(
                "config_p99_1",
                "  info: GET /config p99 latency, 1 client",
                percentile(ours_ms, 0.99),
                percentile(bare_ms, 0.99),
                "ms",
                "",
                "bare FastAPI route, same bytes, same uvicorn",
            )
        )
        log(
            f"GET /config at 1 client with a {PAUSE_SECONDS * 1000:g} ms pause before each request, "
            f"{scale.idle_requests:,} requests each ..."
        )
        ours_idle, bare_idle = sequential(fresh, scale.idle_requests, scale.warmup // 10, 200, pause=PAUSE_SECONDS)
        figures.append(
            Figure(
                "config_p50_1_idle",
                f"  info: the same with a {PAUSE_SECONDS * 1000:g} ms pause before each request",
                percentile(ours_idle, 0.5),
                percentile(bare_idle, 0.5),
                "ms",
                "",
                "bare FastAPI route, same bytes, same uvicorn",
                note="the server idle when a request comes",
                samples={"ours": ours_idle, "floor": bare_idle},
            )
        )
        log(f"GET /config with If-None-Match (304) at 1 client, {scale.revalidate_requests:,} requests each ...")
        ours_304, bare_304 = sequential(revalidate, scale.revalidate_requests, scale.warmup // 2, 304)
        figures.append(
            Figure(
                "config_304_p50_1",
                "  info: GET /config revalidated (304), p50, 1 client",
                percentile(ours_304, 0.5),
                percentile(bare_304, 0.5),
                "ms",
                "",
                "bare route answering If-None-Match with 304",
                samples={"ours": ours_304, "floor": bare_304},
            )
        )

        # -- 32 clients: throughput ----------------------------------------------
        log(
            f"GET /config at {CLIENTS} clients, {scale.rounds} rounds of {scale.round_seconds:g} s each, alternated ..."
        )
        rates: dict[str, list[float]] = {"ours": [], "floor": []}
        cpu: dict[str, list[float]] = {"ours": [], "floor": []}
        loaded: dict[str, list[float]] = {"ours": [], "floor": []}
        for round_index in range(scale.rounds + 1):  # the first round of each warms up
            for key, server, raw in (("ours", ours, fresh[0][1]), ("floor", bare, fresh[1][1])):
                before = server.cpu_seconds()
                result = load(server.port, CLIENTS, same_request(raw), seconds=scale.round_seconds)
                used = server.cpu_seconds() - before
                if set(result.statuses) != {200}:
                    raise RuntimeError(f"{server.name}: statuses {result.statuses}")
                if round_index:
                    rates[key].append(result.rate)
                    cpu[key].append(used / result.requests * 1000 if result.requests else 0.0)
                    loaded[key].append(percentile(result.latencies, 0.5))
        figures.append(
            Figure(
                "config_rps_32",
                f"GET /config throughput, {CLIENTS} clients",
                statistics.median(rates["ours"]),
                statistics.median(rates["floor"]),
                "req/s",
                ">= 0.6",
                "the same bare route, same uvicorn",
                samples=rates,
            )
        )
        figures.append(
            Figure(
                "config_cpu_32",
                f"  diagnostic: server CPU per request at {CLIENTS} clients",
                statistics.median(cpu["ours"]),
                statistics.median(cpu["floor"]),
                "ms",
                "",
                "the same bare route, same uvicorn",
                note="user + system time of the server process",
                samples=cpu,
            )
        )
        figures.append(
            Figure(
                "config_p50_32",
                f"  info: GET /config p50 latency, {CLIENTS} clients",
                statistics.median(loaded["ours"]),
                statistics.median(loaded["floor"]),
                "ms",
                "",
                "the same bare route, same uvicorn",
                samples=loaded,
            )
        )

        # -- 32 clients: snapshots ------------------------------------------------
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            (before_max,) = connection.execute(
                "SELECT coalesce(max(version_number), 0) FROM agent_version WHERE agent_id = ?", (agent_id,)
            ).fetchone()
        finally:
            connection.close()
        posts = CLIENTS * scale.posts_per_client
        log(f"POST .../versions at {CLIENTS} clients, {posts:,} snapshots ...")
        versions_path = f"/api/v1/agents/{agent_id}/versions"
        snapshots = load(
            ours_port,
            CLIENTS,
            lambda c, n: post_request(ours_port, versions_path, write, {"changelog": f"bench client {c} snapshot {n}"}),
            count=scale.posts_per_client,
            expect=201,
            keep_bodies=True,
        )
        numbers = sorted(json.loads(body)["version_number"] for body in snapshots.bodies)
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            stored = [
                n
                for (n,) in connection.execute(
                    "SELECT version_number FROM agent_version WHERE agent_id = ? ORDER BY version_number", (agent_id,)
                )
            ]
        finally:
            connection.close()
        expected_new = list(range(before_max + 1, before_max + 1 + snapshots.requests))
        gapless = (
            numbers == expected_new
            and stored == list(range(1, before_max + 1)) + expected_new
            and snapshots.requests == posts
        )
        others = {status: n for status, n in snapshots.statuses.items() if status != 201}
        verdict = (
            f"{'yes' if gapless else 'NO'}: {snapshots.requests:,} of {posts:,} answered 201, "
            f"numbers {before_max + 1}..{before_max + snapshots.requests}, distinct"
            + (f"; other statuses {others}" if others else "")
        )
        if not gapless:
            verdict += f"; got {len(set(numbers))} distinct, stored {len(stored)}"
        info.update(posts=posts, post_statuses=snapshots.statuses, gapless=gapless, versions_before=before_max)
        figures.append(
            Figure(
                "post_version_p50_32",
                f"POST .../versions p50 latency, {CLIENTS} clients",
                percentile(snapshots.latencies, 0.5),
                None,
                "ms",
                "",
                samples={"ours": snapshots.latencies},
            )
        )
        figures.append(
            Figure(
                "post_version_p99_32",
                f"POST .../versions p99 latency, {CLIENTS} clients",
                percentile(snapshots.latencies, 0.99),
                None,
                "ms",
                "",
            )
        )
        figures.append(
            Figure(
                "post_version_rate_32",
                f"POST .../versions, {CLIENTS} clients: snapshots per second",
                snapshots.rate,
                None,
                "versions/s",
                "",
            )
        )
        figures.append(
            Figure(
                "post_version_gapless",
                "  check: version numbers distinct and gapless",
                None,
                None,
                "",
                "",
                note=verdict,
            )
        )
        return figures, info
    finally:
        for server in reversed(servers):
            server.stop()


# ---------------------------------------------------------------------------
# report


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 1 else f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"
    return f"{value:,.0f} {unit}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "ours (median)", "floor (median)", "ratio", "target", "result")]
    for f in figures:
        if f.floor_label:
            ratio = "n/a" if f.ratio is None else f"{f.ratio:.2f}x"
            floor = fmt(f.floor, f.unit)
        else:
            ratio, floor = "", ""
        target = f"{f.target}x" if f.target else "-"
        result = "info" if not f.target else "n/a" if f.ok is None else ("ok" if f.ok else "MISS")
        ours = f.note if f.ours is None else fmt(f.ours, f.unit)
        rows.append((f.label, ours, floor, ratio, target, result))
    return markdown_table(rows)


def environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "-"

    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "fastapi": installed("fastapi"),
        "starlette": installed("starlette"),
        "uvicorn": installed("uvicorn"),
        # uvicorn's "auto" picks uvloop and httptools when they are installed.
        "loop": "uvloop" if installed("uvloop") != "-" else "asyncio",
        "http": "httptools" if installed("httptools") != "-" else "h11",
        "machine": f"{platform.system()} {platform.machine()}",
    }


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the servers too (the finally blocks run)


@contextlib.contextmanager
def no_interrupt_traceback() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    except KeyboardInterrupt:
        print("interrupted; both servers stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few requests and short rounds: a smoke run")
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (the table goes to stderr)"
    )
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    with no_interrupt_traceback():
        figures, info = measure(scale, log)
    runtime = time.perf_counter() - started
    env = environment()
    out = sys.stderr if args.json else sys.stdout
    print(
        f"kaizen-tui API benchmark ({scale.name}): {env['date']}, {env['cores']} cores, {env['machine']}, "
        f"Python {env['python']}, FastAPI {env['fastapi']}, Starlette {env['starlette']}, uvicorn {env['uvicorn']} "
        f"({env['loop']}, {env['http']}), SQLite {env['sqlite']}",
        file=out,
    )
    print(
        f"one agent, /config body {info['body_bytes']:,} B ({info['content_type']}); "
        f"client: raw HTTP/1.1 keep-alive; medians of interleaved runs",
        file=out,
    )
    print(table(figures), file=out)
    print(f"runtime: {runtime:.0f} s", file=out)
    if args.json:
        print(
            json.dumps(
                {
                    "environment": env,
                    "scale": scale.name,
                    "runtime_s": round(runtime, 1),
                    "info": info,
                    "figures": [
                        {
                            "key": f.key,
                            "label": f.label.strip(),
                            "ours": f.ours,
                            "floor": f.floor,
                            "unit": f.unit,
                            "ratio": f.ratio,
                            "target": f.target,
                            "compared_with": f.floor_label,
                            "ok": f.ok,
                            "note": f.note,
                            "samples": {
                                name: [round(value, 4) for value in values] for name, values in f.samples.items()
                            },
                        }
                        for f in figures
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
