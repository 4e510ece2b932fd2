"""Editing an agent as YAML: in $VISUAL/$EDITOR (the app suspended) or in the app.

The text is the agent's editable fields (``dump_agent_yaml``: the prompt as
block text). A mistake is shown with its reason and the text is kept, so it
can be corrected instead of typed again. Saving writes only what the person
changed, merged with what others wrote meanwhile (:class:`AgentEdit`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Static

from kaizen_tui.agent_file import dump_agent_yaml, parse_agent_text
from kaizen_tui.core.errors import AgentNotFound, EditConflict, KaizenError
from kaizen_tui.core.merge import merge_fields
from kaizen_tui.core.schema import EDITABLE_FIELDS
from kaizen_tui.service import AsyncAgentService
from kaizen_tui.tui.screens.dialog import SCROLL_BINDINGS, Dialog
from kaizen_tui.tui.screens.merge import MINE, THEIRS, MergeConflictModal
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.connection import report_failure
from kaizen_tui.tui.widgets.text import INVISIBLE, error_line, exact_time, renumbered, visible

ERROR_MARK = "# ✗ "

NEW_AGENT_TEMPLATE = """\
# A new agent. Fill in the fields, then save and close.
# agent_type: chat | task | pipeline | custom    status: draft | active | archived
# temperature: 0.0 to 2.0    max_tokens: 0 means no limit
# An empty file, or the template unchanged, creates nothing.
name: New agent
description: What this agent does
agent_type: chat
status: draft
system_prompt: |
  You are a helpful assistant.
  Answer briefly and ask when something is unclear.
model_id: gpt-4o
temperature: 0.7
max_tokens: 0
"""


def editable_yaml(fields: dict) -> str:
    """The fields as YAML to edit (:func:`dump_agent_yaml`), safe to show in a terminal.

    YAML writes control characters as escapes, but not the ones that reorder
    or hide text (bidi overrides, zero-width characters): an editor would
    show them raw. A string holding one is written double-quoted with those
    characters as ``\\u202e``-style escapes, which read back as the same text.
    """
    text = dump_agent_yaml(fields)
    if not _holds_invisible(text):
        return text
    text = dump_agent_yaml(fields, double_quoted=_holds_invisible)
    # Every such character is now inside a double-quoted string, where the escape is valid.
    return "".join(f"\\u{ord(char):04X}" if ord(char) in INVISIBLE else char for char in text)


def _holds_invisible(text: str) -> bool:
    return any(ord(char) in INVISIBLE for char in text)


def editor_command() -> list[str] | None:
    """``$VISUAL``, else ``$EDITOR``, split like a shell would; None when neither is set."""
    for variable in ("VISUAL", "EDITOR"):
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                return shlex.split(value)
            except ValueError:
                return value.split()
    return None


def edit_header(name: str) -> str:
    return (
        f"# Editing {visible(name)}: save and close to apply.\n"
        "# Fields you remove are left as they are. An empty file changes nothing.\n"
    )


def with_error(text: str, error: str) -> str:
    """The text with the error written on top as YAML comments (the parser ignores them).

    The error was found in the text without such comments (``strip_error``);
    the lines it names ("line 18") are renumbered to be those of the file
    shown, where the comments on top move the text down.
    """
    body = strip_error(text)
    error_lines = error.splitlines() or [error]
    shift = len(error_lines) + 1
    lines = [ERROR_MARK + visible(renumbered(line, shift)) for line in error_lines]
    lines.append(ERROR_MARK + "Fix it and save again; empty the file to give up.")
    return "\n".join(lines) + "\n" + body


def strip_error(text: str) -> str:
    lines = text.splitlines(keepends=True)
    while lines and lines[0].startswith(ERROR_MARK):
        lines.pop(0)
    return "".join(lines)


def meaningful(text: str) -> str:
    """The text without comments and blank lines, to tell "unchanged" and "empty"."""
    return "\n".join(line.rstrip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


class EditorFailed(Exception):
    """The editor could not be started or did not exit cleanly."""


def run_external_editor(app: App, command: list[str], text: str) -> str:
    """Write ``text`` to a temporary .yaml file, run the editor on it with the app suspended, read it back."""
    handle, name = tempfile.mkstemp(prefix="kaizen-agent-", suffix=".yaml", text=True)
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        try:
            with app.suspend():
                result = subprocess.run([*command, str(path)], check=False)
        except SuspendNotSupported:
            # Headless (tests) or a web driver: run it without the terminal.
            result = subprocess.run([*command, str(path)], check=False, stdin=subprocess.DEVNULL, capture_output=True)
        except FileNotFoundError:
            raise EditorFailed(
                f"Cannot start the editor {command[0]!r}: no such program (check $VISUAL / $EDITOR)."
            ) from None
        except OSError as error:
            raise EditorFailed(f"Cannot start the editor {command[0]!r}: {error.strerror}.") from None
        if result.returncode != 0:
            raise EditorFailed(
                f"The editor {command[0]!r} exited with status {result.returncode}; nothing was changed."
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise EditorFailed(
            f"Cannot start the editor {command[0]!r}: no such program (check $VISUAL / $EDITOR)."
        ) from None
    finally:
        path.unlink(missing_ok=True)


class EditAgainModal(Dialog[bool]):
    """The edit could not be saved: show why; edit again (keeping the text) or discard."""

    BINDINGS = [
        Binding("e,enter", "again", "edit again"),
        Binding("escape,n", "discard", "discard"),
        *SCROLL_BINDINGS,
    ]

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Not saved"
            with VerticalScroll(classes="dialog-body", can_focus=False):
                yield Static(error_line(self.error))
                yield Static(
                    Content.styled("Your text is kept: edit it again to fix this, or discard it.", "$text-muted")
                )
            with Horizontal(classes="buttons"):
                yield Button("Edit again  e", id="again", variant="primary")
                yield Button("Discard  esc", id="discard")
            yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#again", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "again")

    def action_again(self) -> None:
        self.dismiss(True)

    def action_discard(self) -> None:
        self.dismiss(False)


class AgentDeletedModal(Dialog[bool]):
    """The agent being edited was deleted meanwhile: create it anew from the text (``c``), or go back to it.

    Dismissed with True to create it anew. Going back (focused) keeps the
    text as typed; nothing is created unless the person asks for it.
    """

    BINDINGS = [
        Binding("c", "create", "create anew"),
        Binding("escape,n", "back", "back to your text"),
        Binding("left,h", "app.focus_previous", show=False),
        Binding("right,l", "app.focus_next", show=False),
        *SCROLL_BINDINGS,
    ]

    def __init__(self, name: str, error: AgentNotFound) -> None:
        super().__init__()
        self.agent_name = name
        self.error = error

    def compose(self) -> ComposeResult:
        deleted = self.error.deleted
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Deleted meanwhile"
            with VerticalScroll(classes="dialog-body", can_focus=False):
                if deleted is not None:
                    yield Static(
                        Content.assemble(
                            ("✗ ", "bold $text-error"),
                            (visible(deleted.get("name") or self.agent_name), "bold"),
                            (" was deleted by ", "$text-error"),
                            (visible(deleted.get("by")), "bold"),
                            (f" at {exact_time(deleted.get('at'))}", "$text-error"),
                            (f" ({visible(self.error.ref)}); nothing was saved.", "$text-muted"),
                        )
                    )
                else:
                    yield Static(error_line(self.error, "nothing was saved"))
                yield Static(
                    Content.assemble(
                        "Your text is kept. ",
                        ("Create anew", "bold"),
                        " makes a new agent from it (a new id, no versions yet); ",
                        ("Back", "bold"),
                        " returns to your text.",
                    )
                )
            with Horizontal(classes="buttons"):
                yield Button("Back  esc", id="back")
                yield Button("Create anew  c", id="create", variant="primary")
            yield KeyBar()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#back", Button).focus()  # nothing is created on a key meant for the editor

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "create")

    def action_create(self) -> None:
        self.dismiss(True)

    def action_back(self) -> None:
        self.dismiss(False)


class AgentEdit:
    """One edit of an agent's live config, saved as a three-way merge (``apply_edit``).

    It keeps the fields and the revision the editor opened (the base), so
    that saving writes only the fields the person changed: a field someone
    else changed meanwhile and the person did not is kept as they set it.
    When both changed a field differently, :class:`MergeConflictModal` lets
    the person choose per field; nothing is written before they do, and
    going back from it returns to the editor with the text kept.

    When the agent was deleted meanwhile, :class:`AgentDeletedModal` says who
    deleted it and when, and offers to create it anew from the text; once
    the person chose that, saving again (after a name taken meanwhile was
    changed, say) creates it.
    """

    def __init__(
        self, app: App, service: AsyncAgentService, agent: dict[str, Any], saved: Callable[[dict[str, Any], str], None]
    ) -> None:
        """``saved(agent, message)`` is called once the edit is written (or found to change nothing)."""
        self.app = app
        self.service = service
        self.agent_id: str = agent["id"]
        self.name = visible(agent["name"])
        self.base = {key: agent[key] for key in EDITABLE_FIELDS}
        self.revision: int = agent["revision"]
        self.saved = saved
        #: The agent was deleted meanwhile (as the service said) and the person chose to create it
        #: anew from the text: saving creates it.
        self.recreate: AgentNotFound | None = None

    @property
    def text(self) -> str:
        """What the editor opens with."""
        return edit_header(self.base["name"]) + editable_yaml(self.base)

    async def submit(self, text: str) -> str | None:
        """Save the edited text; None when done, else why not (the text is kept for another try)."""
        try:
            mine = parse_agent_text(strip_error(text), "Your YAML")
        except KaizenError as error:
            return str(error)
        base, revision, edited = self.base, self.revision, mine
        #: Fields whose value someone else set meanwhile, kept (chosen or not touched by the person).
        theirs: list[str] = []
        while True:
            if self.recreate is not None:
                return await self._create_anew(self.recreate, mine)
            try:
                result = await self.service.apply_edit(self.agent_id, base, edited, base_revision=revision)
                break
            except AgentNotFound as gone:
                return await self._create_anew(gone, mine)
            except EditConflict as conflict:
                dialog = MergeConflictModal(self.name, str(conflict), conflict.conflicts)
                choices = await self.app.push_screen_wait(dialog)
                if choices is None:
                    return f"{conflict} Nothing was saved: save again to choose, or change your text."
                current = {key: conflict.current[key] for key in EDITABLE_FIELDS}
                merge = merge_fields(base, edited, current)
                theirs += merge.kept
                theirs += [field for field, side in choices.items() if side == THEIRS]
                # The agent as it is now, with the person's other changes and their choices.
                settled = {**current, **merge.changes}
                for item in conflict.conflicts:
                    settled[item["field"]] = item["mine"] if choices[item["field"]] == MINE else item["theirs"]
                base, revision, edited = current, conflict.current["revision"], settled
            except KaizenError as error:
                report_failure(self.app, error)
                return str(error)
        kept = [key for key in EDITABLE_FIELDS if key in theirs or key in result["kept"]]
        # Who changed the kept fields: apply_edit says it (kept_by, since the revision it was given).
        # After a conflict that revision is the conflict's, and EditConflict does not say who changed
        # what before it: only then is the audit log read, from the revision the editor opened.
        if revision == self.revision or not kept:
            who = ", ".join(visible(actor) for actor in result.get("kept_by") or [])
        else:
            who = await self._changed_by(kept)
        self.saved(result["agent"], self._message(result["agent"], result["written"], kept, who))
        return None

    async def _create_anew(self, gone: AgentNotFound, mine: dict[str, Any]) -> str | None:
        """The agent was deleted meanwhile: create it from the text if the person wants to; else why not."""
        if self.recreate is None:
            if not await self.app.push_screen_wait(AgentDeletedModal(self.name, gone)):
                return f"{gone} Nothing was saved; save again to create it anew from your text."
            self.recreate = gone
        try:
            # Fields removed from the text are "left as they were": as the editor opened them.
            agent = await self.service.create_agent({**self.base, **mine})
        except KaizenError as error:  # the name taken meanwhile, the database unreachable...
            report_failure(self.app, error)
            return f"{error} The agent was deleted meanwhile: saving creates it anew from your text."
        message = f"Created {visible(agent['name'])} anew from your text"
        if gone.deleted is not None:
            message += f" (the one you edited was deleted by {visible(gone.deleted.get('by'))})"
        self.saved(agent, message + "; s saves its first version")
        return None

    def _message(self, agent: dict[str, Any], written: list[str], kept: list[str], who: str) -> str:
        """The toast: what was written, and which fields someone else set meanwhile were kept (and who)."""
        name = visible(agent["name"])
        if written:
            message = f"Updated the live config of {name} ({', '.join(written)})"
        else:
            message = f"No changes to {name}"
        if kept:
            them = "it" if len(kept) == 1 else "them"
            message += f"; kept {', '.join(kept)} as {who or 'someone else'} changed {them} meanwhile"
        if written and agent.get("unsaved_changes"):
            message += "; s saves it as a version"
        return message

    async def _changed_by(self, fields: list[str]) -> str:
        """Who changed these fields since the editor opened, as the audit log tells ("" if it does not)."""
        try:
            events = await self.service.audit_log(self.agent_id, limit=50)
        except KaizenError:
            return ""
        actors: list[str] = []
        for event in events:
            detail = event.get("detail") or {}
            revision = detail.get("revision")
            if not isinstance(revision, int) or revision <= self.revision:
                continue
            if set(detail.get("fields") or []) & set(fields) and event.get("actor") not in actors:
                actors.append(event["actor"])
        return ", ".join(visible(actor) for actor in reversed(actors))
