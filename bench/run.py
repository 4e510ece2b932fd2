"""kaizen-tui at 100,000 versions: each figure against its floor, measured in the same run.

    .venv/bin/python bench/run.py            # full run, a few minutes on 2 cores
    .venv/bin/python bench/run.py --quick    # smoke run on small data, well under a minute
    .venv/bin/python bench/run.py --json     # every figure and its samples as JSON on stdout (table on stderr)
    .venv/bin/python bench/run.py --only service,size   # some groups: process, service, tui, size

Data: 1,000 agents x 100 versions with ~2 KB snapshots, plus one agent with
10,000 versions (and a 10-version one, two versions with 20 KB prompts). It is
built with bulk inserts into the schema the service creates, rows exactly as
the service writes them, versions interleaved over time as automatic
versioning writes them; it is cached under ``bench/out/`` keyed by the data
format and a hash of the schema, so reruns start at once. Mutating figures
work on a copy.

Every figure runs interleaved with its floor (A B A B ...) and is reported as
the median of its runs, so drift of a shared, noisy machine cancels out in
the ratio. Process figures start the real ``kaizen-tui`` console script on a
pseudo-terminal of 120x36 and stop the clock when the first agent's name is
on the screen; TUI figures drive the app on Textual's headless driver and
stop the clock at the first frame that shows the result of the key.

This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import difflib
import errno
import fcntl
import hashlib
import json
import os
import platform
import pty
import random
import re
import select
import shutil
import signal
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tables import markdown_table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
#: Bump when the generated data changes shape (names, sizes, order).
DATA_FORMAT = 2
TERM_SIZE = (120, 36)  # columns, rows

BIG_NAME = "bench history big"
SMALL_NAME = "bench history small"  # sorts right after the big one in the agent list
DIFF_NAME = "bench diff 20k"
RAW_NAME = "bench raw inserts"
USERS = ("alice", "bob", "carol", "dmitri", "erin", "farid")
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "claude-haiku-4", "llama-3.1-70b", "mistral-large")
AGENT_TYPES = ("chat", "task", "pipeline", "custom")
STATUSES = ("draft", "active", "active", "archived")


@dataclass
class Scale:
    name: str
    agents: int
    versions: int
    big: int
    small: int
    reps_fast: int  # cheap in-process operations
    reps_slow: int  # prune, processes
    reps_proc: int
    reps_tui: int
    git_reps: int


FULL = Scale(
    "full",
    agents=1000,
    versions=100,
    big=10_000,
    small=10,
    reps_fast=30,
    reps_slow=5,
    reps_proc=7,
    reps_tui=15,
    git_reps=15,
)
QUICK = Scale(
    "quick", agents=60, versions=10, big=1_000, small=10, reps_fast=8, reps_slow=2, reps_proc=1, reps_tui=3, git_reps=5
)


# ---------------------------------------------------------------------------
# data


WORDS = [
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
    "formal",
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
    "schedule",
    "meeting",
    "report",
    "table",
    "chart",
    "metric",
    "quarter",
    "revenue",
    "churn",
    "onboarding",
    "employee",
    "manager",
    "privacy",
    "consent",
    "language",
    "translate",
    "review",
    "code",
    "test",
    "commit",
    "branch",
    "release",
    "deploy",
    "incident",
    "outage",
    "severity",
    "priority",
    "owner",
    "deadline",
    "status",
    "update",
    "draft",
    "final",
    "approve",
    "reject",
    "clarify",
    "assume",
    "verify",
    "check",
]


def _sentence(rng: random.Random, low: int = 7, high: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    words[0] = words[0].capitalize()
    return " ".join(words) + "."


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uid(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


class AgentGen:
    """One agent whose config drifts a little with every version."""

    def __init__(self, rng: random.Random, name: str, prompt_bytes: int = 1650) -> None:
        self.rng = rng
        self.id = f"agt-{_uid(rng)}"
        self.config: dict[str, Any] = {
            "name": name,
            "description": _sentence(rng, 6, 12),
            "agent_type": rng.choice(AGENT_TYPES),
            "system_prompt": "",
            "model_id": rng.choice(MODELS),
            "temperature": round(rng.uniform(0.0, 1.2), 2),
            "max_tokens": rng.choice((0, 1024, 2048, 4096)),
            "extra": {},
        }
        if rng.random() < 0.4:
            self.config["extra"] = {
                "tools": rng.sample(["search", "calendar", "sql", "email", "files"], 2),
                "top_p": 0.9,
            }
        target = int(prompt_bytes * rng.uniform(0.85, 1.15))
        self.lines: list[str] = []
        while sum(len(line) + 1 for line in self.lines) < target:
            self.lines.append(_sentence(rng))
        self.status = rng.choice(STATUSES)
        self.last = 0
        self.created_at = ""
        self.updated_at = ""

    def next_version(self, snapshot_json: Callable[[dict[str, Any]], str], when: str) -> tuple:
        """Change the config a little and return the agent_version row of the new version."""
        rng = self.rng
        if self.last:
            change = rng.random()
            if change < 0.7:
                self.lines[rng.randrange(len(self.lines))] = _sentence(rng)
                changelog = rng.choice(("Tighten the prompt", "Clarify tone", "Fix wording", "Add a rule", None))
            elif change < 0.85:
                self.config["temperature"] = round(rng.uniform(0.0, 1.2), 2)
                changelog = "Tune temperature"
            else:
                self.config["model_id"] = rng.choice(MODELS)
                changelog = "Try another model"
        else:
            changelog = "Initial version"
            self.created_at = when
        self.config["system_prompt"] = "\n".join(self.lines)
        self.last += 1
        self.updated_at = when
        return (
            f"ver-{_uid(rng)}",
            self.id,
            self.last,
            snapshot_json(self.config),
            changelog,
            rng.choice(USERS),
            when,
            _content_hash(self.config),
        )

    def agent_row(self) -> tuple:
        from kaizen_tui.core.names import name_key

        c = self.config
        return (
            self.id,
            c["name"],
            c["description"],
            c["agent_type"],
            self.status,
            c["system_prompt"],
            c["model_id"],
            c["temperature"],
            c["max_tokens"],
            json.dumps(c["extra"]),
            "bench",
            self.created_at,
            self.updated_at,
            self.last,
            1,
            name_key(c["name"]),
            _content_hash(c),
        )


AGENT_COLUMNS = (
    "id, name, description, agent_type, status, system_prompt, model_id, temperature, max_tokens, extra, "
    "created_by, created_at, updated_at, last_version_number, revision, name_key, content_hash"
)
VERSION_COLUMNS = "id, agent_id, version_number, config_snapshot, changelog, created_by, created_at, content_hash"
INSERT_AGENT = f"INSERT INTO agent ({AGENT_COLUMNS}) VALUES ({', '.join('?' * 17)})"
INSERT_VERSION = f"INSERT INTO agent_version ({VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def _content_hash(config: dict[str, Any]) -> str:
    """The content hash the service stores with a version and an agent's live config."""
    from kaizen_tui.core.schema import content_hash

    return content_hash(config)


def _diff_prompts(rng: random.Random, size: int = 20_000) -> tuple[str, str]:
    """Two ~20 KB prompts: the second edits ~10% of the lines, adds and removes a few."""
    lines: list[str] = []
    while sum(len(line) + 1 for line in lines) < size:
        lines.append(_sentence(rng, 8, 14))
    new = list(lines)
    for index in rng.sample(range(len(new)), len(new) // 10):
        words = new[index].split()
        words[rng.randrange(len(words))] = rng.choice(WORDS)
        new[index] = " ".join(words)
    for _ in range(5):
        new.insert(rng.randrange(len(new)), _sentence(rng))
        del new[rng.randrange(len(new))]
        del new[rng.randrange(len(new))]
    return "\n".join(lines), "\n".join(new) + "\n" + "\n".join(_sentence(rng) for _ in range(10))


def schema_fingerprint() -> str:
    """A hash of the schema the service creates, so cached data follows schema changes."""
    from kaizen_tui.service import AgentService

    with tempfile.TemporaryDirectory() as folder:
        service = AgentService(str(Path(folder) / "schema.db"), user="bench")
        service.close()
        connection = sqlite3.connect(Path(folder) / "schema.db")
        sql = sorted(row[0] or "" for row in connection.execute("SELECT sql FROM sqlite_master"))
        user_version = connection.execute("PRAGMA user_version").fetchone()[0]
        connection.close()
    return hashlib.sha256(("\n".join(sql) + f"\n{user_version}").encode()).hexdigest()[:12]


def build_database(path: Path, scale: Scale, log: Callable[[str], None]) -> None:
    """Create the schema through the service, then fill it with bulk inserts.

    Versions are inserted interleaved over time (every agent gets its next
    version in a shuffled round, the big agent's versions spread over all
    rounds), as automatic versioning on many agents would write them, so the
    indexes and the table are laid out as in real use.
    """
    from kaizen_tui.core.schema import snapshot_json
    from kaizen_tui.service import AgentService

    started = time.perf_counter()
    tmp = path.with_suffix(".building")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    AgentService(str(tmp), user="bench").close()

    rng = random.Random(20240115)
    agents = [AgentGen(rng, f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i:04d}") for i in range(scale.agents)]
    big = AgentGen(rng, BIG_NAME)
    small = AgentGen(rng, SMALL_NAME)
    raw = AgentGen(rng, RAW_NAME)
    diff = AgentGen(rng, DIFF_NAME)
    rounds = scale.versions
    # (generator, how many versions per round): the big agent's spread evenly.
    per_round = [(agent, 1) for agent in agents] + [(raw, 1)]
    big_left = scale.big
    clock = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=max(1, int(365 * 86400 / (scale.agents * rounds + scale.big))))

    connection = sqlite3.connect(tmp, isolation_level=None)
    connection.execute("PRAGMA synchronous = OFF")
    connection.execute("PRAGMA cache_size = -262144")
    connection.execute("BEGIN")
    for round_index in range(rounds):
        events: list[AgentGen] = [agent for agent, count in per_round for _ in range(count)]
        big_now = big_left // (rounds - round_index)
        big_left -= big_now
        events += [big] * big_now
        if round_index < scale.small:
            events.append(small)
        rng.shuffle(events)
        rows = []
        for generator in events:
            clock += step
            rows.append(generator.next_version(snapshot_json, _iso(clock)))
        connection.executemany(INSERT_VERSION, rows)
        if round_index % 10 == 9:
            log(f"  built round {round_index + 1}/{rounds} ({time.perf_counter() - started:.0f} s)")
    # Two versions with ~20 KB prompts, for the compare figure.
    old_prompt, new_prompt = _diff_prompts(rng)
    rows = []
    for prompt in (old_prompt, new_prompt):
        diff.lines = prompt.split("\n")
        clock += step
        rows.append(diff.next_version(snapshot_json, _iso(clock)))
    connection.executemany(INSERT_VERSION, rows)
    connection.executemany(INSERT_AGENT, [g.agent_row() for g in (*agents, big, small, raw, diff)])
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{tmp}{suffix}").unlink(missing_ok=True)
    tmp.replace(path)
    log(f"  built {path.name} in {time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")


def add_history(db: Path, name: str, count: int, seed: int) -> str:
    """Bulk-add an agent with ``count`` versions to a working database; return its id."""
    from kaizen_tui.core.schema import snapshot_json

    rng = random.Random(seed)
    generator = AgentGen(rng, name)
    generator.id = f"agt-{uuid.uuid4().hex}"  # same content for the same seed, a new agent each time
    clock = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    rows = []
    for _ in range(count):
        clock += dt.timedelta(minutes=7)
        rows.append(generator.next_version(snapshot_json, _iso(clock)))
    connection = sqlite3.connect(db, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    connection.execute(INSERT_AGENT, generator.agent_row())
    connection.executemany(INSERT_VERSION, rows)
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return generator.id


def ensure_data(scale: Scale, log: Callable[[str], None]) -> tuple[Path, Path]:
    """The cached big database and demo database (built when missing)."""
    OUT.mkdir(parents=True, exist_ok=True)
    schema = schema_fingerprint()
    big = OUT / f"data-v{DATA_FORMAT}-{scale.name}-{schema}.db"
    if not big.exists():
        for stale in OUT.glob(f"data-*-{scale.name}-*.db"):
            stale.unlink()
        log(f"building {big.name} (cached for the next runs) ...")
        build_database(big, scale, log)
    demo_code = hashlib.sha256((ROOT / "kaizen_tui" / "demo.py").read_bytes()).hexdigest()[:8]
    demo = OUT / f"demo-{schema}-{demo_code}.db"
    if not demo.exists():
        for stale in OUT.glob("demo-*.db"):
            stale.unlink()
        from kaizen_tui.demo import ensure_demo_database

        tmp = demo.with_suffix(".building")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
        ensure_demo_database(str(tmp))
        checkpoint(tmp)
        tmp.replace(demo)
    return big, demo


def checkpoint(path: Path) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def working_copy(source: Path, name: str) -> Path:
    target = OUT / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target


def agent_ids(db: Path) -> dict[str, str]:
    connection = sqlite3.connect(db)
    ids = {name: agent_id for agent_id, name in connection.execute("SELECT id, name FROM agent")}
    connection.close()
    return ids


def first_agent_name(db: Path) -> str:
    connection = sqlite3.connect(db)
    (name,) = connection.execute("SELECT name FROM agent ORDER BY lower(name), id LIMIT 1").fetchone()
    connection.close()
    return name


# ---------------------------------------------------------------------------
# measuring


@dataclass
class Figure:
    key: str
    label: str
    ours: float | None
    floor: float | None
    unit: str
    target: str  # "<= 2" or ">= 10" (ratio), "< 50" (absolute, in unit), or "" (a diagnostic)
    floor_label: str = ""
    ratio_of: str = "ours/floor"  # or "floor/ours" when the target is "x faster"
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.floor is None or self.ours <= 0 or self.floor <= 0:
            return None
        return self.ours / self.floor if self.ratio_of == "ours/floor" else self.floor / self.ours

    @property
    def ok(self) -> bool | None:
        if not self.target:
            return None
        op, _, number = self.target.partition(" ")
        value = self.ratio if self.floor_label else self.ours
        if value is None:
            return None
        limit = float(number.rstrip("x"))
        return {"<=": value <= limit, ">=": value >= limit, "<": value < limit}[op]


def median(values: list[float]) -> float:
    return statistics.median(values)


async def interleave(reps: int, *operations: Callable[[], Any], warmup: int = 2) -> list[list[float]]:
    """Run the operations A B C A B C ... and return each one's durations in ms."""
    times: list[list[float]] = [[] for _ in operations]
    for rep in range(warmup + reps):
        for index, operation in enumerate(operations):
            started = time.perf_counter()
            result = operation()
            if asyncio.iscoroutine(result):
                await result
            elapsed = (time.perf_counter() - started) * 1000
            if rep >= warmup:
                times[index].append(elapsed)
    return times


def raw_connection(db: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the service's durability settings."""
    connection = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = FULL")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    return connection


# -- service figures ----------------------------------------------------------


async def service_figures(db: Path, scale: Scale, log: Callable[[str], None]) -> list[Figure]:
    from kaizen_tui.core.schema import snapshot_json
    from kaizen_tui.service import AgentService, AsyncAgentService, agent_config

    figures: list[Figure] = []
    ids = agent_ids(db)
    service = AgentService(str(db), user="bench")
    raw = raw_connection(db)
    try:
        # -- create_version vs raw insert + commit ---------------------------------
        regular = sorted(name for name in ids if name.count("-") == 2)
        ours_agent, raw_agent = ids[regular[len(regular) // 2]], ids[RAW_NAME]
        raw_config = agent_config(service.get(raw_agent))
        raw_snapshot = snapshot_json(raw_config)
        raw_hash = _content_hash(raw_config)
        next_raw = [raw.execute("SELECT last_version_number FROM agent WHERE id = ?", (raw_agent,)).fetchone()[0]]

        def raw_insert() -> None:
            next_raw[0] += 1
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(
                INSERT_VERSION,
                (
                    f"ver-{uuid.uuid4().hex}",
                    raw_agent,
                    next_raw[0],
                    raw_snapshot,
                    None,
                    "bench",
                    "2026-01-01T00:00:00Z",
                    raw_hash,
                ),
            )
            raw.execute("COMMIT")

        same_agent = ids[regular[len(regular) // 2 + 1]]
        live_columns = (
            "name",
            "description",
            "agent_type",
            "system_prompt",
            "model_id",
            "temperature",
            "max_tokens",
            "extra",
        )

        def raw_same_transaction() -> None:
            """What create_version does, hand-written: same statements, same lock, same durability."""
            raw.execute("BEGIN IMMEDIATE")
            row = raw.execute(
                f"SELECT {', '.join(live_columns)}, last_version_number FROM agent WHERE id = ?", (same_agent,)
            ).fetchone()
            (highest,) = raw.execute(
                "SELECT max(version_number) FROM agent_version WHERE agent_id = ?", (same_agent,)
            ).fetchone()
            number = max(row[-1], highest or 0) + 1
            config = dict(zip(live_columns, row))
            config["extra"] = json.loads(config["extra"])
            version_id = f"ver-{uuid.uuid4().hex}"
            now = _iso(dt.datetime.now(dt.UTC))
            raw.execute(
                INSERT_VERSION,
                (version_id, same_agent, number, snapshot_json(config), None, "bench", now, _content_hash(config)),
            )
            raw.execute("UPDATE agent SET last_version_number = ? WHERE id = ?", (number, same_agent))
            raw.execute(
                "INSERT INTO audit_event (at, actor, action, agent_id, version_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (now, "bench", "version.create", same_agent, version_id, json.dumps({"version_number": number})),
            )
            raw.execute("COMMIT")

        git, durable_git = GitFloor(raw_snapshot), GitFloor(raw_snapshot, durable=True)
        # The same call awaited through the async face, to show what its hop to a thread costs.
        face = AsyncAgentService(service)
        try:
            log("create_version vs raw insert vs git add + commit ...")
            ours, floor, same, awaited = await interleave(
                scale.reps_fast,
                lambda: service.create_version(ours_agent),
                raw_insert,
                raw_same_transaction,
                lambda: face.create_version(ours_agent),
            )
            ours_git, git_times, raw_git, durable_git_times = await interleave(
                scale.git_reps, lambda: service.create_version(ours_agent), git.commit, raw_insert, durable_git.commit
            )
        finally:
            git.close()
            durable_git.close()
        figures.append(
            Figure(
                "create_version",
                "create_version, one commit each",
                median(ours),
                median(floor),
                "ms",
                "<= 2",
                "raw sqlite3 INSERT + COMMIT (WAL, synchronous=FULL)",
                samples={"ours": ours, "floor": floor},
            )
        )
        figures.append(
            Figure(
                "create_version_handwritten",
                "  diagnostic: create_version's own transaction in plain sqlite3",
                median(same),
                median(floor),
                "ms",
                "<= 2",
                "raw sqlite3 INSERT + COMMIT (WAL, synchronous=FULL)",
                note="same statements, lock and durability, no ORM: what the target allows",
                samples={"ours": same, "floor": floor},
            )
        )
        figures.append(
            Figure(
                "create_version_async_face",
                "  info: create_version awaited through AsyncAgentService",
                median(awaited),
                median(floor),
                "ms",
                "",
                "raw sqlite3 INSERT + COMMIT (WAL, synchronous=FULL)",
                note="what an asyncio program pays: the same call plus a hop to a thread and back",
                samples={"ours": awaited, "floor": floor},
            )
        )
        figures.append(
            Figure(
                "create_version_vs_git",
                "create_version vs git",
                median(ours_git),
                median(git_times),
                "ms",
                ">= 10x",
                "git add + git commit of the config as JSON",
                ratio_of="floor/ours",
                samples={"ours": ours_git, "floor": git_times},
            )
        )
        figures.append(
            Figure(
                "raw_insert_vs_git",
                "  diagnostic: the raw INSERT + COMMIT floor vs git",
                median(raw_git),
                median(git_times),
                "ms",
                "",
                "git add + git commit of the config as JSON",
                ratio_of="floor/ours",
                note="git fsyncs nothing by default; we fsync every commit",
                samples={"ours": raw_git, "floor": git_times},
            )
        )
        figures.append(
            Figure(
                "create_version_vs_durable_git",
                "  diagnostic: create_version vs git that fsyncs as we do",
                median(ours_git),
                median(durable_git_times),
                "ms",
                "",
                "git -c core.fsync=all add + commit",
                ratio_of="floor/ours",
                samples={"ours": ours_git, "floor": durable_git_times},
            )
        )

        # -- newest 50 ---------------------------------------------------------
        big_agent = ids[BIG_NAME]
        newest_sql = (
            f"SELECT {VERSION_COLUMNS} FROM agent_version WHERE agent_id = ? ORDER BY version_number DESC LIMIT 50"
        )

        def raw_newest() -> list:
            return raw.execute(newest_sql, (big_agent,)).fetchall()

        log("newest 50 versions ...")
        ours, floor, ours_tl = await interleave(
            scale.reps_fast,
            lambda: service.get_versions(big_agent, limit=50),
            raw_newest,
            lambda: service.get_timeline(big_agent, limit=50),
        )
        figures.append(
            Figure(
                "newest_50",
                f"newest 50 versions of the {scale.big:,}-version agent (get_versions)",
                median(ours),
                median(floor),
                "ms",
                "<= 3",
                "raw sqlite3 SELECT ... LIMIT 50, same file",
                samples={"ours": ours, "floor": floor},
            )
        )
        figures.append(
            Figure(
                "timeline_page_50",
                "  diagnostic: the same through get_timeline (what the TUI calls)",
                median(ours_tl),
                median(floor),
                "ms",
                "",
                "raw sqlite3 SELECT ... LIMIT 50, same file",
                note="also parses and checks every snapshot, to mark damaged ones and the live one",
                samples={"ours": ours_tl, "floor": floor},
            )
        )

        # -- compare two versions with 20 KB prompts ----------------------------------
        first, second = [row["id"] for row in reversed(service.get_versions(ids[DIFF_NAME]))]
        old_prompt, new_prompt = [
            json.loads(service.get_version(v)["config_snapshot"])["system_prompt"] for v in (first, second)
        ]

        def floor_diff() -> list[str]:
            return list(difflib.unified_diff(old_prompt.splitlines(), new_prompt.splitlines(), "v1", "v2", lineterm=""))

        log("compare two versions with 20 KB prompts ...")
        ours, floor = await interleave(scale.reps_fast, lambda: service.compare_versions(first, second), floor_diff)
        figures.append(
            Figure(
                "compare_20k",
                "compare two versions with 20 KB prompts (compare_versions)",
                median(ours),
                median(floor),
                "ms",
                "<= 5",
                "difflib.unified_diff of the two prompts",
                samples={"ours": ours, "floor": floor},
            )
        )

        # -- prune a big history to 10 -------------------------------------------
        log(f"prune a {scale.big:,}-version agent to 10 ...")
        ours, floor = [], []
        for rep in range(scale.reps_slow + 1):
            # Alternate which goes first, so the state one leaves behind (free pages) favours neither.
            for which in ("ours", "floor") if rep % 2 == 0 else ("floor", "ours"):
                agent_id = add_history(
                    db, f"bench prune {rep} {which}", scale.big, seed=1000 + 2 * rep + (which == "floor")
                )
                if which == "ours":
                    started = time.perf_counter()
                    deleted = service.cleanup_old_versions(agent_id, 10)
                    elapsed = time.perf_counter() - started
                else:
                    started = time.perf_counter()
                    raw.execute("BEGIN IMMEDIATE")
                    deleted = raw.execute(
                        "DELETE FROM agent_version WHERE agent_id = ? AND version_number <= ?",
                        (agent_id, scale.big - 10),
                    ).rowcount
                    raw.execute("COMMIT")
                    elapsed = time.perf_counter() - started
                assert deleted == scale.big - 10, deleted
                if rep:  # the first pair is a warm-up
                    (ours if which == "ours" else floor).append(elapsed * 1000)
        figures.append(
            Figure(
                "prune",
                f"prune the {scale.big:,}-version agent to 10",
                median(ours),
                median(floor),
                "ms",
                "<= 3",
                "raw DELETE of the same rows + COMMIT",
                samples={"ours": ours, "floor": floor},
            )
        )
    finally:
        raw.close()
        service.close()
    return figures


class GitFloor:
    """``git add`` + ``git commit`` of the same config as a JSON file, one commit each."""

    def __init__(self, snapshot: str, *, durable: bool = False) -> None:
        #: git fsyncs nothing by default; durable=True makes it fsync what it writes, as we do.
        self.options = ["-c", "core.fsync=all"] if durable else []
        self.folder = Path(tempfile.mkdtemp(prefix="kaizen-bench-git-"))
        self.env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.invalid",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        self.config = json.loads(snapshot)
        self.count = 0
        subprocess.run(["git", "init", "-q", str(self.folder)], check=True, env=self.env)

    def commit(self) -> None:
        # A different temperature each time, so there is something to commit.
        self.count += 1
        self.config["temperature"] = round((self.count % 200) / 100, 2)
        (self.folder / "agent.json").write_text(json.dumps(self.config, sort_keys=True, indent=2))
        git = ["git", *self.options]
        subprocess.run([*git, "add", "agent.json"], cwd=self.folder, check=True, env=self.env)
        subprocess.run([*git, "commit", "-q", "-m", f"v{self.count}"], cwd=self.folder, check=True, env=self.env)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# -- database size ----------------------------------------------------------------


def size_figure(db: Path) -> tuple[Figure, list[tuple[str, int]]]:
    """Database bytes per version against the snapshot's JSON bytes (on the freshly built file)."""
    connection = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    versions, snapshot_bytes = connection.execute(
        "SELECT count(*), sum(length(CAST(config_snapshot AS BLOB))) FROM agent_version"
    ).fetchone()
    try:
        parts = connection.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    except sqlite3.OperationalError:
        parts = []
    connection.close()
    per_version = page_size * pages / versions
    per_snapshot = snapshot_bytes / versions
    figure = Figure(
        "bytes_per_version",
        "database bytes per version",
        per_version,
        per_snapshot,
        "B",
        "<= 1.5",
        "the snapshot's JSON bytes (mean)",
    )
    return figure, parts


# -- process figures ----------------------------------------------------------------

MINIMAL_APP = """
from textual.app import App

class Minimal(App):
    def on_mount(self) -> None:
        self.exit()

Minimal().run()
"""

_ESCAPE = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")


@dataclass
class ProcessRun:
    seconds: float  # until the marker was seen (or the process ended, without a marker)
    max_rss_kb: int  # VmHWM of the program itself (for a program that exits alone: ru_maxrss)
    shown: bool


def run_in_terminal(argv: list[str], marker: str | None, settle: float = 0.0, timeout: float = 60.0) -> ProcessRun:
    """Run a program on a fresh pseudo-terminal of TERM_SIZE, as a person would start it.

    With a ``marker``, the time is until that text is on the screen (escape
    sequences stripped); the program is then left running ``settle`` seconds
    more (so its peak memory covers what it loads right after) and killed.
    Without one, the time is until the program exits by itself.
    """
    master, slave = pty.openpty()
    columns, rows = TERM_SIZE
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "TEXTUAL", "COLUMNS", "LINES")}
    # The children run the code of this checkout, whatever the virtualenv has installed.
    env.update(
        TERM="xterm-256color",
        COLORTERM="truecolor",
        KAIZEN_USER="bench",
        PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
    )

    def controlling_terminal() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    started = time.perf_counter()
    process = subprocess.Popen(
        argv,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=controlling_terminal,
        close_fds=True,
    )
    os.close(slave)
    wanted = marker.encode() if marker else None
    screen = bytearray()
    seen_at: float | None = None
    deadline = started + timeout
    try:
        while True:
            now = time.perf_counter()
            if seen_at is not None and now >= seen_at + settle:
                break
            if now > deadline:
                raise TimeoutError(
                    f"{argv[-1]!r}: no {'marker' if marker else 'exit'} after {timeout:.0f} s: {bytes(screen[-400:])!r}"
                )
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError as error:
                if error.errno != errno.EIO:
                    raise
                chunk = b""
            if not chunk:
                break
            if wanted is not None and seen_at is None:
                screen += chunk
                if wanted in _ESCAPE.sub(b"", bytes(screen)):
                    seen_at = time.perf_counter()
        # The peak of this program's own memory (not inherited from the forking parent,
        # which ru_maxrss would report): read before the process goes.
        peak_kb = _vm_hwm_kb(process.pid)
    finally:
        if marker is not None or time.perf_counter() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        _, status, usage = os.wait4(process.pid, 0)
        ended = time.perf_counter()
        process.returncode = os.waitstatus_to_exitcode(status)
        os.close(master)
    if marker is not None and seen_at is None:
        raise RuntimeError(
            f"{argv!r} exited ({process.returncode}) before showing {marker!r}: {bytes(screen[-600:])!r}"
        )
    return ProcessRun(
        (seen_at if seen_at is not None else ended) - started, peak_kb or usage.ru_maxrss, seen_at is not None
    )


def _vm_hwm_kb(pid: int) -> int | None:
    """VmHWM (peak resident set) of a running process, in KiB; None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def kaizen_command(db: Path) -> list[str]:
    script = Path(sys.executable).parent / "kaizen-tui"
    if script.exists():
        return [str(script), "--db", str(db)]
    return [sys.executable, "-m", "kaizen_tui.cli", "--db", str(db)]


def tui_available() -> bool:
    """Whether ``kaizen_tui.tui.app`` (the TUI) exists and imports."""
    try:
        import kaizen_tui.tui.app  # noqa: F401
    except ModuleNotFoundError as error:
        if error.name != "kaizen_tui.tui.app":
            raise
        return False
    return True


def process_figures(big: Path, demo: Path, scale: Scale, log: Callable[[str], None]) -> list[Figure]:
    big_marker = first_agent_name(big)[:16]
    demo_marker = first_agent_name(demo)[:16]
    log(f"start of kaizen-tui until '{big_marker}' is on screen vs a minimal Textual app ...")
    ours, floor, with_service, on_demo = [], [], [], []
    for rep in range(scale.reps_proc + 1):
        runs = (
            run_in_terminal(kaizen_command(big), big_marker),
            run_in_terminal([sys.executable, "-c", MINIMAL_APP], None),
            run_in_terminal([sys.executable, "-c", "import kaizen_tui.service\n" + MINIMAL_APP], None),
            run_in_terminal(kaizen_command(demo), demo_marker),
        )
        if rep:
            for times, run in zip((ours, floor, with_service, on_demo), runs):
                times.append(run.seconds * 1000)
    start = Figure(
        "start",
        "start of kaizen-tui on the big database until the agent list is shown (process)",
        median(ours),
        median(floor),
        "ms",
        "<= 1.8",
        "minimal Textual app that exits on mount (process)",
        samples={"ours": ours, "floor": floor},
    )
    start_demo = Figure(
        "start_demo",
        "  diagnostic: the same on the demo database (6 agents)",
        median(on_demo),
        median(floor),
        "ms",
        "<= 1.8",
        "minimal Textual app that exits on mount (process)",
        samples={"ours": on_demo, "floor": floor},
    )
    start_import = Figure(
        "start_import",
        "  diagnostic: the minimal app importing kaizen_tui.service first",
        median(with_service),
        median(floor),
        "ms",
        "<= 1.8",
        "minimal Textual app that exits on mount (process)",
        note="the import alone (SQLModel, SQLAlchemy, pydantic, deepdiff)",
        samples={"ours": with_service, "floor": floor},
    )
    log("peak memory of the TUI: big database vs demo database ...")
    memory_big, memory_demo = [], []
    settle = 1.5 if scale is FULL else 0.5
    for _ in range(max(1, scale.reps_proc // 2)):
        memory_big.append(run_in_terminal(kaizen_command(big), big_marker, settle=settle).max_rss_kb / 1024)
        memory_demo.append(run_in_terminal(kaizen_command(demo), demo_marker, settle=settle).max_rss_kb / 1024)
    memory = Figure(
        "peak_memory",
        "peak memory of the TUI on the big database (peak RSS)",
        median(memory_big),
        median(memory_demo),
        "MB",
        "<= 1.3",
        "the same on the demo database",
        note="started, agent list shown, then 1.5 s (quick: 0.5 s) to load what follows",
        samples={"ours": memory_big, "floor": memory_demo},
    )
    return [start, start_demo, start_import, memory]


# -- TUI figures (in process, Textual's test driver) ------------------------------


class Paints:
    """Record each compositor refresh of a screen (the moment a frame is produced) with a state."""

    def __init__(self, screen: Any, state: Callable[[], Any]) -> None:
        self.log: list[tuple[float, Any]] = []
        self._state = state
        original = screen._compositor_refresh

        def refresh() -> None:
            original()
            self.log.append((time.perf_counter(), state()))

        screen._compositor_refresh = refresh

    async def first(self, since: float, wanted: Callable[[Any], bool], timeout: float = 30.0) -> float:
        """Seconds from ``since`` to the first frame after it whose state is ``wanted``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for moment, state in self.log:
                if moment >= since and wanted(state):
                    return moment - since
            await asyncio.sleep(0.0005)
        raise TimeoutError(f"no frame with the wanted state within {timeout:.0f} s; last: {self.log[-1:]!r}")


async def until(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        await asyncio.sleep(0.001)


async def tui_figures(db: Path, scale: Scale, log: Callable[[str], None]) -> list[Figure]:
    """Timeline open and cursor moves in the real app, on Textual's headless test driver.

    Every figure is from the key event to the first frame that shows its
    result (Textual paints at most 60 frames a second, as in a terminal).
    """
    from textual import events

    from kaizen_tui.service import AgentService
    from kaizen_tui.tui.app import KaizenApp

    ids = agent_ids(db)
    big_id, small_id = ids[BIG_NAME], ids[SMALL_NAME]
    service = AgentService(str(db), user="bench")
    app = KaizenApp(service=service)
    open_big, open_small, move_big, move_small, diff_big, diff_small = [], [], [], [], [], []
    extra: dict[str, list[float]] = {"G": [], "move_end": [], "move_end_small": []}
    async with app.run_test(size=TERM_SIZE) as pilot:
        await until(lambda: len(app.screen.query("#agents")) > 0, what="main screen")
        screen = app.screen
        agents = screen.query_one("#agents")
        timeline = screen.query_one("#timeline")
        diff = screen.query_one("#diff")

        def state() -> tuple:
            agent = timeline.agent or {}
            comparison = diff.comparison or {}
            return (
                agent.get("id"),
                timeline.row_count,
                timeline.cursor_row,
                (comparison.get("to") or {}).get("version_id"),
                timeline.cursor_key,
                timeline.more_below,
            )

        paints = Paints(screen, state)
        await until(lambda: agents.row_count > 0, what="agent list")

        def key(name: str) -> float:
            character = name if len(name) == 1 else None
            app._driver.send_message(events.Key(name, character))
            return time.perf_counter()

        async def settle() -> None:
            # The diff of the highlighted version is shown and nothing is left to do.
            await until(lambda: state()[3] is not None and state()[3] == state()[4], what="diff loaded")
            await pilot.pause()

        async def open_agent(agent_id: str) -> tuple[float, float]:
            """Highlight an agent in the list: ms until its timeline is painted, and until its diff is."""
            if state()[0] == agent_id and state()[1] > 0:
                return 0.0, 0.0  # already open
            agents.focus()
            await pilot.pause()
            row = agents.row_of(agent_id)
            if abs(row - agents.cursor_row) == 1:
                since = key("j" if row > agents.cursor_row else "k")
            else:
                since = time.perf_counter()
                agents.move_cursor(row=row)
            shown = await paints.first(since, lambda s: s[0] == agent_id and s[1] > 0)
            diffed = await paints.first(since, lambda s: s[0] == agent_id and s[3] is not None and s[3] == s[4])
            await settle()
            return shown * 1000, diffed * 1000

        async def move(name: str) -> tuple[float, float]:
            """One cursor move in the timeline: ms until the cursor is painted, and until the diff is."""
            row = timeline.cursor_row
            since = key(name)
            moved = await paints.first(since, lambda s: s[2] != row)
            diffed = await paints.first(since, lambda s: s[2] != row and s[3] is not None and s[3] == s[4])
            await settle()
            return moved * 1000, diffed * 1000

        await open_agent(small_id)
        log(f"TUI: open the timeline of {scale.big:,} vs {scale.small} versions, cursor moves ...")
        warmup = 2 if scale is FULL else 1
        for rep in range(scale.reps_tui + warmup):
            for agent_id, opens, moves, diffs in (
                (big_id, open_big, move_big, diff_big),
                (small_id, open_small, move_small, diff_small),
            ):
                shown, _ = await open_agent(agent_id)
                timeline.focus()
                await pilot.pause()
                steps = [await move("j"), await move("k")]
                if rep >= warmup:
                    opens.append(shown)
                    moves.extend(step[0] for step in steps)
                    diffs.extend(step[1] for step in steps)
        # The far end: G loads the oldest page of the big timeline (the window
        # moves there). Moves between v2 and v1 are compared with the same
        # moves in the small timeline: v1's diff (every field new) is drawn
        # in both, so the ratio shows what the length of the history costs.
        log("TUI: G in the big timeline and cursor moves at its end ...")
        for _round in range(2 if scale is FULL else 1):
            for agent_id, ends in ((big_id, extra["move_end"]), (small_id, extra["move_end_small"])):
                other = small_id if agent_id == big_id else big_id
                await open_agent(other)
                await open_agent(agent_id)
                timeline.focus()
                await pilot.pause()
                since = key("G")
                at_end = 1000 * await paints.first(
                    since,
                    lambda s, agent_id=agent_id: s[0] == agent_id and not s[5] and s[1] > 0 and s[2] == s[1] - 1,
                    timeout=120,
                )
                if agent_id == big_id:
                    extra["G"].append(at_end)
                await settle()
                for _ in range(3):
                    ends.append((await move("k"))[0])
                    ends.append((await move("j"))[0])
        await pilot.press("q")
    service.close()

    figures = [
        Figure(
            "timeline_open",
            f"open the timeline of the {scale.big:,}-version agent (key to frame)",
            median(open_big),
            median(open_small),
            "ms",
            "<= 2",
            f"the same for an agent with {scale.small} versions",
            samples={"ours": open_big, "floor": open_small},
        ),
        Figure(
            "cursor_move",
            "one cursor move in that timeline (key to frame)",
            median(move_big),
            median(move_small),
            "ms",
            "<= 1.5",
            f"the same in the {scale.small}-version timeline",
            samples={"ours": move_big, "floor": move_small},
        ),
        Figure("abs_key", "  absolute: key to frame, cursor move (big timeline)", median(move_big), None, "ms", "< 50"),
        Figure("abs_open", "  absolute: timeline pane open (big)", median(open_big), None, "ms", "< 150"),
        Figure(
            "abs_diff",
            "  absolute: cursor move until the diff pane shows that version (big)",
            median(diff_big),
            None,
            "ms",
            "< 150",
            note="includes the app's 20 ms debounce",
            samples={"ours": diff_big, "small": diff_small},
        ),
        Figure(
            "G_all",
            f"  extra: G in the big timeline (to v1, {scale.big:,} versions down)",
            median(extra["G"]),
            None,
            "ms",
            "< 150",
            samples={"ours": extra["G"]},
        ),
        Figure(
            "cursor_move_end",
            f"  extra: cursor move at the far end (v2/v1) of the {scale.big:,}",
            median(extra["move_end"]),
            median(extra["move_end_small"]),
            "ms",
            "<= 1.5",
            f"the same at v2/v1 of the {scale.small}-version timeline",
            samples={"ours": extra["move_end"], "floor": extra["move_end_small"]},
        ),
    ]
    return figures


# ---------------------------------------------------------------------------
# report


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "B":
        return f"{value:,.0f} B"
    return f"{value:g} {unit}"


def table(figures: list[Figure]) -> str:
    rows = [("figure", "ours (median)", "floor / peer (median)", "ratio", "target", "result")]
    for f in figures:
        if f.floor_label:
            ratio = "n/a" if f.ratio is None else f"{f.ratio:.2f}x"
            floor = fmt(f.floor, f.unit)
            target = f.target if f.target.endswith("x") else f"{f.target}x"
            if f.ratio_of == "floor/ours":
                target = f"{f.target} faster"
            if not f.target:
                target = "-"
        else:
            ratio, floor, target = "", "", f"{f.target} {f.unit}"
        ok = f.ok
        result = "info" if not f.target else "n/a" if ok is None else ("ok" if ok else "MISS")
        rows.append(
            (f.label, fmt(f.ours, f.unit) if f.ours is not None else (f.note or "n/a"), floor, ratio, target, result)
        )
    return markdown_table(rows)


def environment() -> dict[str, Any]:
    from importlib.metadata import version

    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "textual": version("textual"),
        "machine": f"{platform.system()} {platform.machine()}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small data and few repetitions: a smoke run")
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (the table goes to stderr)"
    )
    parser.add_argument("--only", help="comma-separated groups to run: service,size,process,tui")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    groups = set((args.only or "service,size,process,tui").split(","))
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731

    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    big, demo = ensure_data(scale, log)
    figures: list[Figure] = []
    tui = tui_available() if groups & {"process", "tui"} else False
    tui_db = working_copy(big, f"tui-{scale.name}.db") if tui else None
    if "process" in groups:
        if tui_db is not None:
            figures += process_figures(tui_db, working_copy(demo, "demo-work.db"), scale, log)
        else:
            figures += [
                Figure(
                    "start",
                    "start of kaizen-tui until the agent list is shown (process)",
                    None,
                    None,
                    "ms",
                    "<= 1.8",
                    "minimal Textual app that exits on mount (process)",
                    note="n/a (TUI not available)",
                ),
                Figure(
                    "peak_memory",
                    "peak memory of the TUI on the big database",
                    None,
                    None,
                    "MB",
                    "<= 1.3",
                    "the same on the demo database",
                    note="n/a (TUI not available)",
                ),
            ]
    if "service" in groups:
        work = working_copy(big, f"work-{scale.name}.db")
        figures += asyncio.run(service_figures(work, scale, log))
    if "tui" in groups:
        if tui_db is not None:
            figures += asyncio.run(tui_figures(tui_db, scale, log))
        else:
            figures += [
                Figure(key, label, None, None, "ms", target, floor_label, note="n/a (TUI not available)")
                for key, label, target, floor_label in (
                    ("timeline_open", "open the timeline of the big agent", "<= 2", "the same, 10 versions"),
                    ("cursor_move", "one cursor move in that timeline", "<= 1.5", "the same, 10 versions"),
                )
            ]
    if "size" in groups:
        figure, parts = size_figure(big)
        figures.append(figure)
    else:
        parts = []
    runtime = time.perf_counter() - started
    env = environment()
    # With --json, stdout is the JSON alone and the table goes to stderr.
    out = sys.stderr if args.json else sys.stdout
    print(
        f"kaizen-tui benchmark ({scale.name}): {env['date']}, {env['cores']} cores, {env['machine']}, "
        f"Python {env['python']}, SQLite {env['sqlite']}, Textual {env['textual']}",
        file=out,
    )
    print(
        f"data: {scale.agents:,} agents x {scale.versions} versions + one agent with {scale.big:,} versions "
        f"({big.stat().st_size / 1e6:.0f} MB); medians of interleaved runs",
        file=out,
    )
    print(table(figures), file=out)
    if parts:
        print("space by table/index: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in parts[:4]), file=out)
    print(f"runtime: {runtime:.0f} s", file=out)
    if args.json:
        print(
            json.dumps(
                {
                    "environment": env,
                    "scale": scale.name,
                    "runtime_s": round(runtime, 1),
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
                            "samples": f.samples,
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
