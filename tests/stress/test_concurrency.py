"""Several processes writing one database at the same moment."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from kaizen_tui.service import AgentService
from tests.support import audit_actions

SNAPSHOTTER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from kaizen_tui.service import AgentService

    db, agent_id, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    service = AgentService(db, user=f"proc-{os.getpid()}")
    while not go.exists():
        time.sleep(0.001)

    for n in range(count):
        service.create_version(agent_id, f"burst {n}")
    print("done")
    """
)


def test_four_processes_snapshotting_at_once_get_distinct_gapless_numbers(
    service: AgentService, db_path: Path, agent_data: dict, tmp_path: Path
) -> None:
    agent = service.create_agent(agent_data)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SNAPSHOTTER, str(db_path), agent["id"], "100", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        assert out.strip() == "done" and err == ""
    versions = service.get_versions(agent["id"])
    assert sorted(v["version_number"] for v in versions) == list(range(1, 401))
    authors = {v["created_by"] for v in versions}
    assert len(authors) == 4, "every process wrote"
    assert audit_actions(service, "version.create", agent["id"]) == 400


INCREMENTER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from kaizen_tui.core.errors import Conflict
    from kaizen_tui.service import AgentService

    db, agent_id, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    service = AgentService(db, user=f"proc-{os.getpid()}")
    while not go.exists():
        time.sleep(0.001)

    conflicts = 0
    for _ in range(count):
        while True:  # read, change, write back only if nobody wrote meanwhile
            agent = service.get(agent_id)
            try:
                service.update(agent_id, {"max_tokens": agent["max_tokens"] + 1}, expected_revision=agent["revision"])
                break
            except Conflict:
                conflicts += 1
    print(conflicts)
    """
)


def test_compare_and_swap_loses_no_update_among_four_processes(
    service: AgentService, db_path: Path, agent_data: dict, tmp_path: Path
) -> None:
    """Four processes each add 1 to a field 25 times by read-modify-write: the field ends at +100."""
    agent = service.create_agent({**agent_data, "max_tokens": 0})
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", INCREMENTER, str(db_path), agent["id"], "25", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()
    conflicts = 0
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        assert err == ""
        conflicts += int(out.strip())
    final = service.get(agent["id"])
    assert final["max_tokens"] == 100, "no increment was lost"
    assert final["revision"] == 101
    assert audit_actions(service, "agent.update", agent["id"]) == 100
