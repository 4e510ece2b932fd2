"""``kaizen-tui serve`` on PostgreSQL while the server stops and starts again: how long requests wait.

    .venv/bin/python bench/outage.py                  # a 20 s outage under 4 clients, about 45 s
    .venv/bin/python bench/outage.py --outage 5       # a shorter one
    .venv/bin/python bench/outage.py --json           # every request as JSON on stdout (the summary on stderr)

A throwaway PostgreSQL server from ``tests/postgres_server.py`` holds one
agent; ``kaizen-tui serve`` runs on it as a subprocess, its log in
``bench/out/outage-serve.log``. Clients (threads, each request on a new
connection, a 30 s timeout) fetch ``/config`` every 100 ms; after a few
seconds the database server is stopped (``pg_ctl stop -m fast``), and
started again ``--outage`` seconds later. The summary: the slowest request
while it was down and after it was back, how long after the start the first
200 came, and what the server's log said besides request lines.

This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.postgres_server import start_server  # noqa: E402

KAIZEN = Path(sys.executable).parent / "kaizen-tui"
OUT = ROOT / "bench" / "out"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kaizen(url: str, *argv: str) -> str:
    done = subprocess.run([str(KAIZEN), "--db", url, *argv], capture_output=True, text=True, check=True)
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the database server is down")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    server = start_server()
    serve = None
    try:
        url = server.new_database()
        kaizen(url, "create", "--name", "Bench", "--model", "m")
        secret = json.loads(kaizen(url, "token", "create", "bench", "--role", "read", "--json"))["token"]
        port = free_port()
        log_path = OUT / "outage-serve.log"
        with log_path.open("wb") as log:
            serve = subprocess.Popen(
                [str(KAIZEN), "--db", url, "serve", "--port", str(port)], stderr=log, stdout=subprocess.DEVNULL
            )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        samples: list[dict[str, float | int | str]] = []
        stop = threading.Event()
        started = time.monotonic()

        def client() -> None:
            while not stop.is_set():
                began = time.monotonic()
                try:
                    status: int | str = httpx.get(
                        f"{base}/api/v1/agents/Bench/config", headers={"Authorization": f"Bearer {secret}"}, timeout=30
                    ).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                ended = time.monotonic()
                samples.append({"at": began - started, "seconds": ended - began, "status": status})
                stop.wait(0.1)

        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        down_at = time.monotonic() - started
        server.stop_serving()
        time.sleep(args.outage)
        server.start_serving()
        up_at = time.monotonic() - started
        time.sleep(15)
        stop.set()
        for thread in threads:
            thread.join()
        during = [s for s in samples if down_at <= float(s["at"]) < up_at]
        after = [s for s in samples if float(s["at"]) >= up_at]
        first_ok = min((float(s["at"]) + float(s["seconds"]) for s in after if s["status"] == 200), default=None)
        log_text = log_path.read_text(errors="replace").splitlines()
        other_lines = [line for line in log_text[1:] if " actor=" not in line]

        def summary(group: list[dict[str, float | int | str]]) -> str:
            statuses: dict[str, int] = {}
            for sample in group:
                statuses[str(sample["status"])] = statuses.get(str(sample["status"]), 0) + 1
            slowest = max((float(s["seconds"]) for s in group), default=0.0)
            return f"{len(group)} requests, statuses {statuses}, slowest {slowest:.2f} s"

        report = [
            f"database down from {down_at:.1f} s to {up_at:.1f} s ({args.outage:.0f} s), {args.clients} clients",
            f"while down: {summary(during)}",
            f"after:      {summary(after)}",
            f"first 200 after the start: {first_ok - up_at:.2f} s" if first_ok is not None else "no 200 after",
            f"log lines other than requests ({len(other_lines)}):",
            *[f"  {line}" for line in other_lines[:20]],
        ]
        print("\n".join(report), file=sys.stderr)
        if args.json:
            print(json.dumps(samples))
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(timeout=30)
        server.stop()


if __name__ == "__main__":
    os.environ.pop("KAIZEN_DB", None)
    main()
