"""Pilot tests: what the app says at start about the database (notices, names that clash)."""

from __future__ import annotations

import shutil
from pathlib import Path

from kaizen_tui.service import AgentService
from tests.support import raw_sql, running_app, toasts

DATA = Path(__file__).parent.parent / "data"


async def test_clashing_names_of_an_old_file_are_a_warning_at_start(service, ids, db_path):
    # Two names equal but for case, as a file from before names were unique can hold.
    with raw_sql(db_path) as connection:
        connection.execute(
            "UPDATE agent SET name = 'support [b]agent', name_key = NULL WHERE id = ?", (ids["billing"],)
        )
        connection.execute(
            "UPDATE agent SET name = 'Support [B]Agent', name_key = NULL WHERE id = ?", (ids["support"],)
        )
    assert service.name_clashes()
    async with running_app(service) as pilot:
        warnings = [toast for toast in toasts(pilot.app, "warning") if "differ only in case" in toast]
        assert len(warnings) == 1
        assert "'Support [B]Agent'" in warnings[0] and "'support [b]agent'" in warnings[0]
        assert ids["billing"] in warnings[0]


async def test_the_notices_of_the_database_are_a_warning_at_start(tmp_path):
    old = tmp_path / "old.db"
    shutil.copy(DATA / "schema1.db", old)
    service = AgentService(str(old), read_only=True)
    try:
        assert service.notices
        async with running_app(service) as pilot:
            assert any("schema version 1" in toast and "read-only" in toast for toast in toasts(pilot.app, "warning"))
    finally:
        service.close()
