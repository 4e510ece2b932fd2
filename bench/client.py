"""The agents' client (``kaizen_tui.client``) against a real ``kaizen-tui serve``, each figure beside its floor.

    .venv/bin/python bench/client.py            # full run, about 40 s on 2 cores
    .venv/bin/python bench/client.py --quick    # smoke run, about 15 s
    .venv/bin/python bench/client.py --json     # every figure and its samples as JSON on stdout (table on stderr)

Data: a fresh SQLite database in ``bench/out/`` made through the service:
five agents with ~2 KB system prompts and tools, three versions each,
``production`` on v2 and ``staging`` on v3, and a read token. The real
``kaizen-tui --db DB serve`` runs as a subprocess on a free loopback port
(its request log goes to ``bench/out/client-server.log``); the client runs
in this process, as an agent would.

The figures, each the median of interleaved runs, so a shared, noisy
machine's drift moves ours and its floor alike:

- ``get_config`` from a fresh cache, per call (rounds of many calls): an
  absolute target, under 10 µs. Shown beside it, as information: what a
  dictionary look-up and a clock read cost (the floor of any cache), and what
  returning the config costs with each way of keeping the cache safe from a
  caller that changes its dict (``copy.deepcopy``, ``json.loads`` of the
  cached bytes, a shallow copy that is not safe, and the client's copy of
  the nested containers only).
- A revalidation (``cache_ttl=0``: every call sends ``If-None-Match`` and gets
  304) and a cold fetch (the cache cleared before each call: a 200 with the
  body, parsed and checked) against the same request on the wire sent with a
  bare ``http.client`` keep-alive connection, which reads the response and
  does nothing else: the round trip of the endpoint itself, through the
  library the client is built on. The two alternate in blocks of 20
  requests, the first of each block not counted (it would pay for the other
  side's last request still finishing on the server). Shown as diagnostics:
  the same floor on a minimal socket client (what ``http.client`` itself
  costs), a cold fetch that also writes the ``cache_dir`` file (alternated
  with the floor on its own: the file system's work after a write would
  fall on whichever side came next), a cold start (a new client and
  connection each time, against a new bare connection each time), and all
  of it again for the live config, a faster path on the server, where the
  client's own share weighs more.
- A label move (``service.set_label``, a real move each time: the label,
  a ledger entry and an audit event in one transaction) against
  ``service.create_version`` on the same database, alternated call by call
  in one event loop (in-process: the service's cost, not HTTP's).

This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import http.client
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api import HOST, Connection, Server, free_port, get_request, kaizen_command, prompt_text
from tables import markdown_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
AGENTS = 5
#: Requests in a row on one side before the other's turn; the first of each is not counted.
BLOCK = 20


@dataclass
class Scale:
    name: str
    fresh_rounds: int  # rounds of fresh-cache calls
    fresh_calls: int  # calls per round
    requests: int  # per side, for each HTTP figure
    warmup: int  # requests per side before measuring
    moves: int  # label moves and snapshots each


FULL = Scale("full", fresh_rounds=15, fresh_calls=20_000, requests=2000, warmup=200, moves=300)
QUICK = Scale("quick", fresh_rounds=5, fresh_calls=5_000, requests=300, warmup=50, moves=60)


@dataclass
class Figure:
    key: str
    label: str
    ours: float | None
    floor: float | None
    unit: str  # "us" or "ms"
    target: str  # "<= 1.5" (ratio ours/floor), "< 10" (absolute, in unit), or "" (information)
    floor_label: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.floor is None or self.ours <= 0 or self.floor <= 0:
            return None
        return self.ours / self.floor

    @property
    def ok(self) -> bool | None:
        if not self.target:
            return None
        op, _, number = self.target.partition(" ")
        value = self.ratio if self.floor is not None else self.ours
        if value is None:
            return None
        limit = float(number.rstrip("x"))
        return {"<=": value <= limit, "<": value < limit}[op]


def median(values: list[float]) -> float:
    return statistics.median(values)


# ---------------------------------------------------------------------------
# data and the server


def build_database(db: Path) -> tuple[list[str], str]:
    """Five agents with three versions each, production on v2 and staging on v3, and a read token."""
    from kaizen_tui.service import AgentService

    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)

    service = AgentService(str(db), user="bench")
    try:
        names = []
        for index in range(AGENTS):
            agent = service.create_agent(
                {
                    "name": f"bench-agent-{index}",
                    "description": "An agent the client benchmark loads.",
                    "agent_type": "chat",
                    "system_prompt": prompt_text(),
                    "model_id": "gpt-4o",
                    "temperature": 0.3,
                    "max_tokens": 2048,
                    "extra": {"tools": ["search", "calendar", "tickets"], "top_p": 0.9, "stop": ["\n\nUser:"]},
                }
            )
            for temperature in (0.3, 0.4, 0.5):
                service.update(agent["id"], {"temperature": temperature})
                service.create_version(agent["id"], f"Temperature {temperature}")
            service.set_label(agent["id"], "production", 2)
            service.set_label(agent["id"], "staging", 3)
            names.append(agent["name"])
        token = service.create_token("bench-agent", "read")["token"]
        return names, token
    finally:
        service.close()


# ---------------------------------------------------------------------------
# measuring


def fresh_figures(client: Any, agent: str, scale: Scale) -> list[Figure]:
    """Per-call time of a fresh-cache ``get_config``, beside the floors of any cache and the ways to copy."""
    client.get_config(agent, label="production")
    cached = client._memory[(agent, "production", None)]
    config = cached.config
    cached_bytes = json.dumps(config).encode()
    table: dict[tuple[str, str | None, None], Any] = {(agent, "production", None): cached}
    n = scale.fresh_calls

    def get_config() -> None:
        get = client.get_config
        for _ in range(n):
            get(agent, label="production")

    def get_entry() -> None:
        get = client.get_config_entry
        for _ in range(n):
            get(agent, label="production")

    def lookup_and_clock() -> None:
        key = (agent, "production", None)
        monotonic = time.monotonic
        for _ in range(n):
            found = table.get(key)
            _ = found is not None and monotonic() < found.fresh_until

    def deep() -> None:
        for _ in range(n):
            copy.deepcopy(config)

    def loads() -> None:
        for _ in range(n):
            json.loads(cached_bytes)

    def shallow() -> None:
        for _ in range(n):
            config.copy()

    def ours() -> None:
        copy_config = cached.copy_config
        for _ in range(n):
            copy_config()

    operations = [get_config, get_entry, lookup_and_clock, deep, loads, shallow, ours]
    times: list[list[float]] = [[] for _ in operations]
    for round_ in range(scale.fresh_rounds + 1):
        for index, operation in enumerate(operations):
            started = time.perf_counter()
            operation()
            if round_:  # the first round warms up
                times[index].append((time.perf_counter() - started) / n * 1e6)
    t = dict(zip(("get", "entry", "floor", "deep", "loads", "shallow", "ours"), times, strict=True))
    return [
        Figure("fresh", "get_config from a fresh cache, per call", median(t["get"]), None, "us", "< 10",
               samples={"ours": t["get"]}),
        Figure("fresh_entry", "  info: get_config_entry from a fresh cache", median(t["entry"]), None, "us", ""),
        Figure("fresh_floor", "  info: a dict look-up and a clock read (any cache's floor)", median(t["floor"]),
               None, "us", ""),
        Figure("copy_ours", "  info: the client's copy (nested dicts and lists only)", median(t["ours"]), None,
               "us", ""),
        Figure("copy_deep", "  info: copy.deepcopy of the config", median(t["deep"]), None, "us", ""),
        Figure("copy_loads", "  info: json.loads of the cached bytes", median(t["loads"]), None, "us", ""),
        Figure("copy_shallow", "  info: a shallow copy (not safe: nested lists shared)", median(t["shallow"]), None,
               "us", ""),
    ]  # fmt: skip


class BareHttp:
    """The floor: a bare ``http.client`` keep-alive connection sending the very request the client sends."""

    def __init__(self, port: int, path: str, headers: dict[str, str]) -> None:
        self.path, self.headers = path, headers
        self.connection = http.client.HTTPConnection(HOST, port, timeout=30)

    def get(self) -> int:
        self.connection.request("GET", self.path, headers=self.headers)
        response = self.connection.getresponse()
        response.read()
        return response.status


def alternate(
    sides: list[Callable[[], Any]], count: int, warmup: int, prepare: dict[int, Callable[[], Any]] | None = None
) -> list[list[float]]:
    """The sides in blocks of :data:`BLOCK` (A x20, B x20, ...), the first of a block not counted; ms each.

    ``prepare[i]``, if given, runs before each call of side ``i``, outside the clock.
    """
    prepare = prepare or {}
    for index, side in enumerate(sides):
        for _ in range(warmup):
            if index in prepare:
                prepare[index]()
            side()
    times: list[list[float]] = [[] for _ in sides]
    for _block in range(-(-count // BLOCK)):
        for index, side in enumerate(sides):
            for n in range(1 + BLOCK):
                if index in prepare:
                    prepare[index]()
                started = time.perf_counter()
                side()
                elapsed = (time.perf_counter() - started) * 1000
                if n:
                    times[index].append(elapsed)
    return times


def http_figures(
    url: str, port: int, token: str, agent: str, scale: Scale, label: str | None
) -> tuple[list[Figure], dict[str, Any]]:
    """A revalidation and a cold fetch of ``agent``'s config (of ``label``, or live) against the bare round trip.

    With a label the rows carry the targets; for the live config (a faster
    path on the server, so the client's own share weighs more) they are diagnostics.
    """
    from kaizen_tui.client import KaizenClient

    path = f"/api/v1/agents/{agent}/config" + (f"?label={label}" if label else "")
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "User-Agent": "kaizen-tui-client/bench",
    }
    probe = KaizenClient(url, token)
    entry = probe.get_config_entry(agent, label=label)
    etag = f'"{entry.content_hash}"'
    body_bytes = len(json.dumps(entry.config, ensure_ascii=False, separators=(",", ":")).encode())
    probe.close()

    def expect(status: int, got: int) -> None:
        if got != status:
            raise RuntimeError(f"status {got}, not {status}")

    # -- a revalidation (304): cache_ttl=0, so every get_config sends If-None-Match
    revalidating = KaizenClient(url, token, cache_ttl=0)
    revalidating.get_config(agent, label=label)
    if revalidating.get_config_entry(agent, label=label).source != "revalidated":
        raise RuntimeError("not revalidated")
    bare_304 = BareHttp(port, path, {**headers, "If-None-Match": etag})
    raw_304 = Connection(port)
    raw_304_request = get_request(port, path, token, etag)
    revalidate = alternate(
        [
            lambda: revalidating.get_config(agent, label=label),
            lambda: expect(304, bare_304.get()),
            lambda: expect(304, raw_304.request(raw_304_request)[0]),
        ],
        scale.requests,
        scale.warmup,
    )

    # -- a cold fetch (200, the body parsed and checked), nothing in memory nor on disk
    cold_client = KaizenClient(url, token, cache_ttl=3600)
    folder = Path(tempfile.mkdtemp(prefix="client-cache-", dir=OUT))
    cold_disk = KaizenClient(url, token, cache_ttl=3600, cache_dir=folder)
    bare_200 = BareHttp(port, path, headers)
    raw_200 = Connection(port)
    raw_200_request = get_request(port, path, token)

    def forget_all() -> None:
        """No copy in memory nor on disk: the next call is a cold fetch (outside the clock)."""
        cold_client.clear_cache()
        cold_disk.clear_cache()
        for leftover in folder.iterdir():
            leftover.unlink()

    forget_all()
    if cold_disk.get_config_entry(agent, label=label).source != "server":
        raise RuntimeError("not fetched")

    def fresh_connection_client() -> None:
        with KaizenClient(url, token) as client:
            client.get_config(agent, label=label)

    def fresh_connection_bare() -> None:
        bare = BareHttp(port, path, headers)
        expect(200, bare.get())
        bare.connection.close()

    fetch = alternate(
        [
            lambda: cold_client.get_config(agent, label=label),
            lambda: expect(200, bare_200.get()),
            lambda: expect(200, raw_200.request(raw_200_request)[0]),
        ],
        scale.requests,
        scale.warmup,
        prepare={0: forget_all},
    )
    # Apart: the file system's work after a write (ext4 flushes a file renamed over another) would fall
    # on whichever side came next.
    disk = alternate(
        [lambda: cold_disk.get_config(agent, label=label), lambda: expect(200, bare_200.get())],
        scale.requests // 2,
        scale.warmup,
        prepare={0: forget_all},
    )
    start = alternate([fresh_connection_client, fresh_connection_bare], scale.requests // 2, scale.warmup // 4)
    for connection in (raw_304, raw_200):
        connection.close()
    for client in (revalidating, cold_client, cold_disk):
        client.close()
    for leftover in folder.iterdir():
        leftover.unlink()
    folder.rmdir()

    bare = "the same request, bare http.client"
    minimal = "a minimal HTTP/1.1 socket client"
    if label:
        what, target, lead = f"label={label}", "<= 1.5", ""
    else:
        what, target, lead = "the live config", "", "  diagnostic: "
    figures = [
        Figure(f"revalidate{'' if label else '_live'}", f"{lead}a revalidation (304) through get_config, {what}",
               median(revalidate[0]), median(revalidate[1]), "ms", target, bare,
               {"ours": revalidate[0], "floor": revalidate[1]}),
        Figure(f"revalidate_minimal{'' if label else '_live'}",
               f"  diagnostic: bare http.client vs a minimal socket client (304, {what})",
               median(revalidate[1]), median(revalidate[2]), "ms", "", minimal),
        Figure(f"cold{'' if label else '_live'}", f"{lead}a cold fetch (200: parsed, checked, cached), {what}",
               median(fetch[0]), median(fetch[1]), "ms", target, bare, {"ours": fetch[0], "floor": fetch[1]}),
        Figure(f"cold_disk{'' if label else '_live'}", f"  info: the same writing the cache_dir file too, {what}",
               median(disk[0]), median(disk[1]), "ms", "", bare),
        Figure(f"cold_minimal{'' if label else '_live'}",
               f"  diagnostic: bare http.client vs a minimal socket client (200, {what})",
               median(fetch[1]), median(fetch[2]), "ms", "", minimal),
        Figure(f"cold_start{'' if label else '_live'}",
               f"  info: a new client + connection vs a new bare connection, {what}",
               median(start[0]), median(start[1]), "ms", "", "a new bare http.client connection each time"),
    ]  # fmt: skip
    return figures, {"body_bytes": body_bytes, "etag": etag}


def label_figures(db: Path, scale: Scale) -> list[Figure]:
    """``set_label`` (a real move each time) against ``create_version``, alternated call by call."""
    from kaizen_tui.service import AgentService

    service = AgentService(str(db), user="bench")
    try:
        agent = service.find_agent("bench-agent-0")["id"]
        moving = service.find_agent("bench-agent-1")
        where = [2]

        def move() -> None:
            where[0] = 3 if where[0] == 2 else 2
            moved = service.set_label(moving["id"], "canary", where[0])
            if not moved["moved"]:
                raise RuntimeError("the label did not move")

        def move_checked() -> None:
            target = 3 if where[0] == 2 else 2
            service.set_label(moving["id"], "canary", target, expected=where[0])
            where[0] = target

        def snapshot() -> None:
            service.create_version(agent, "bench")

        service.set_label(moving["id"], "canary", 2)
        operations = [move, snapshot, move_checked]
        times: list[list[float]] = [[] for _ in operations]
        for rep in range(scale.moves + 5):
            for index, operation in enumerate(operations):
                started = time.perf_counter()
                operation()
                if rep >= 5:
                    times[index].append((time.perf_counter() - started) * 1000)
    finally:
        service.close()
    return [
        Figure("label_move", "a label move (set_label) vs create_version", median(times[0]), median(times[1]), "ms",
               "<= 2", "create_version", {"ours": times[0], "floor": times[1]}),
        Figure("label_move_checked", "  info: the same with compare-and-swap (expected=)", median(times[2]),
               median(times[1]), "ms", "", "create_version"),
    ]  # fmt: skip


def measure(scale: Scale, log: Callable[[str], None]) -> tuple[list[Figure], dict[str, Any]]:
    from kaizen_tui.client import KaizenClient

    OUT.mkdir(exist_ok=True)
    db = OUT / "client.db"
    log(f"building {db} ...")
    names, token = build_database(db)
    port = free_port()
    log_path = OUT / "client-server.log"
    server = Server("kaizen-tui", [*kaizen_command(), "--db", str(db), "serve", "--port", str(port)], port, log_path)
    try:
        server.wait_ready(get_request(port, "/healthz", token))
        url = f"http://{HOST}:{port}"
        agent = names[0]
        log("get_config from a fresh cache ...")
        client = KaizenClient(url, token, cache_ttl=3600)
        figures = fresh_figures(client, agent, scale)
        client.close()
        log("revalidations and cold fetches against the bare round trip ...")
        more, info = http_figures(url, port, token, agent, scale, "production")
        figures += more
        log("the same for the live config ...")
        more, _ = http_figures(url, port, token, agent, scale, None)
        figures += more
    finally:
        server.stop()
    log("label moves against create_version ...")
    figures += label_figures(db, scale)
    return figures, info


# ---------------------------------------------------------------------------
# report


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "us":
        return f"{value:.2f} µs"
    return f"{value:.3f} ms" if value < 1 else f"{value:.2f} ms"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "ours (median)", "floor (median)", "ratio", "target", "result")]
    for f in figures:
        floor = fmt(f.floor, f.unit) if f.floor is not None else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        if not f.target:
            target, result = "-", "info"
        else:
            target = f"{f.target}x" if f.floor is not None else f"{f.target} {'µs' if f.unit == 'us' else f.unit}"
            result = "n/a" if f.ok is None else "PASS" if f.ok else "MISS"
        rows.append((f.label, fmt(f.ours, f.unit), floor, ratio, target, result))
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
        "uvicorn": installed("uvicorn"),
        "machine": f"{platform.system()} {platform.machine()}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and requests: a smoke run")
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (the table goes to stderr)"
    )
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    try:
        figures, info = measure(scale, log)
    except KeyboardInterrupt:
        print("interrupted; the server stopped", file=sys.stderr)
        return 130
    runtime = time.perf_counter() - started
    env = environment()
    out = sys.stderr if args.json else sys.stdout
    print(
        f"kaizen-tui client benchmark ({scale.name}): {env['date']}, {env['cores']} cores, {env['machine']}, "
        f"Python {env['python']}, SQLite {env['sqlite']}, FastAPI {env['fastapi']}, uvicorn {env['uvicorn']}",
        file=out,
    )
    print(
        f"{AGENTS} agents, production on v2; /config?label=production body {info['body_bytes']:,} B; "
        "medians of interleaved runs",
        file=out,
    )
    print(table(figures), file=out)
    missed = [f.label.strip() for f in figures if f.ok is False]
    print(f"result: {'PASS' if not missed else 'MISS: ' + '; '.join(missed)}", file=out)
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
