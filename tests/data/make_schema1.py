"""How tests/data/schema1.db was made: by kaizen-tui at commit 2cb0a77 (schema version 1).

Kept for the record; it only makes a schema-1 file with the code of that
commit (``git worktree add /tmp/k1 2cb0a77`` and run it there). The file
holds the cases an upgrade must carry over: the demo's six agents, a deleted
newest version (its number must stay used), a pruned history, a rollback, a
snapshot written by another tool with its keys in another order, a damaged
snapshot, names that clash case-insensitively, text that is not ASCII, and the
audit log. ``schema1.json`` beside it lists every row as it was written.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from pathlib import Path

from kaizen_tui.demo import seed_demo
from kaizen_tui.service import AgentService


async def build(path: Path) -> None:
    service = AgentService(str(path), user="maker")
    try:
        await seed_demo(service)
        a = await service.create_agent({"name": "Bot", "model_id": "m1", "system_prompt": "Héllo ✓"})
        await service.create_version(a["id"], "first")
        await service.update(a["id"], {"temperature": 0.2})
        v2 = await service.create_version(a["id"], "cooler")
        await service.update(a["id"], {"max_tokens": 99})
        v3 = await service.create_version(a["id"], "limit")
        await service.delete_version(v3["id"])  # number 3 stays used
        await service.rollback_to_version(a["id"], v2["id"])
        b = await service.create_agent({"name": "bot", "model_id": "m2", "extra": {"tools": ["x"]}})
        for n in range(6):
            await service.update(b["id"], {"max_tokens": n})
            await service.create_version(b["id"], f"step {n}")
        await service.cleanup_old_versions(b["id"], keep=2)
        c = await service.create_agent({"name": "ÉCOLE", "model_id": "m3"})
        await service.create_version(c["id"], "v1")
    finally:
        service.close()
    connection = sqlite3.connect(path)
    with connection:
        # Another tool's snapshot: keys in another order, no spaces, no extra key.
        text = json.dumps({"model_id": "m3", "name": "ÉCOLE", "description": "", "agent_type": "chat",
                           "system_prompt": "", "temperature": 0.7, "max_tokens": 0}, separators=(",", ":"))
        connection.execute(
            "INSERT INTO agent_version VALUES ('ver-other-tool', ?, 7, ?, 'by another tool', 'x', '2026-01-01T00:00:00Z')",
            (c["id"], text),
        )
        connection.execute(
            "INSERT INTO agent_version VALUES ('ver-damaged', ?, 8, '{not json', 'damaged', 'x', '2026-01-02T00:00:00Z')",
            (c["id"],),
        )
        connection.execute("UPDATE agent SET last_version_number = 8 WHERE id = ?", (c["id"],))
    # As people's files are: WAL mode, everything checkpointed into the file.
    connection.execute("VACUUM")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def manifest(path: Path) -> dict:
    connection = sqlite3.connect(path)
    tables = {}
    for table in ("agent", "agent_version", "audit_event"):
        cursor = connection.execute(f"SELECT * FROM {table} ORDER BY rowid")
        names = [column[0] for column in cursor.description]
        tables[table] = [dict(zip(names, row)) for row in cursor]
    tables["user_version"] = connection.execute("PRAGMA user_version").fetchone()[0]
    connection.close()
    return tables


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.unlink(missing_ok=True)
    asyncio.run(build(target))
    target.with_suffix(".json").write_text(json.dumps(manifest(target), ensure_ascii=False, indent=1) + "\n")
