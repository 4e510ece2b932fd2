"""Opening databases: new files, files that are not ours, read-only and newer schemas."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaizen_tui.core.errors import DatabaseError, ReadOnlyDatabase, SchemaTooNew
from kaizen_tui.service import AgentService
from kaizen_tui.store.ddl import APPLICATION_ID, SCHEMA_VERSION


@pytest.mark.sqlite_only  # the file itself; PostgreSQL's side is in test_postgres.py
def test_a_new_database_is_readable_by_its_owner_only(db_path: Path) -> None:
    AgentService(str(db_path)).close()
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_the_default_database_lives_in_the_user_data_folder(tmp_path: Path) -> None:
    service = AgentService()
    try:
        assert service.store.path == tmp_path / "xdg-data" / "kaizen-tui" / "kaizen.db"
        assert stat.S_IMODE(service.store.path.parent.stat().st_mode) == 0o700
    finally:
        service.close()


def test_sqlalchemy_urls_are_accepted(tmp_path: Path) -> None:
    service = AgentService(f"sqlite:///{tmp_path / 'url.db'}")
    service.close()
    assert (tmp_path / "url.db").exists()


def test_a_url_path_may_hold_a_hash_but_options_are_refused(tmp_path: Path) -> None:
    AgentService(f"sqlite:///{tmp_path / 'team#1.db'}").close()
    assert (tmp_path / "team#1.db").exists()
    with pytest.raises(DatabaseError, match="options"):
        AgentService(f"sqlite:///{tmp_path / 'other.db'}?mode=ro")
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize("url", ["postgresql://user:secret@host/db", "sqlite://user:secret@host/x.db"])
def test_other_urls_are_refused_without_repeating_a_password(url: str) -> None:
    with pytest.raises(DatabaseError) as raised:
        AgentService(url)
    assert "secret" not in str(raised.value)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="is a folder"):
        AgentService(str(tmp_path))


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="does not exist"):
        AgentService(str(tmp_path / "nope" / "k.db"))


@pytest.mark.parametrize("content", [b"hello, I am a text file\n" * 10, b"SQLite format 3\x00" + b"\x00" * 50])
def test_files_that_are_not_databases_are_refused_and_not_modified(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(content)
    with pytest.raises(DatabaseError):
        AgentService(str(path))
    assert path.read_bytes() == content


def test_another_programs_database_is_refused_and_not_modified(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER)")
    before = path.read_bytes()
    with pytest.raises(DatabaseError, match="another program"):
        AgentService(str(path))
    assert path.read_bytes() == before


@pytest.mark.sqlite_only  # the file itself; PostgreSQL's side is in test_postgres.py
def test_a_newer_schema_is_refused_naming_both_versions(db_path: Path) -> None:
    AgentService(str(db_path)).close()
    with sqlite3.connect(db_path) as connection:
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = db_path.read_bytes()
    with pytest.raises(SchemaTooNew) as raised:
        AgentService(str(db_path))
    assert f"version {SCHEMA_VERSION + 1}" in str(raised.value) and f"version {SCHEMA_VERSION}" in str(raised.value)
    assert db_path.read_bytes() == before


@pytest.mark.sqlite_only  # the file itself; PostgreSQL's side is in test_postgres.py
def test_an_empty_file_becomes_a_database(db_path: Path) -> None:
    db_path.touch()
    AgentService(str(db_path)).close()
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_read_only_mode_reads_and_refuses_writes(db_path: Path, agent_data: dict) -> None:
    writer = AgentService(str(db_path))
    agent = writer.create_agent(agent_data)
    writer.close()
    reader = AgentService(str(db_path), read_only=True)
    assert reader.read_only
    assert reader.get(agent["id"])["name"] == agent_data["name"]
    with pytest.raises(ReadOnlyDatabase, match="read-only"):
        reader.create_version(agent["id"])
    reader.close()


AS_ANOTHER_USER = """
import sys
from kaizen_tui.core.errors import ReadOnlyDatabase
from kaizen_tui.service import AgentService
service = AgentService(sys.argv[1])
agents = service.list_agents()
try:
    service.create_version(agents[0]["id"])
except ReadOnlyDatabase as error:
    print(service.read_only, len(agents), error)
"""


def run_as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code, *args]
    if os.geteuid() == 0:  # root could write anything: drop to another user
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to us)."""
    folder = Path(tempfile.mkdtemp(prefix="kaizen-ro-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="needs setpriv to drop root")
@pytest.mark.parametrize(
    ("file_mode", "folder_mode", "reason"), [(0o444, 0o777, "is read-only"), (0o666, 0o755, "folder")]
)
def test_a_database_we_cannot_write_opens_for_browsing(
    shared_folder: Path, agent_data: dict, file_mode: int, folder_mode: int, reason: str
) -> None:
    path = shared_folder / "shared.db"
    writer = AgentService(str(path))
    writer.create_agent(agent_data)
    writer.close()
    path.chmod(file_mode)
    shared_folder.chmod(folder_mode)
    before = path.read_bytes()
    result = run_as_nobody(AS_ANOTHER_USER, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("True 1 Cannot change anything:")
    assert reason in result.stdout
    assert path.read_bytes() == before


@pytest.mark.sqlite_only  # the file itself; PostgreSQL's side is in test_postgres.py
def test_the_audit_log_is_append_only_even_for_raw_sql(service: AgentService, db_path: Path, agent_data: dict) -> None:
    service.create_agent(agent_data)
    with sqlite3.connect(db_path) as connection:
        for statement in ("UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                connection.execute(statement)


@pytest.mark.sqlite_only  # the file itself; PostgreSQL's side is in test_postgres.py
def test_a_truncated_database_gives_a_clear_error(db_path: Path) -> None:
    from kaizen_tui.demo import seed_demo

    service = AgentService(str(db_path))
    seed_demo(service)
    service.close()
    os.truncate(db_path, db_path.stat().st_size // 2)
    with pytest.raises(DatabaseError, match="damaged"):
        damaged = AgentService(str(db_path))
        damaged.list_agents()


@pytest.mark.parametrize("url", ["postgresql://admin:hunter2@db.example/agents", "weird://admin:hunter2@@@:/x"])
def test_a_bad_url_is_refused_without_showing_its_password(url: str) -> None:
    with pytest.raises(DatabaseError) as raised:
        AgentService(url)
    assert "hunter2" not in str(raised.value)


@pytest.mark.sqlite_only  # the file itself; PostgreSQL's side is in test_postgres.py
def test_new_databases_use_8_kib_pages_and_wal(db_path: Path) -> None:
    AgentService(str(db_path)).close()
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sqlite://", "name a database file"),
        ("sqlite:///:memory:", "name a database file"),
        ("sqlite:////tmp/x.db?mode=ro", "options are not supported"),
        ("mysql://u@h/db", "a SQLite file or a PostgreSQL database"),
        ("   ", "empty"),
    ],
)
def test_urls_that_name_no_sqlite_file_are_refused(url: str, words: str) -> None:
    with pytest.raises(DatabaseError, match=words):
        AgentService(url)


def test_any_sqlite_driver_url_gets_the_full_setup(tmp_path: Path) -> None:
    AgentService(f"sqlite+pysqlite:///{tmp_path / 'p.db'}").close()
    with sqlite3.connect(tmp_path / "p.db") as connection:
        assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
