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
    import asyncio, os, sys, time
    from pathlib import Path
    from kaizen_tui.service import AgentService

    db, agent_id, count, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    service = AgentService(db, user=f"proc-{os.getpid()}")
    while not go.exists():
        time.sleep(0.001)

    async def main():
        for n in range(count):
            await service.create_version(agent_id, f"burst {n}")

    asyncio.run(main())
    print("done")
    """
)


async def test_two_processes_snapshotting_at_once_get_distinct_gapless_numbers(
    service: AgentService, db_path: Path, agent_data: dict, tmp_path: Path
) -> None:
    agent = await service.create_agent(agent_data)
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SNAPSHOTTER, str(db_path), agent["id"], "200", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()
    for process in processes:
        out, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
        assert out.strip() == "done" and err == ""
    versions = await service.get_versions(agent["id"])
    assert sorted(v["version_number"] for v in versions) == list(range(1, 401))
    authors = {v["created_by"] for v in versions}
    assert len(authors) == 2, "both processes wrote"
    assert await audit_actions(service, "version.create", agent["id"]) == 400
