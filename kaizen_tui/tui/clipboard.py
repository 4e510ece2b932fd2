"""Copying what the TUI shows to the clipboard of the person's terminal.

Textual's ``copy_to_clipboard`` writes the text as an OSC 52 escape
sequence: the terminal (not the machine the app runs on) puts it on its
clipboard, so it works over SSH, and in tmux with ``set -g set-clipboard
on``. The app also keeps the text (``App.clipboard``). Nothing tells
whether the terminal took it, so the toast says what was sent.
"""

from __future__ import annotations

from typing import Any

from textual.app import App

from kaizen_tui.tui.screens.editing import editable_yaml
from kaizen_tui.tui.widgets.text import exact_time, visible


def copy_shown(app: App[Any], text: str, what: str) -> None:
    """Put ``text`` on the terminal's clipboard and say in a toast what it was (``what``: "v3 of Support Agent")."""
    app.copy_to_clipboard(text)
    count = len(text.splitlines())
    app.notify(f"Copied {what} to the clipboard ({count:,} line{'s' if count != 1 else ''}).", timeout=4)


def config_yaml(name: str, config: dict[str, Any], version: dict[str, Any] | None) -> str:
    """The config of a version (None: the live config) as YAML, as the editor shows it, under a comment naming it.

    It reads back with ``kaizen-tui create -f`` (the comment is YAML's).
    """
    if version is None:
        header = f"# {visible(name)}: the live config\n"
    else:
        header = (
            f"# {visible(name)} v{version['version_number']}"
            f" ({exact_time(version.get('created_at'))}, {visible(version.get('created_by'))})\n"
        )
    return header + editable_yaml(config)
