"""The command line as a process against a bare Python script reading the same rows with sqlite3, in the same run.

    .venv/bin/python bench/cli.py              # about half a minute on 2 cores
    .venv/bin/python bench/cli.py --runs 11    # fewer runs: a smoke run
    .venv/bin/python bench/cli.py --kaizen /other/venv/bin/kaizen-tui   # another install (an older branch)

Data: a fresh SQLite database in ``bench/out/`` with one agent (``A``, a ~1.6 KB
system prompt) and 20 versions, made with the command line itself, so the script
measures any install given with ``--kaizen``.

Figures, each the median wall time of a whole process (start-up included) and
its ratio to the floor's median, the two run in turn (A B A B ...) so that the
drift of a shared machine cancels out in the ratio:

- ``kaizen-tui versions A --json`` (the 20 versions, their configs decoded);
- ``kaizen-tui snapshot A`` (a write: one more version each run, on a copy);
- the floor: ``python -c`` with a script that opens the database with sqlite3,
  finds the agent by name, reads its newest 20 versions, decodes each snapshot
  and prints them as JSON: the least a process answering ``versions`` does.

Both run as an installed program does: with their bytecode compiled (kept
under ``bench/out/pycache``, so a checkout measured with ``--kaizen`` is not
written to), whatever ``PYTHONDONTWRITEBYTECODE`` says here.

This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tables import markdown_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
VERSIONS = 20
PROMPT = "You are a helpful support agent. " * 50

#: The floor, run as ``python -c FLOOR DB``: the same rows as ``versions A --json``, read with sqlite3.
FLOOR = r"""
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(agent_id,) = db.execute("SELECT id FROM agent WHERE name_key = ?", ("a",)).fetchone()
rows = db.execute(
    "SELECT id, agent_id, version_number, config_snapshot, changelog, created_by, created_at"
    " FROM agent_version WHERE agent_id = ? ORDER BY version_number DESC LIMIT 20",
    (agent_id,),
).fetchall()
keys = ("id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at")
out = [dict(zip(keys, row), config=json.loads(row[3])) for row in rows]
sys.stdout.write(json.dumps(out, indent=2) + "\n")
"""


def default_kaizen() -> str:
    return str(Path(sys.executable).with_name("kaizen-tui"))


def build(kaizen: str, db: Path) -> None:
    """One agent ``A`` with :data:`VERSIONS` versions, made with the command line."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = {**os.environ, "KAIZEN_USER": "bench"}

    def run(*args: str) -> None:
        subprocess.run([kaizen, "--db", str(db), *args], check=True, env=env, stdout=subprocess.DEVNULL)

    run("create", "--name", "A", "--model", "gpt-4o", "--prompt", PROMPT)
    for number in range(1, VERSIONS + 1):
        run("set", "A", f"temperature=0.{number % 10}", f"description=step {number}")
        run("snapshot", "A", "-m", f"step {number}")


def process_env() -> dict[str, str]:
    """The environment the measured processes run in: bytecode kept (see the module's docstring)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(OUT / "pycache")
    return env


def timed(argv: list[str]) -> float:
    """Wall milliseconds of one process, from its start to its exit."""
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=process_env())
    elapsed = (time.perf_counter() - started) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{argv!r} exited {done.returncode}: {done.stderr.decode(errors='replace')[-400:]}")
    return elapsed


def compare(ours: list[str], floor: list[str], runs: int, warmup: int = 2) -> tuple[float, float]:
    """Run ``ours`` and ``floor`` in turn; their median milliseconds."""
    mine: list[float] = []
    base: list[float] = []
    for index in range(warmup + runs):
        a, b = timed(ours), timed(floor)
        if index >= warmup:
            mine.append(a)
            base.append(b)
    return statistics.median(mine), statistics.median(base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="runs of each process (default 31)")
    parser.add_argument("--kaizen", default=default_kaizen(), help="the kaizen-tui to measure (default: this venv's)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    db, copy = OUT / "cli.db", OUT / "cli-snapshot.db"
    print(f"building {db} with {args.kaizen} ...", file=sys.stderr)
    build(args.kaizen, db)
    floor = [sys.executable, "-c", FLOOR, str(db)]
    figures = []
    for label, command, target in (
        (f"kaizen-tui versions A --json ({VERSIONS} versions)", ["versions", "A", "--json"], db),
        ("kaizen-tui snapshot A", ["snapshot", "A"], copy),
    ):
        if target == copy:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{copy}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(db, copy)
        print(f"{label} ...", file=sys.stderr)
        ours, base = compare([args.kaizen, "--db", str(target), *command], floor, args.runs)
        figures.append({"figure": label, "ours_ms": ours, "floor_ms": base, "ratio": ours / base})
    rows = [["figure (process, median)", "ours", "floor: python + sqlite3", "ratio"]]
    rows += [[f["figure"], f"{f['ours_ms']:.1f} ms", f"{f['floor_ms']:.1f} ms", f"{f['ratio']:.2f}x"] for f in figures]
    table = markdown_table(rows)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps({"runs": args.runs, "kaizen": args.kaizen, "figures": figures}, indent=2))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
