"""The command line as scripts drive it: reads that never create a database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kaizen_tui.cli import main
from kaizen_tui.service import AgentService
from tests.support import TtyStringIO, wait

# -- a mistyped --db -------------------------------------------------------------------------

READS = [
    ("agents",),
    ("show", "Support Agent"),
    ("versions", "Support Agent"),
    ("diff", "Support Agent", "v1"),
    ("token", "list"),
]
#: They change things, but only in an agent or token that a new database cannot hold.
NEEDS_AN_EXISTING_DATABASE = [
    ("set", "Support Agent", "temperature=1"),
    ("snapshot", "Support Agent"),
    ("rollback", "Support Agent", "v1", "--yes"),
    ("delete-version", "Support Agent", "v1", "--yes"),
    ("prune", "Support Agent", "--keep", "1", "--yes"),
    ("delete-agent", "Support Agent", "--yes"),
    ("token", "revoke", "ci-bot"),
    ("serve", "--port", "1"),
]


@pytest.mark.parametrize("argv", READS + NEEDS_AN_EXISTING_DATABASE, ids=" ".join)
def test_a_mistyped_db_is_one_error_and_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    typo = tmp_path / "kaizne.db"
    assert main(["--db", str(typo), *argv]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"kaizen-tui: error: No database at {typo}: no such file, and nothing was created "
        "(a database is created by the first change written to it, such as a new agent).\n"
    )
    assert list(tmp_path.iterdir()) == [], "no file, no -wal or -shm beside it"


def test_a_mistyped_db_folder_url_or_kaizen_db_creates_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "no-such-folder"
    assert main(["--db", str(folder / "kaizen.db"), "agents"]) == 1
    assert f"No database at {folder / 'kaizen.db'}" in capsys.readouterr().err
    assert main(["--db", f"sqlite:///{tmp_path / 'typo.db'}", "versions", "X", "--json"]) == 1
    assert f"No database at {tmp_path / 'typo.db'}" in capsys.readouterr().err
    monkeypatch.setenv("KAIZEN_DB", str(tmp_path / "env-typo.db"))
    assert main(["show", "X"]) == 1
    assert "env-typo.db" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tmp_path / "xdg-data"] or list(tmp_path.iterdir()) == []
    assert not (tmp_path / "xdg-data" / "kaizen-tui").exists()


def test_create_and_token_create_still_make_a_new_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    assert main(["--db", str(new), "create", "--name", "A", "--model", "m"]) == 0
    assert new.exists()
    other = tmp_path / "tokens.db"
    assert main(["--db", str(other), "token", "create", "ci-bot"]) == 0
    assert other.exists()


def test_the_tui_may_create_a_new_database(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import types

    class FakeApp:
        return_code = 0

        def __init__(self, service: AgentService) -> None:
            self.service = service

        def run(self) -> None:
            assert wait(self.service.list_agents()) == []

    monkeypatch.setitem(sys.modules, "kaizen_tui.tui.app", types.SimpleNamespace(KaizenApp=FakeApp))
    monkeypatch.setattr(sys, "stdin", TtyStringIO())
    monkeypatch.setattr(sys, "stdout", TtyStringIO())
    new = tmp_path / "fresh.db"
    assert main(["--db", str(new)]) == 0
    assert new.exists()


def test_the_service_and_the_store_create_only_when_asked(tmp_path: Path) -> None:
    from kaizen_tui.core.errors import DatabaseError
    from kaizen_tui.store import open_store

    with pytest.raises(DatabaseError, match="No database at"):
        AgentService(str(tmp_path / "missing.db"), create=False)
    with pytest.raises(DatabaseError, match="No database at"):
        open_store(tmp_path / "missing.db", create=False)
    assert list(tmp_path.iterdir()) == []
    AgentService(str(tmp_path / "made.db")).close()
    AgentService(str(tmp_path / "made.db"), create=False).close()
