"""Nothing is lost under concurrent writers, killed writers and any sequence of operations."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from kaizen_tui.core.schema import parse_snapshot
from kaizen_tui.service import AgentService, agent_config

MIXED_WORKER = textwrap.dedent(
    """
    import json, os, random, sys, time
    from pathlib import Path
    from kaizen_tui.core.errors import KaizenError, DatabaseError
    from kaizen_tui.service import AgentService

    db, seed, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    agent_ids = sys.argv[5:]
    rng = random.Random(seed)
    service = AgentService(db, user=f"worker-{seed}")
    while not go.exists():
        time.sleep(0.001)

    def ack(**record):
        print(json.dumps(record), flush=True)

    def one(agent_id):
        op = rng.choice(["update", "snapshot", "snapshot", "rollback", "prune", "delete"])
        if op == "update":
            service.update(agent_id, {"temperature": round(rng.uniform(0, 2), 2),
                                      "system_prompt": f"prompt {seed}-{rng.random()}"})
            ack(op=op, agent=agent_id)
        elif op == "snapshot":
            version = service.create_version(agent_id, f"by {seed}")
            ack(op=op, agent=agent_id, id=version["id"], number=version["version_number"])
        else:
            versions = service.get_versions(agent_id, limit=15)
            if not versions:
                ack(op="nothing-to-do")
                return
            if op == "rollback":
                target = rng.choice(versions)
                service.rollback_to_version(agent_id, target["id"])
                ack(op=op, agent=agent_id, to=target["id"])
            elif op == "prune":
                ack(op=op, agent=agent_id, deleted=service.cleanup_old_versions(agent_id, keep=rng.randint(5, 12)))
            else:
                target = rng.choice(versions)
                service.delete_version(target["id"])
                ack(op=op, agent=agent_id, id=target["id"])

    for _ in range(count):
        try:
            one(rng.choice(agent_ids))
        except DatabaseError as error:
            ack(op="database-error", message=str(error))
        except KaizenError as error:
            # A race lost fairly: the version was deleted by another worker.
            ack(op="refused", message=str(error))
    """
)


def assert_intact(db_path: Path) -> None:
    """SQLite's own check of the file (PostgreSQL's server guards its files itself)."""
    if str(db_path).startswith("postgresql://"):
        return
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_four_processes_of_mixed_operations_lose_nothing(
    service: AgentService, db_path: Path, agent_data: dict, tmp_path: Path
) -> None:
    agents = [service.create_agent({**agent_data, "name": f"Agent {n}"}) for n in range(3)]
    ids = [agent["id"] for agent in agents]
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", MIXED_WORKER, str(db_path), str(seed), "250", str(go), *ids],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    go.touch()
    records = []
    for worker in workers:
        out, err = worker.communicate(timeout=400)
        assert worker.returncode == 0, err
        assert err == "", "nothing on stderr: no traceback, no warning"
        records += [json.loads(line) for line in out.splitlines()]

    assert len(records) == 1000
    assert not [r for r in records if r["op"] == "database-error"], "no 'database is locked' reaches anyone"
    assert_intact(db_path)

    audit = service.audit_log(limit=100_000)
    # A prune that found nothing to delete wrote nothing.
    acknowledged = [r for r in records if r["op"] != "refused" and r.get("deleted") != 0]
    mutations = [e for e in audit if e["action"] != "agent.create"]
    acknowledged_updates = [r for r in acknowledged if r["op"] == "update"]
    # Every acknowledged write is in the audit log; an update that changed
    # nothing writes no event, so updates may have at most as many events.
    for op, action in (
        ("snapshot", "version.create"),
        ("rollback", "version.rollback"),
        ("prune", "version.prune"),
        ("delete", "version.delete"),
    ):
        assert len([r for r in acknowledged if r["op"] == op]) == len([e for e in mutations if e["action"] == action])
    assert 0 < len([e for e in mutations if e["action"] == "agent.update"]) <= len(acknowledged_updates)
    created = {e["version_id"] for e in mutations if e["action"] == "version.create"}
    created |= {e["detail"]["saved_version_id"] for e in mutations if e["action"] == "version.rollback"} - {None}
    assert {r["id"] for r in acknowledged if r["op"] == "snapshot"} <= created
    deleted = {e["version_id"] for e in mutations if e["action"] == "version.delete"}

    for agent_id in ids:
        versions = service.get_versions(agent_id)
        existing = {v["id"] for v in versions}
        assert existing <= created, "every version there was acknowledged and audited"
        assert not existing & deleted
        # Numbers ever given to this agent are 1..N with no gap and no repeat.
        given = [
            e["detail"]["version_number"]
            for e in mutations
            if e["action"] == "version.create" and e["agent_id"] == agent_id
        ]
        given += [
            e["detail"]["saved_as_version"]
            for e in mutations
            if e["action"] == "version.rollback" and e["agent_id"] == agent_id and e["detail"]["saved_as_version"]
        ]
        assert sorted(given) == list(range(1, len(given) + 1))
        for version in versions:
            parse_snapshot(version["config_snapshot"])


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from kaizen_tui.service import AgentService

    db, agent_id = sys.argv[1], sys.argv[2]
    service = AgentService(db, user="doomed")

    n = 0
    while True:
        n += 1
        service.update(agent_id, {"system_prompt": f"burst {n} " + "x" * 20000})
        version = service.create_version(agent_id, f"burst {n}")
        print(version["id"], flush=True)
    """
)


def test_a_writer_killed_mid_burst_loses_no_acknowledged_write(
    service: AgentService, db_path: Path, agent_data: dict
) -> None:
    agent = service.create_agent(agent_data)
    rng = random.Random(7)
    acknowledged: list[str] = []
    for _ in range(12):
        writer = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(db_path), agent["id"]],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        acknowledged.append(writer.stdout.readline().strip())  # it is writing now
        time.sleep(rng.uniform(0.0, 0.15))
        os.kill(writer.pid, signal.SIGKILL)
        rest, _ = writer.communicate()
        acknowledged += rest.split()

        assert_intact(db_path)
        versions = service.get_versions(agent["id"])
        assert set(acknowledged) <= {v["id"] for v in versions}
        numbers = [v["version_number"] for v in versions]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
        for version in versions:
            assert parse_snapshot(version["config_snapshot"])["system_prompt"].startswith("burst")


class VersioningMachine(RuleBasedStateMachine):
    """Any sequence of operations: no rollback loses a live config, no number repeats."""

    def __init__(self) -> None:
        super().__init__()
        self.path = Path(os.environ["KAIZEN_HYPOTHESIS_DIR"]) / f"h-{id(self)}-{time.monotonic_ns()}.db"
        self.service = AgentService(str(self.path), user="hypothesis")
        self.agent_ids: list[str] = []
        self.numbers_seen: dict[str, set[int]] = {}

    @initialize()
    def create_agents(self) -> None:
        for n in range(2):
            agent = self.service.create_agent({"name": f"A{n}", "model_id": "m"})
            self.agent_ids.append(agent["id"])
            self.numbers_seen[agent["id"]] = set()

    def versions(self, agent_id: str) -> list[dict]:
        return self.service.get_versions(agent_id)

    @rule(
        which=st.integers(0, 1),
        temperature=st.floats(0, 2),
        prompt=st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30),
    )
    def update(self, which: int, temperature: float, prompt: str) -> None:
        self.service.update(self.agent_ids[which], {"temperature": temperature, "system_prompt": prompt})

    @rule(which=st.integers(0, 1))
    def snapshot(self, which: int) -> None:
        agent_id = self.agent_ids[which]
        version = self.service.create_version(agent_id, "s")
        assert version["version_number"] not in self.numbers_seen[agent_id]
        assert version["version_number"] > max(self.numbers_seen[agent_id], default=0)
        self.numbers_seen[agent_id].add(version["version_number"])

    @precondition(lambda self: bool(self.agent_ids))
    @rule(which=st.integers(0, 1), pick=st.integers(0, 1000))
    def rollback(self, which: int, pick: int) -> None:
        agent_id = self.agent_ids[which]
        versions = self.versions(agent_id)
        if not versions:
            return
        live_before = agent_config(self.service.get(agent_id))
        target = versions[pick % len(versions)]
        self.service.rollback_to_version(agent_id, target["id"])
        after = self.versions(agent_id)
        for version in after:
            self.numbers_seen[agent_id].add(version["version_number"])
        recoverable = [parse_snapshot(v["config_snapshot"]) for v in after]
        assert live_before in recoverable, "the live config before a rollback is still a version"
        assert agent_config(self.service.get(agent_id)) == parse_snapshot(target["config_snapshot"])

    @rule(which=st.integers(0, 1), pick=st.integers(0, 1000))
    def delete(self, which: int, pick: int) -> None:
        versions = self.versions(self.agent_ids[which])
        if versions:
            self.service.delete_version(versions[pick % len(versions)]["id"])

    @rule(which=st.integers(0, 1), keep=st.integers(1, 4))
    def prune(self, which: int, keep: int) -> None:
        before = self.versions(self.agent_ids[which])
        self.service.cleanup_old_versions(self.agent_ids[which], keep)
        assert self.versions(self.agent_ids[which]) == before[:keep]

    @invariant()
    def numbers_are_unique(self) -> None:
        for agent_id in self.agent_ids:
            numbers = [v["version_number"] for v in self.versions(agent_id)]
            assert len(numbers) == len(set(numbers))

    def teardown(self) -> None:
        self.service.close()


def test_no_sequence_of_operations_loses_a_config_or_repeats_a_number(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KAIZEN_HYPOTHESIS_DIR", str(tmp_path))
    test = VersioningMachine.TestCase
    test.settings = settings(
        max_examples=40, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    test().runTest()
