"""kaizen-tui on PostgreSQL: the figures of issue #12, each against raw psycopg measured in the same run.

    .venv/bin/python bench/postgres.py            # 100,000 versions, a few minutes on 2 cores
    .venv/bin/python bench/postgres.py --quick    # 5,000 versions, a smoke run of well under a minute
    .venv/bin/python bench/postgres.py --json     # every sample as JSON on stdout, the table on stderr
    .venv/bin/python bench/postgres.py --only write,read   # some groups: write, read, transfer

The server: a throwaway one started from ``tests/postgres_server.py`` (a
temporary folder, 127.0.0.1, the tests' settings: fsync and
synchronous_commit off, so what is measured is our code and the round trips,
not the disk), stopped and deleted at the end; or the one of
``KAIZEN_BENCH_PG_URL`` (``postgresql://user@host:port/postgres``: a database
to connect to, on a server where that user may create databases; without it,
``KAIZEN_TEST_PG_URL`` is used as the tests use it). Every database this
script creates is dropped at the end.

The data: bench/run.py's shape on PostgreSQL. 900 agents x 100 versions with
~2 KB snapshots, versions interleaved over a year as automatic versioning on
many agents writes them, plus one agent with 10,000 versions: 100,000
versions, each with its ``version.create`` audit event, and an
``agent.create`` event per agent. The schema is the one the service creates;
the rows are those the service writes, bulk-loaded with ``COPY`` (it takes
seconds, not 100,000 service calls), then ``VACUUM ANALYZE``.

Every figure alternates kaizen-tui and its baseline round by round (A B, then
B A, ...) so that the noise of a shared machine hits both, and compares their
medians; p95 is shown where there are enough samples. Why the baselines are
fair:

* ``create_version``: the real public operation,
  ``AgentService.create_version(agent)`` as the CLI and the API call it (in
  the calling thread), on the 10,000-version agent. The
  baseline writes the same rows on a connection of its own, as a careful
  hand-written psycopg program would: one transaction under the same
  advisory write lock, the number allocated by the service's own ``UPDATE
  agent ... RETURNING`` (which also returns the live config to snapshot),
  the version row (the same canonical snapshot text and hash), the
  ``version.create`` audit row, ``COMMIT``; in psycopg's pipeline mode, so two
  round trips in all (the snapshot is built from what the ``UPDATE``
  returns). That ``UPDATE`` is the only write to the agent row that
  create_version makes (no revision bump). Same agent, same indexes and
  triggers, same rows.
* The newest 50 versions: ``get_versions(limit=50)`` (what the API's
  ``GET .../versions`` calls) and ``get_timeline(limit=50)`` (what the TUI's
  timeline calls, 101 rows at a time) against the one query ``SELECT ...
  ORDER BY version_number DESC LIMIT 50`` on an autocommit connection, the
  version's columns, all rows fetched.
* Export + import: ``AgentService.export_file`` of the whole database, then
  ``import_file`` of that file into an empty database (the schema created
  beforehand, as for the baseline), in process. The baseline moves the same
  rows of the same three tables with ``COPY ... TO STDOUT`` into files
  (fsynced, as the export file is) and ``COPY ... FROM STDIN`` into an empty
  database in one transaction, through psycopg. Both targets are checked to
  hold every row afterwards.

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
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from run import WORDS, AgentGen
from tables import markdown_table

if TYPE_CHECKING:
    from kaizen_tui.service import AgentService
    from tests.postgres_server import PostgresServer

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"

BIG_NAME = "bench history big"
USER = "bench"


@dataclass(frozen=True)
class Scale:
    name: str
    agents: int  # regular agents
    versions: int  # versions of each regular agent
    big: int  # versions of the big agent: create_version and the newest 50 work on it
    rounds_write: int  # create_version rounds (one call of each side per round)
    rounds_read: int  # newest-50 rounds
    rounds_transfer: int  # export + import rounds
    warmup: int

    @property
    def total_versions(self) -> int:
        return self.agents * self.versions + self.big


FULL = Scale(
    "full", agents=900, versions=100, big=10_000, rounds_write=800, rounds_read=1000, rounds_transfer=5, warmup=30
)
QUICK = Scale(
    "quick", agents=40, versions=100, big=1_000, rounds_write=60, rounds_read=100, rounds_transfer=1, warmup=10
)


# ---------------------------------------------------------------------------
# the server and its databases


@contextlib.contextmanager
def postgres_server(log: Callable[[str], None]) -> Iterator[PostgresServer]:
    """The server of ``KAIZEN_BENCH_PG_URL``, else ``tests/postgres_server.py``'s (a throwaway one); stopped at the end."""
    from tests.postgres_server import PostgresServer, start_server

    url = os.environ.get("KAIZEN_BENCH_PG_URL", "").strip()
    if url:
        base, _, admin = url.rstrip("/").rpartition("/")
        server = PostgresServer(base_url=base, admin_database=admin or "postgres")
        log(f"PostgreSQL of KAIZEN_BENCH_PG_URL: {base.rpartition('@')[2]}")
    else:
        started = time.perf_counter()
        server = start_server()
        log(f"started a throwaway PostgreSQL at {server.base_url} in {time.perf_counter() - started:.1f} s")
    try:
        yield server
    finally:
        server.stop()


class Databases:
    """The databases of this run on a server: created on demand, all dropped by :meth:`drop_all`."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.prefix = f"kaizen_bench_{os.getpid()}"
        self.names: list[str] = []

    def create(self, what: str) -> str:
        """A new empty database; its URL."""
        name = f"{self.prefix}_{what}"
        self.server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        self.names.append(name)
        return self.server.url(name)

    def drop(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.names:
            self.names.remove(name)

    def drop_all(self) -> None:
        for name in list(self.names):
            with contextlib.suppress(psycopg.Error):
                self.server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.names.clear()


def create_schema(url: str) -> None:
    """The schema exactly as the service creates it in a new database."""
    from kaizen_tui.service import AgentService

    AgentService(url, user=USER).close()


# ---------------------------------------------------------------------------
# the data


AGENT_COPY_COLUMNS = (
    "id", "name", "description", "agent_type", "status", "system_prompt", "model_id", "temperature", "max_tokens",
    "extra", "created_by", "created_at", "updated_at", "last_version_number", "revision", "name_key", "content_hash",
)  # fmt: skip
VERSION_COPY_COLUMNS = (
    "id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at", "content_hash",
)  # fmt: skip
AUDIT_COPY_COLUMNS = ("at", "actor", "action", "agent_id", "version_id", "detail")
#: What an export + import moves, and so what the raw bulk copy moves: every row of these tables
#: (audit events without their local ids, which the target gives anew, as an import does).
COPIED_TABLES = (
    ("agent", AGENT_COPY_COLUMNS),
    ("agent_version", VERSION_COPY_COLUMNS),
    ("audit_event", AUDIT_COPY_COLUMNS),
)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _detail(detail: dict[str, Any]) -> str:
    """An audit event's detail as the service writes it."""
    return json.dumps(detail, ensure_ascii=False, sort_keys=True)


@dataclass
class BenchData:
    url: str
    big_id: str
    agents: int
    versions: int
    audit_events: int


def generate(scale: Scale) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(agent rows, version rows, audit rows) of the bench database, in the service's shapes.

    As bench/run.py builds its SQLite data: every regular agent gets its next
    version in each shuffled round, the big agent's versions are spread over
    all rounds; each version comes with its ``version.create`` audit event,
    each agent's first with ``agent.create`` just before.
    """
    from kaizen_tui.core.schema import snapshot_json

    rng = random.Random(20240115)
    agents = [AgentGen(rng, f"{rng.choice(WORDS)}-{rng.choice(WORDS)}-{i:04d}") for i in range(scale.agents)]
    big = AgentGen(rng, BIG_NAME)
    rounds = scale.versions
    big_left = scale.big
    clock = dt.datetime(2025, 1, 1, 8, 0, tzinfo=dt.UTC)
    step = dt.timedelta(seconds=max(1, int(365 * 86400 / scale.total_versions)))
    versions: list[tuple[Any, ...]] = []
    audit: list[tuple[Any, ...]] = []
    for round_index in range(rounds):
        big_now = big_left // (rounds - round_index)
        big_left -= big_now
        events = [*agents, *([big] * big_now)]
        rng.shuffle(events)
        for generator in events:
            clock += step
            when = _iso(clock)
            first = generator.last == 0
            row = generator.next_version(snapshot_json, when)
            if first:
                detail = _detail({"name": generator.config["name"], "revision": 1})
                audit.append((when, row[5], "agent.create", generator.id, None, detail))
            versions.append(row)
            audit.append((when, row[5], "version.create", generator.id, row[0], _detail({"version_number": row[2]})))
    agent_rows = [generator.agent_row() for generator in (*agents, big)]
    return agent_rows, versions, audit


def build_database(databases: Databases, scale: Scale, log: Callable[[str], None]) -> BenchData:
    """The bench database: the service's schema, filled with ``COPY`` in one transaction, then vacuumed."""
    started = time.perf_counter()
    url = databases.create("source")
    create_schema(url)
    agents, versions, audit = generate(scale)
    log(f"  generated {len(versions):,} versions in {time.perf_counter() - started:.1f} s")
    with psycopg.connect(url) as connection:
        for table, columns, rows in (
            ("agent", AGENT_COPY_COLUMNS, agents),
            ("agent_version", VERSION_COPY_COLUMNS, versions),
            ("audit_event", AUDIT_COPY_COLUMNS, audit),
        ):
            with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    big_id = agents[-1][0]
    log(f"  built the bench database in {time.perf_counter() - started:.1f} s ({(size or [0])[0] / 1e6:.0f} MB)")
    return BenchData(url, big_id, len(agents), len(versions), len(audit))


# ---------------------------------------------------------------------------
# measuring


@dataclass
class Figure:
    key: str
    label: str
    ours: list[float]  # ms
    base: list[float]  # ms
    target: float | None  # the ratio of medians it must stay within; None: a diagnostic
    base_label: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return statistics.median(self.ours) / statistics.median(self.base)

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile, when there are enough samples for one to mean something."""
    if len(values) < 20:
        return None
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


Operation = Callable[[], Any]


def interleave(rounds: int, warmup: int, *operations: Operation) -> list[list[float]]:
    """Run the operations in turn, A B then B A ..., ``warmup`` rounds first; each one's times in ms."""
    times: list[list[float]] = [[] for _ in operations]
    for round_index in range(warmup + rounds):
        order = list(enumerate(operations))
        if round_index % 2:
            order.reverse()
        for index, operation in order:
            started = time.perf_counter()
            operation()
            elapsed = (time.perf_counter() - started) * 1000
            if round_index >= warmup:
                times[index].append(elapsed)
    return times


# -- create_version ----------------------------------------------------------------

#: The next version number, allocated as the store allocates it (kaizen_tui/store/postgres.py's _NEXT_NUMBER).
NEXT_NUMBER = (
    "UPDATE agent SET last_version_number = greatest(last_version_number, "
    "coalesce((SELECT max(version_number) FROM agent_version WHERE agent_id = %(agent)s), 0)) + 1 "
    "WHERE id = %(agent)s RETURNING last_version_number"
)
CONFIG_COLUMNS = (
    "name",
    "description",
    "agent_type",
    "system_prompt",
    "model_id",
    "temperature",
    "max_tokens",
    "extra",
)
#: The same, also returning the live config to snapshot and its hash: the agent is read in the same statement.
NEXT_NUMBER_AND_CONFIG = f"{NEXT_NUMBER}, {', '.join(CONFIG_COLUMNS)}, content_hash"
INSERT_VERSION = f"INSERT INTO agent_version ({', '.join(VERSION_COPY_COLUMNS)}) VALUES ({', '.join(['%s'] * len(VERSION_COPY_COLUMNS))})"
INSERT_AUDIT = (
    f"INSERT INTO audit_event ({', '.join(AUDIT_COPY_COLUMNS)}) VALUES ({', '.join(['%s'] * len(AUDIT_COPY_COLUMNS))})"
)


class RawWriter:
    """create_version's rows, hand-written on a connection of its own."""

    def __init__(self, url: str, agent_id: str) -> None:
        from kaizen_tui.store.postgres import WRITE_LOCK_KEY

        self.connection = psycopg.connect(url, autocommit=True)
        self.agent_id = agent_id
        self.lock_key = WRITE_LOCK_KEY

    def create_version(self, changelog: str | None = None) -> None:
        """Two round trips: BEGIN, the lock and the numbering UPDATE; then both INSERTs and COMMIT."""
        from kaizen_tui.core.ids import new_version_id, utc_now
        from kaizen_tui.core.schema import snapshot_json

        connection = self.connection
        with connection.pipeline():
            connection.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            row = connection.execute(NEXT_NUMBER_AND_CONFIG, {"agent": self.agent_id}).fetchone()
            assert row is not None
            number, config, live_hash = row[0], dict(zip(CONFIG_COLUMNS, row[1:-1])), row[-1]
            version_id, now = new_version_id(), utc_now()
            connection.execute(
                INSERT_VERSION,
                (version_id, self.agent_id, number, snapshot_json(config), changelog, USER, now, live_hash),
            )
            connection.execute(
                INSERT_AUDIT,
                (now, USER, "version.create", self.agent_id, version_id, _detail({"version_number": number})),
            )
            connection.execute("COMMIT")

    def create_version_statement_by_statement(self, changelog: str | None = None) -> None:
        """The store's own statements, one round trip each, in plain psycopg (a diagnostic)."""
        from kaizen_tui.core.ids import new_version_id, utc_now
        from kaizen_tui.core.schema import snapshot_json

        connection = self.connection
        connection.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({self.lock_key})")
        row = connection.execute(
            f"SELECT {', '.join(CONFIG_COLUMNS)}, content_hash FROM agent WHERE id = %s", (self.agent_id,)
        ).fetchone()
        assert row is not None
        config, live_hash = dict(zip(CONFIG_COLUMNS, row[:-1])), row[-1]
        numbered = connection.execute(NEXT_NUMBER, {"agent": self.agent_id}).fetchone()
        assert numbered is not None
        number = numbered[0]
        version_id, now = new_version_id(), utc_now()
        connection.execute(
            INSERT_VERSION, (version_id, self.agent_id, number, snapshot_json(config), changelog, USER, now, live_hash)
        )
        connection.execute(
            INSERT_AUDIT, (now, USER, "version.create", self.agent_id, version_id, _detail({"version_number": number}))
        )
        connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


def version_numbers(url: str, agent_id: str) -> list[int]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT version_number FROM agent_version WHERE agent_id = %s ORDER BY version_number", (agent_id,)
        ).fetchall()
    return [number for (number,) in rows]


def write_figures(data: BenchData, scale: Scale, log: Callable[[str], None]) -> list[Figure]:
    from kaizen_tui.service import AgentService

    service = AgentService(data.url, user=USER)
    raw = RawWriter(data.url, data.big_id)
    changelog = "Tune temperature"
    try:
        log(f"create_version on the {scale.big:,}-version agent vs raw psycopg, {scale.rounds_write} rounds ...")
        ours, base, by_statement = interleave(
            scale.rounds_write,
            scale.warmup,
            lambda: service.create_version(data.big_id, changelog),
            lambda: raw.create_version(changelog),
            lambda: raw.create_version_statement_by_statement(changelog),
        )
        numbers = version_numbers(data.url, data.big_id)
    finally:
        raw.close()
        service.close()
    gapless = numbers == list(range(1, len(numbers) + 1))
    base_label = "raw psycopg: the same rows, one transaction, pipelined (2 round trips)"
    return [
        Figure(
            "create_version",
            f"create_version on the {scale.big:,}-version agent (AgentService, as the CLI and API call it)",
            ours,
            base,
            1.5,
            base_label,
            note=f"check: {len(numbers):,} versions numbered 1..{numbers[-1]:,}, {'gapless' if gapless else 'GAPS'}",
        ),
        Figure(
            "create_version_by_statement",
            "  diagnostic: the store's statements in plain psycopg, one round trip each (6)",
            by_statement,
            base,
            None,
            base_label,
        ),
    ]


# -- the newest 50 versions --------------------------------------------------------

NEWEST_PAGE = (
    "SELECT id, agent_id, version_number, config_snapshot, changelog, created_by, created_at, content_hash "
    "FROM agent_version WHERE agent_id = %s ORDER BY version_number DESC LIMIT %s"
)
NEWEST_PAGE_WITHOUT_SNAPSHOTS = NEWEST_PAGE.replace("config_snapshot, ", "")
PAGE_SIZE = 50


def read_figures(data: BenchData, scale: Scale, log: Callable[[str], None]) -> list[Figure]:
    from kaizen_tui.service import AgentService

    service = AgentService(data.url, user=USER)
    raw = psycopg.connect(data.url, autocommit=True)
    by_statement_connection = psycopg.connect(data.url, autocommit=True)

    def raw_page() -> list[tuple[Any, ...]]:
        rows = raw.execute(NEWEST_PAGE, (data.big_id, PAGE_SIZE)).fetchall()
        assert len(rows) == PAGE_SIZE
        return rows

    def by_statement() -> list[tuple[Any, ...]]:
        """get_versions's statements in plain psycopg, one round trip each (4)."""
        connection = by_statement_connection
        connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        connection.execute("SELECT 1 FROM agent WHERE id = %s", (data.big_id,)).fetchone()
        rows = connection.execute(NEWEST_PAGE, (data.big_id, PAGE_SIZE)).fetchall()
        connection.execute("ROLLBACK")
        return rows

    try:
        log(f"the newest {PAGE_SIZE} versions of the {scale.big:,}-version agent, {scale.rounds_read} rounds ...")
        versions, timeline, base, statements, without_snapshots = interleave(
            scale.rounds_read,
            scale.warmup,
            lambda: service.get_versions(data.big_id, limit=PAGE_SIZE),
            lambda: service.get_timeline(data.big_id, limit=PAGE_SIZE),
            raw_page,
            by_statement,
            lambda: raw.execute(NEWEST_PAGE_WITHOUT_SNAPSHOTS, (data.big_id, PAGE_SIZE)).fetchall(),
        )
    finally:
        raw.close()
        by_statement_connection.close()
        service.close()
    base_label = f"raw SELECT ... ORDER BY version_number DESC LIMIT {PAGE_SIZE}, all rows fetched"
    return [
        Figure(
            "newest_50_get_versions",
            f"newest {PAGE_SIZE} versions, get_versions (the API's GET .../versions)",
            versions,
            base,
            2.0,
            base_label,
        ),
        Figure(
            "newest_50_get_timeline",
            f"newest {PAGE_SIZE} versions, get_timeline (the TUI's timeline)",
            timeline,
            base,
            2.0,
            base_label,
        ),
        Figure(
            "newest_50_by_statement",
            "  diagnostic: get_versions's statements in plain psycopg, one round trip each (4)",
            statements,
            base,
            None,
            base_label,
        ),
        Figure(
            "newest_50_without_snapshots",
            "  diagnostic: the raw page without the snapshot text (all a timeline shows)",
            without_snapshots,
            base,
            None,
            base_label,
        ),
    ]


# -- export + import -----------------------------------------------------------------


def raw_copy_out(url: str, folder: Path) -> None:
    """Every row of the copied tables, ``COPY ... TO STDOUT`` in one snapshot, into a file each (fsynced)."""
    with psycopg.connect(url) as connection:
        connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for table, columns in COPIED_TABLES:
            with (
                (folder / f"{table}.copy").open("wb") as handle,
                connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) TO STDOUT") as copy,
            ):
                for chunk in copy:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        connection.rollback()


def raw_copy_in(url: str, folder: Path) -> None:
    """Those files into an empty database, ``COPY ... FROM STDIN``, in one transaction."""
    with psycopg.connect(url) as connection:
        for table, columns in COPIED_TABLES:
            with (
                (folder / f"{table}.copy").open("rb") as handle,
                connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)


def row_counts(url: str) -> tuple[int, int, int]:
    """(agents, versions, audit events other than imports) of a database."""
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT (SELECT count(*) FROM agent), (SELECT count(*) FROM agent_version), "
            "(SELECT count(*) FROM audit_event WHERE action <> 'import')"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def kaizen_transfer(source: AgentService, target_url: str, work: Path) -> tuple[float, float, int]:
    """export_file of the whole source, import_file of it into the target: (export ms, import ms, file bytes)."""
    from kaizen_tui.service import AgentService

    export_file = work / "bench.kaizen"
    target = AgentService(target_url, user=USER)
    try:
        started = time.perf_counter()
        source.export_file(export_file)
        exported = time.perf_counter()
        target.import_file(export_file)
        imported = time.perf_counter()
    finally:
        target.close()
    size = export_file.stat().st_size
    export_file.unlink()
    return (exported - started) * 1000, (imported - exported) * 1000, size


def raw_transfer(source_url: str, target_url: str, work: Path) -> tuple[float, float, int]:
    """COPY out of the source, COPY in to the target: (out ms, in ms, file bytes)."""
    folder = work / "copy"
    folder.mkdir()
    started = time.perf_counter()
    raw_copy_out(source_url, folder)
    exported = time.perf_counter()
    raw_copy_in(target_url, folder)
    imported = time.perf_counter()
    size = sum(path.stat().st_size for path in folder.iterdir())
    shutil.rmtree(folder)
    return (exported - started) * 1000, (imported - exported) * 1000, size


def transfer_figures(data: BenchData, databases: Databases, scale: Scale, log: Callable[[str], None]) -> list[Figure]:
    from kaizen_tui.service import AgentService

    expected = row_counts(data.url)  # the write figures, when run, added versions to the big agent
    agents, versions, events = expected
    source = AgentService(data.url, user=USER)
    work = Path(tempfile.mkdtemp(prefix="kaizen-bench-pg-", dir=OUT))
    times: dict[str, list[float]] = {"kaizen_out": [], "kaizen_in": [], "raw_out": [], "raw_in": []}
    sizes: dict[str, int] = {}
    try:
        log(f"export + import of {versions:,} versions vs COPY out + COPY in, {scale.rounds_transfer} rounds ...")
        for round_index in range(scale.rounds_transfer):
            for side in ("kaizen", "raw") if round_index % 2 == 0 else ("raw", "kaizen"):
                target_url = databases.create(f"{side}_{round_index}")
                create_schema(target_url)
                if side == "kaizen":
                    out_ms, in_ms, sizes[side] = kaizen_transfer(source, target_url, work)
                else:
                    out_ms, in_ms, sizes[side] = raw_transfer(data.url, target_url, work)
                times[f"{side}_out"].append(out_ms)
                times[f"{side}_in"].append(in_ms)
                if (counts := row_counts(target_url)) != expected:
                    raise AssertionError(f"{side} copied {counts} rows (agents, versions, audit), not {expected}")
                databases.drop(target_url)
                log(f"  round {round_index + 1}, {side}: {(out_ms + in_ms) / 1000:.1f} s")
    finally:
        source.close()
        shutil.rmtree(work, ignore_errors=True)
    total = [a + b for a, b in zip(times["kaizen_out"], times["kaizen_in"])]
    raw_total = [a + b for a, b in zip(times["raw_out"], times["raw_in"])]
    return [
        Figure(
            "export_import",
            f"export + import of the bench database ({agents:,} agents, {versions:,} versions, {events:,} audit events)",
            total,
            raw_total,
            3.0,
            "raw COPY TO STDOUT + COPY FROM STDIN of the same rows (psycopg)",
            note=(
                f"check: both targets hold every row, each round; export file {sizes['kaizen'] / 1e6:.0f} MB, "
                f"COPY files {sizes['raw'] / 1e6:.0f} MB"
            ),
        ),
        Figure(
            "export",
            "  diagnostic: export alone (export_file)",
            times["kaizen_out"],
            times["raw_out"],
            None,
            "COPY TO STDOUT",
        ),
        Figure(
            "import",
            "  diagnostic: import alone, into an empty database (import_file)",
            times["kaizen_in"],
            times["raw_in"],
            None,
            "COPY FROM STDIN",
        ),
    ]


# ---------------------------------------------------------------------------
# report


def fmt_ms(value: float) -> str:
    if value < 10:
        return f"{value:.2f} ms"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.1f} s"


def cell(samples: Sequence[float]) -> str:
    text = fmt_ms(statistics.median(samples))
    high = p95(samples)
    return text if high is None else f"{text} (p95 {fmt_ms(high)})"


def table(figures: Sequence[Figure]) -> str:
    rows = [("what", "kaizen", "raw baseline", "ratio", "target", "PASS/MISS")]
    for figure in figures:
        target = "-" if figure.target is None else f"<= {figure.target:g}x"
        verdict = "info" if figure.passed is None else "PASS" if figure.passed else "MISS"
        rows.append((figure.label, cell(figure.ours), cell(figure.base), f"{figure.ratio:.2f}x", target, verdict))
    return markdown_table(rows)


def environment(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', 'synchronous_commit')"
        ).fetchall()
    settings: dict[str, str] = dict(rows)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "machine": f"{platform.system()} {platform.machine()}",
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "libpq": psycopg.pq.version(),
        "postgresql": settings.get("server_version"),
        "fsync": settings.get("fsync"),
        "synchronous_commit": settings.get("synchronous_commit"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 versions and few rounds: a smoke run")
    parser.add_argument("--json", action="store_true", help="every sample as JSON on stdout (the table on stderr)")
    parser.add_argument("--only", help="comma-separated groups to run: write,read,transfer")
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    groups = set((args.only or "write,read,transfer").split(","))
    if unknown := groups - {"write", "read", "transfer"}:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    sys.path.insert(0, str(ROOT))  # kaizen_tui and tests.postgres_server of this checkout
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    figures: list[Figure] = []
    with postgres_server(log) as server:
        databases = Databases(server)
        try:
            log(f"building the bench database ({scale.total_versions:,} versions) ...")
            data = build_database(databases, scale, log)
            env = environment(data.url)
            if "write" in groups:
                figures += write_figures(data, scale, log)
            if "read" in groups:
                figures += read_figures(data, scale, log)
            if "transfer" in groups:
                figures += transfer_figures(data, databases, scale, log)
        finally:
            databases.drop_all()
    runtime = time.perf_counter() - started

    out = sys.stderr if args.json else sys.stdout
    print(
        f"kaizen-tui on PostgreSQL ({scale.name}): {env['date']}, {env['cores']} cores, {env['machine']}, "
        f"Python {env['python']}, PostgreSQL {env['postgresql']} (fsync={env['fsync']}, "
        f"synchronous_commit={env['synchronous_commit']}), psycopg {env['psycopg']}, libpq {env['libpq']}",
        file=out,
    )
    print(
        f"data: {data.agents:,} agents, {data.versions:,} versions (one agent with {scale.big:,}), "
        f"{data.audit_events:,} audit events; medians of interleaved rounds",
        file=out,
    )
    print(table(figures), file=out)
    for figure in figures:
        if figure.note:
            print(f"{figure.key}: {figure.note}", file=out)
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
                            "key": figure.key,
                            "label": figure.label.strip(),
                            "ours_median_ms": statistics.median(figure.ours),
                            "base_median_ms": statistics.median(figure.base),
                            "ours_p95_ms": p95(figure.ours),
                            "base_p95_ms": p95(figure.base),
                            "ratio": figure.ratio,
                            "target": figure.target,
                            "passed": figure.passed,
                            "compared_with": figure.base_label,
                            "note": figure.note,
                            "samples": {"ours": figure.ours, "base": figure.base},
                        }
                        for figure in figures
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
