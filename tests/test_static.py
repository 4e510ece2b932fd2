"""The layers and the code's hygiene, checked with every test run (as CI runs the tests).

import-linter keeps the layers of DESIGN.md (contracts in pyproject.toml),
ruff the style and common mistakes, mypy the types. Each runs as a separate
program from the virtual environment the tests run in.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["lint-imports"],
        ["ruff", "check", "--no-cache", "."],
        ["mypy", "--cache-dir", "/dev/null"],
    ],
    ids=["import-linter", "ruff", "mypy"],
)
def test_static_check_passes(command: list[str]) -> None:
    program = BIN / command[0]
    assert program.exists(), f"{command[0]} is missing: pip install '.[test]'"
    result = subprocess.run([str(program), *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_a_cli_command_does_not_import_textual(tmp_path: Path) -> None:
    """Scripts stay quick: only opening the TUI loads Textual."""

    def code(*argv: str) -> str:
        return (
            "import sys\n"
            "from kaizen_tui.cli import main\n"
            f"main(['--db', {str(tmp_path / 'k.db')!r}, *{argv!r}])\n"
            "print('textual' in sys.modules, 'sqlmodel' in sys.modules or 'sqlalchemy' in sys.modules)\n"
        )

    # A command that writes makes the new file (a read never creates one).
    create = code("create", "--name", "A", "--model", "m", "--json")
    result = subprocess.run([sys.executable, "-c", create], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False True", "a new file imports SQLModel once, Textual never"
    read = code("agents", "--json")
    result = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False False"


def test_cli_commands_on_sqlite_never_import_asyncio(tmp_path: Path) -> None:
    """The CLI calls the synchronous service directly: no event loop, so no asyncio (nor ssl through it),
    which was half of a command's start. (Making a new database imports SQLAlchemy, which imports
    asyncio: once per database, so the file is made first.)"""
    db = str(tmp_path / "k.db")
    subprocess.run(
        [sys.executable, "-m", "kaizen_tui.cli", "--db", db, "create", "--name", "A", "--model", "m"],
        capture_output=True,
        check=True,
    )
    commands = [
        ["snapshot", "A", "-m", "first"],
        ["set", "A", "temperature=0.2"],
        ["snapshot", "A"],
        ["versions", "A", "--json"],
        ["diff", "A", "1", "2"],
        ["label", "set", "A", "production", "2", "--yes"],
        ["config", "A", "--label", "production"],
        ["rollback", "A", "1", "--yes"],
        ["prune", "A", "--keep", "1", "--yes"],
        ["export", "-o", str(tmp_path / "out.jsonl")],
        ["token", "create", "ci", "--role", "read"],
        ["log"],
    ]
    code = (
        "import io, sys\n"
        "from kaizen_tui.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    sys.stdout = io.StringIO()\n"
        f"    code = main(['--db', {db!r}, *argv])\n"
        "    sys.stdout = sys.__stdout__\n"
        "    assert code == 0, (argv, code)\n"
        "print(sorted(name for name in ('asyncio', 'ssl', 'concurrent.futures') if name in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
