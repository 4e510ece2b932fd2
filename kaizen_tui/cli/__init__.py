"""The command line: ``kaizen-tui [PROGRAM OPTIONS] [COMMAND ...]``."""

from kaizen_tui.cli.program import main

__all__ = ["main"]
