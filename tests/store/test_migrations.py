"""Schema migrations: a real schema-1 file (tests/data/schema1.db, made by kaizen-tui at
2cb0a77) is upgraded keeping every row; read-only it is read without a byte changed."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from kaizen_tui.core.errors import AmbiguousAgent, SchemaTooNew
from kaizen_tui.service import AgentService
from kaizen_tui.store.ddl import SCHEMA_VERSION

DATA = Path(__file__).parent.parent / "data"
MANIFEST = json.loads((DATA / "schema1.json").read_text(encoding="utf-8"))


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    target = tmp_path / "schema1.db"
    shutil.copy(DATA / "schema1.db", target)
    return target


def rows(path: Path, table: str, columns: list[str]) -> list[dict]:
    connection = sqlite3.connect(path)
    try:
        cursor = connection.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
        return [dict(zip(columns, row)) for row in cursor]
    finally:
        connection.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_schema_1_file_upgrades_keeping_every_row(old_file: Path) -> None:
    assert MANIFEST["user_version"] == 1
    service = AgentService(str(old_file))
    service.close()
    connection = sqlite3.connect(old_file)
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    connection.close()
    for table in ("agent", "agent_version", "audit_event"):
        expected = MANIFEST[table]
        assert rows(old_file, table, list(expected[0])) == expected, f"{table} changed"


def test_the_upgraded_file_reads_as_before(old_file: Path) -> None:
    service = AgentService(str(old_file))
    try:
        agents = {agent["name"]: agent for agent in service.list_agents()}
        assert len(agents) == len(MANIFEST["agent"])
        assert all(agent["revision"] == 1 for agent in agents.values())
        support = agents["Support Agent"]
        expected_versions = [v for v in MANIFEST["agent_version"] if v["agent_id"] == support["id"]]
        versions = service.get_versions(support["id"])
        assert sorted(v["version_number"] for v in versions) == sorted(v["version_number"] for v in expected_versions)
        # Bot's v3 was deleted, then a rollback auto-saved v4: numbers keep going up.
        bot = next(agent for agent in MANIFEST["agent"] if agent["name"] == "Bot")
        assert bot["last_version_number"] == 4
        new = service.create_version(bot["id"], "after the upgrade")
        assert new["version_number"] == 5
        # Another tool's snapshot (other key order, no extra) holds the live config: saved.
        ecole = agents["ÉCOLE"]
        timeline = {entry["version_number"]: entry for entry in service.get_timeline(ecole["id"])}
        assert timeline[7]["damaged"] is None and timeline[7]["matches_live"]
        assert timeline[8]["damaged"] and not timeline[8]["matches_live"]
        # The demo's agent with edits no version holds is still unsaved; the others are saved.
        assert agents["Onboarding Concierge"]["unsaved_changes"] is True
        assert agents["Support Agent"]["unsaved_changes"] is False
    finally:
        service.close()


def test_names_that_already_clash_still_open_and_are_reported(old_file: Path) -> None:
    service = AgentService(str(old_file))
    try:
        clashes = service.name_clashes()
        assert [sorted(agent["name"] for agent in group) for group in clashes] == [["Bot", "bot"]]
        # Each is still found by its exact name; the folded name is ambiguous.
        assert service.find_agent("bot")["name"] == "bot"
        assert service.find_agent("Bot")["name"] == "Bot"
        with pytest.raises(AmbiguousAgent):
            service.find_agent("BOT")
        # Renaming one of them resolves the clash; the freed name stays taken by the other.
        lower = service.find_agent("bot")
        service.update(lower["id"], {"name": "bot two"})
        assert service.name_clashes() == []
        with pytest.raises(Exception, match="already named"):
            service.create_agent({"name": "BOT", "model_id": "m"})
    finally:
        service.close()


def test_a_read_only_open_of_an_old_file_reads_it_without_changing_a_byte(old_file: Path) -> None:
    before = digest(old_file)
    service = AgentService(str(old_file), read_only=True)
    try:
        assert any("schema version 1" in notice and "unchanged" in notice for notice in service.notices)
        agents = service.list_agents()
        assert len(agents) == len(MANIFEST["agent"])
        assert all("revision" in agent for agent in agents)
        assert service.get_timeline(agents[0]["id"])
    finally:
        service.close()
    assert digest(old_file) == before


def test_a_file_from_a_newer_kaizen_tui_is_refused_untouched(old_file: Path) -> None:
    connection = sqlite3.connect(old_file)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    before = digest(old_file)
    with pytest.raises(SchemaTooNew):
        AgentService(str(old_file))
    assert digest(old_file) == before


def test_an_upgraded_file_has_the_schema_of_a_new_one(old_file: Path, tmp_path: Path) -> None:
    AgentService(str(old_file)).close()
    fresh = tmp_path / "fresh.db"
    AgentService(str(fresh)).close()

    def shape(path: Path) -> dict:
        connection = sqlite3.connect(path)
        try:
            tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            found = {}
            for table in sorted(tables):
                columns = sorted(
                    (row[1], row[2].upper(), row[3]) for row in connection.execute(f"PRAGMA table_info({table})")
                )
                indexes = sorted(
                    (row[1], row[2])
                    for row in connection.execute(f"PRAGMA index_list({table})")
                    if not row[1].startswith("sqlite_autoindex")
                )
                found[table] = (columns, indexes)
            triggers = sorted(
                name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            )
            return {"tables": found, "triggers": triggers}
        finally:
            connection.close()

    assert shape(old_file) == shape(fresh)


def test_migrations_are_numbered_and_run_once(old_file: Path) -> None:
    from kaizen_tui.store.sqlite import open_sqlite
    from kaizen_tui.store.sqlite_migrations import MIGRATIONS, migrate

    assert sorted(MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1))
    store = open_sqlite(old_file)
    try:
        assert migrate(store.connection) == [], "already done: nothing runs twice"
    finally:
        store.close()
