"""Layers: the core stays free of the UI, and the start path free of SQLAlchemy."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from kaizen_tui.service import AgentService


@pytest.mark.parametrize("module", ["kaizen_tui.service", "kaizen_tui.core.diff", "kaizen_tui.demo"])
def test_core_modules_do_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; print('textual' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_using_an_existing_database_does_not_import_sqlalchemy(db_path, backend: str) -> None:
    """SQLModel declares the tables and writes a new database's schema; every later start skips its import.

    And the SQLite path never imports the PostgreSQL driver.
    """
    heavy = ("sqlalchemy", "sqlmodel", "pydantic") + (("psycopg",) if backend == "sqlite" else ())
    AgentService(str(db_path)).close()
    code = (
        "import sys\n"
        "from kaizen_tui.service import AgentService\n"
        f"service = AgentService({str(db_path)!r})\n"
        "agent = service.create_agent({'name': 'a', 'model_id': 'm'})\n"
        "service.create_version(agent['id'])\n"
        "service.list_agents()\n"
        "service.close()\n"
        f"print(sorted(name for name in {heavy!r} if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.sqlite_only
def test_a_new_database_gets_the_tables_models_declare(db_path) -> None:
    from sqlmodel import SQLModel

    from kaizen_tui.store import models  # noqa: F401

    AgentService(str(db_path)).close()
    with sqlite3.connect(db_path) as connection:
        for table in SQLModel.metadata.sorted_tables:
            columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table.name})")}
            assert columns == {column.name for column in table.columns}
            indexes = {row[1] for row in connection.execute(f"PRAGMA index_list({table.name})")}
            assert {index.name for index in table.indexes} <= indexes


def test_starting_the_app_does_not_import_yaml() -> None:
    """PyYAML is loaded when an agent is edited or read from a file, not on every start."""
    code = "import sys, kaizen_tui.cli, kaizen_tui.tui.app; print('yaml' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
