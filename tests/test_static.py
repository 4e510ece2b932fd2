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
