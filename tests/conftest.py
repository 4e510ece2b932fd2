"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL; a service on it; a clean environment.

Tests run where what they test varies. The store and the service (and the
stress tests, which drive them from several processes) hold every rule that
touches the data: each of their tests that uses ``db_path`` (directly, or
through ``service``) runs twice, ``[sqlite]`` on a file in its temporary
folder and ``[postgresql]`` on a database of its own in a throwaway server
(``tests/postgres_server.py``); ``db_path`` is then a ``postgresql://`` URL,
so a test passes ``str(db_path)`` where a database is named. A test of the
SQLite file itself (pages, WAL, a truncated file) is marked
``@pytest.mark.sqlite_only`` and runs once.

The faces (CLI, TUI, API, client) never branch on the backend: they run on
SQLite, plus the few tests where a face meets the backend (a URL, a change
seen by another process, a server stopped under it), marked
``@pytest.mark.both_backends`` or taking ``backend`` in their own signature.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kaizen_tui.service import AgentService
from tests.postgres_server import NoPostgres, PostgresServer, start_server

BACKENDS = ("sqlite", "postgresql")
TESTS = Path(__file__).resolve().parent


#: The layers whose tests run on both backends (see the module's docstring).
BOTH_BACKENDS_UNDER = tuple(TESTS / name for name in ("core", "store", "stress"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test reads or writes the SQLite file itself; runs once")
    config.addinivalue_line("markers", "both_backends: a face's test where the face meets the backend")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test that has a database on both backends where what it tests varies (see the module's docstring)."""
    if "db_path" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("sqlite_only"):
        return
    if not _varies_with_the_backend(metafunc):
        return
    metafunc.parametrize("backend", BACKENDS, indirect=True, scope="function")


def _varies_with_the_backend(metafunc: pytest.Metafunc) -> bool:
    if metafunc.definition.get_closest_marker("both_backends"):
        return True
    if "backend" in inspect.signature(metafunc.function).parameters:
        return True  # the test itself says how the backends differ
    path = Path(metafunc.definition.path)
    return any(path.is_relative_to(folder) for folder in BOTH_BACKENDS_UNDER)


def _started_server() -> PostgresServer:
    """A new throwaway server; without PostgreSQL the test skips (fails under ``KAIZEN_REQUIRE_POSTGRES=1``)."""
    try:
        return start_server()
    except NoPostgres as error:
        if os.environ.get("KAIZEN_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"KAIZEN_REQUIRE_POSTGRES=1 but no PostgreSQL: {error}", pytrace=False)
        pytest.skip(f"no PostgreSQL: {error}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The throwaway PostgreSQL server of this session (started at the first test that needs it)."""
    server = _started_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A database holding kaizen-tui's empty schema, which each test's database copies.

    Copying it is about twice as quick as creating the schema in every test;
    creating the schema itself is tested in tests/store/test_postgres.py,
    on empty databases (``postgres_url``).
    """
    url = postgres_server.new_database()
    AgentService(url).close()
    return url.rsplit("/", 1)[1]


@pytest.fixture
def stoppable_postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server of the test's own, which it may stop and start (the session's is shared)."""
    if os.environ.get("KAIZEN_TEST_PG_URL", "").strip():
        pytest.skip("the server of KAIZEN_TEST_PG_URL is not the tests' to stop")
    server = _started_server()
    yield server
    server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: the database this run of the test is on."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new empty PostgreSQL database of this test's own (dropped after it)."""
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_database()
    yield url
    server.drop_later(url)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's database, user or colour settings."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("KAIZEN_DB", raising=False)
    monkeypatch.setenv("KAIZEN_USER", "tester")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)


@pytest.fixture
def db_path(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path | str]:
    """The test's database: a file path on SQLite, a ``postgresql://`` URL (a str) on PostgreSQL.

    On PostgreSQL it already holds the (empty) schema, as a SQLite file gets it at its first open.
    """
    if backend != "postgresql":
        yield tmp_path / "kaizen.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.copy_of_template(request.getfixturevalue("postgres_template"))
    yield url
    server.drop_later(url)


@pytest.fixture
def service(db_path: Path) -> Iterator[AgentService]:
    svc = AgentService(str(db_path), user="tester")
    yield svc
    svc.close()


@pytest.fixture
def agent_data() -> dict:
    return {
        "name": "Support Agent",
        "description": "Handles inquiries",
        "agent_type": "chat",
        "system_prompt": "You are helpful.\nAnswer briefly.",
        "model_id": "gpt-4",
        "temperature": 0.7,
        "max_tokens": 2048,
    }
