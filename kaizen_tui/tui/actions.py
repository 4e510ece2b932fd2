"""The one registry of the TUI's actions: key bindings, key bar, help and command palette come from it.

Each :class:`Action` says once what a key does: its action name, its keys,
the short label the key bar shows, the help screen's text, the command
palette's title and description, and the scopes (screens, or panes of the
main screen) where its keys apply. From it:

- ``bindings(scope)`` gives the ``BINDINGS`` of the class of that scope
  (the key bar shows a screen's active bindings, so it follows too);
- ``key_sections()`` gives the help screen's key rows: the actions people
  open it for first (``HELP_FIRST``), then moving around, then the rest;
- ``palette_actions(screen_scope)`` gives the actions the command palette
  offers on a screen.

Adding an action is adding an entry here (and its ``action_<name>`` method
on its owner). The order of ``ACTIONS`` is the order of the help rows and
of the key bar within a scope (a key the widget's base class already binds
keeps its place: ``enter`` comes first on the timeline).

Keys the lists and panes handle themselves (moving the cursor, switching
panes) are in ``NAVIGATION``: rows of the help only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from textual.binding import Binding, BindingType
from textual.keys import format_key


class Scope(Enum):
    """Where an action's keys apply: the class whose ``BINDINGS`` hold them."""

    APP = "everywhere"  # KaizenApp
    MAIN = "main screen"  # MainScreen: whichever pane has focus
    AGENTS = "agents list"  # AgentsPaneTable
    FILTER = "agents filter"  # FilterInput
    TIMELINE = "timeline"  # TimelineTable
    DIFF = "diff pane"  # DiffPane
    COMPARE = "compare view"  # CompareScreen

    @property
    def screen(self) -> Scope:
        """The screen this scope is part of (a pane's actions run on its screen)."""
        return Scope.MAIN if self in _MAIN_SCREEN_PANES else self


_MAIN_SCREEN_PANES = frozenset({Scope.AGENTS, Scope.FILTER, Scope.TIMELINE, Scope.DIFF})

#: The panes that act on the highlighted version.
VERSION_PANES = (Scope.TIMELINE, Scope.DIFF)


@dataclass(frozen=True)
class Action:
    """One action of the TUI, and everything said about it to the person."""

    #: The action run: ``action_<name>`` of its owner.
    name: str
    #: Textual key names; the first one is shown in the key bar, the others are bound too.
    keys: tuple[str, ...]
    #: The key bar's short label.
    label: str
    #: The help screen's text.
    help: str
    #: Where the keys are bound.
    scopes: tuple[Scope, ...]
    #: The command palette's (title, description); None: not in the palette.
    palette: tuple[str, str] | None = None
    #: Who has ``action_<name>``: the screen of the scope, or the app.
    #: App actions are offered by the palette on every screen.
    owner: Literal["screen", "app"] = "screen"
    #: Shown in the key bar (when its scope is active and the owner allows it).
    show: bool = True
    #: Taken before the focused widget sees the key (even a text field).
    priority: bool = False
    #: How the help writes the keys, when not all of them (default: all, as the help spells them).
    help_keys: str | None = None
    #: Fields that differ in one scope, e.g. ``{Scope.DIFF: {"label": "full screen"}}``.
    overrides: Mapping[Scope, Mapping[str, Any]] = field(default_factory=dict)

    def in_scope(self, scope: Scope) -> Action:
        """The action as it applies in ``scope`` (its overrides there applied)."""
        changes = self.overrides.get(scope)
        return dataclasses.replace(self, overrides={}, **changes) if changes else self

    def action_string(self, scope: Scope) -> str:
        """What a binding in ``scope`` runs: ``snapshot``, ``screen.compare`` (from a pane) or ``app.help``."""
        action = self.in_scope(scope)
        if action.owner == "app":
            return action.name if scope is Scope.APP else f"app.{action.name}"
        return f"screen.{action.name}" if scope.screen is not scope else action.name

    @property
    def help_key_text(self) -> str:
        """The keys as the help writes them: ``? f1``."""
        return self.help_keys or " ".join(spell(key) for key in self.keys)

    @property
    def palette_key_text(self) -> str:
        """The keys as the palette writes them: ``? or f1``."""
        return " or ".join(spell(key) for key in self.keys)


def spell(key: str) -> str:
    """A key as the help and the palette write it: ``?``, ``/``, ``esc``, ``enter``, ``ctrl+p``."""
    return "enter" if key == "enter" else format_key(key)


def key_bar_display(key: str) -> str:
    """A key as the key bar shows it: as spelled, with ``^`` for ctrl (``^p``), to save room."""
    return spell(key).replace("ctrl+", "^")


#: Every action, in the order of the help and of the key bar within a scope:
#: the agent's actions, then the version's, then the views'.
ACTIONS: tuple[Action, ...] = (
    Action(
        "open_timeline",
        ("enter",),
        "timeline",
        help="agents: go to the timeline",
        scopes=(Scope.AGENTS,),
        palette=("Timeline", "Go to the versions of the highlighted agent"),
    ),
    Action(
        "snapshot",
        ("s",),
        "snapshot",
        help="snapshot the live config as a new version (asks for a changelog)",
        scopes=(Scope.MAIN,),
        palette=("Snapshot", "Save the live config of the agent as a new version"),
    ),
    Action(
        "edit",
        ("e",),
        "edit",
        help="edit the live config as YAML in $VISUAL / $EDITOR, or in the app",
        scopes=(Scope.MAIN,),
        palette=("Edit agent", "Edit the live config as YAML"),
    ),
    Action(
        "new_agent",
        ("n",),
        "new agent",
        help="new agent, from a YAML template",
        scopes=(Scope.MAIN,),
        palette=("New agent", "Create an agent from a YAML template"),
    ),
    Action(
        "prune",
        ("p",),
        "prune",
        help="prune: keep the N newest versions, delete the rest",
        scopes=(Scope.MAIN,),
        palette=("Prune", "Keep the N newest versions of the agent, delete the rest"),
    ),
    Action(
        "delete_agent",
        ("D",),
        "delete agent",
        help="agents: archive the agent, then (D again) delete it and its versions",
        scopes=(Scope.AGENTS,),
        palette=("Delete agent", "Delete the highlighted agent and all its versions (it is archived first)"),
    ),
    Action(
        "audit_log",
        ("L",),
        "who did what",
        help="the audit log of the agent: who did what, when (newest first)",
        scopes=(Scope.MAIN,),
        palette=("Audit log", "Who did what to the highlighted agent, when"),
    ),
    Action(
        "label_ledger",
        ("T",),
        "label ledger",
        help="the label ledger: who set, moved or removed which label, when, why",
        scopes=(Scope.MAIN,),
        palette=("Label ledger", "Who set, moved or removed the labels of the highlighted agent, when and why"),
    ),
    Action(
        "filter",
        ("slash",),
        "filter",
        help="filter agents as you type",
        scopes=(Scope.MAIN,),
        palette=("Filter agents", "Filter the agents as you type"),
    ),
    Action(
        "clear_filter",
        ("escape",),
        "clear filter",
        help="filter: clear it",
        # In the key bar only while the filter has focus; bound on the screen
        # too, so esc clears it from any pane (the screen hides it when there
        # is no filter).
        scopes=(Scope.FILTER, Scope.MAIN),
        overrides={Scope.MAIN: {"show": False}},
        # Not in the palette: with no filter shown it would do nothing.
    ),
    Action(
        "toggle_mark",
        ("space",),
        "mark",
        help="mark / unmark the highlighted version as the comparison base",
        scopes=VERSION_PANES,
        palette=("Mark version", "Mark / unmark the highlighted version as the comparison base"),
    ),
    Action(
        "compare",
        ("c",),
        "compare",
        help="compare the marked version with the highlighted one; no mark: highlighted with the live config",
        scopes=VERSION_PANES,
        palette=("Compare", "Marked version against the highlighted one, or highlighted against the live config"),
    ),
    Action(
        "rollback",
        ("r",),
        "rollback",
        help="roll back the live config to the highlighted version (unsaved changes are saved first)"
        " · compare view: to the newer version shown",
        scopes=(*VERSION_PANES, Scope.COMPARE),
        palette=("Roll back", "Make the live config equal the highlighted version"),
        overrides={Scope.COMPARE: {"label": "rollback to newer"}},
    ),
    Action(
        "rollback_older",
        ("R",),
        "rollback to older",
        help="compare view: roll back to the older version shown",
        scopes=(Scope.COMPARE,),
        palette=("Roll back to the older", "Make the live config equal the older version compared"),
    ),
    Action(
        "label",
        ("t",),
        "label",
        help="label the highlighted version: set, move or remove a label, with a preview",
        scopes=VERSION_PANES,
        palette=("Label version", "Point a label (production, staging...) at the highlighted version, or remove one"),
    ),
    Action(
        "delete_version",
        ("x",),
        "delete",
        help="delete the highlighted version",
        scopes=VERSION_PANES,
        palette=("Delete version", "Delete the highlighted version"),
    ),
    Action(
        "copy_config",
        ("y",),
        "copy",
        help="timeline: copy the highlighted version's config (YAML) to your terminal's clipboard, over SSH too",
        scopes=(Scope.TIMELINE,),
        palette=("Copy config", "Copy the highlighted version's config, as YAML, to the clipboard"),
    ),
    Action(
        "copy_diff",
        ("y",),
        "copy diff",
        help="diff pane, compare view: copy the diff shown, as text, to the clipboard",
        scopes=(Scope.DIFF, Scope.COMPARE),
        palette=("Copy diff", "Copy the diff shown, as text, to the clipboard"),
    ),
    Action(
        "open_diff",
        ("enter",),
        "diff",
        help="timeline: the diff full screen",
        scopes=VERSION_PANES,
        palette=("Diff full screen", "Show the diff of the highlighted version full screen"),
        overrides={Scope.DIFF: {"label": "full screen"}},
    ),
    Action(
        "close",
        ("escape", "q"),
        "back",
        help="compare view: back",
        help_keys="esc",  # q quits everywhere else
        scopes=(Scope.COMPARE,),
        palette=("Back", "Close the compare view"),
    ),
    Action(
        "toggle_split",
        ("u",),
        "split/unified",
        help="diff side by side / unified",
        scopes=(Scope.MAIN, Scope.COMPARE),
        palette=("Split / unified diff", "Show text diffs side by side or unified"),
        owner="app",
        # The main screen runs it itself, so it can hide u while it has no agents.
        overrides={Scope.MAIN: {"owner": "screen"}},
    ),
    Action(
        "help",
        ("question_mark", "f1"),
        "help",
        help="this help",
        scopes=(Scope.MAIN, Scope.COMPARE),
        palette=("Help", "Every key and what the markers mean"),
        owner="app",
    ),
    Action(
        "command_palette",
        ("ctrl+p",),
        "palette",
        help="command palette: every action, and the colour theme",
        scopes=(Scope.APP,),
        owner="app",
        priority=True,
    ),
    Action(
        "quit",
        ("q",),
        "quit",
        help="quit (in a dialog: esc or n cancels, y confirms)",
        scopes=(Scope.MAIN,),
        owner="app",
        # Not in the palette: Textual's own "Quit the application" is there.
    ),
)

#: Keys the lists and panes handle themselves: rows of the help only.
NAVIGATION: tuple[tuple[str, str], ...] = (
    ("j k ↑ ↓", "move the cursor (g / G: first / last)"),
    ("tab shift+tab", "switch pane: agents → timeline → diff"),
)

#: The help's first rows: the actions people open it for, in this order (at 80x24 they are what it opens on).
HELP_FIRST = ("snapshot", "compare", "toggle_mark", "rollback", "prune", "label", "copy_config", "copy_diff", "edit")
#: The help's rows about moving around, after :data:`NAVIGATION`; every other action comes last.
HELP_MOVING = ("open_timeline", "open_diff", "filter", "clear_filter", "close")


def actions_in(scope: Scope) -> Iterator[Action]:
    """The actions bound in ``scope``, in registry order, as they apply there."""
    for action in ACTIONS:
        if scope in action.scopes:
            yield action.in_scope(scope)


def bindings(scope: Scope) -> list[BindingType]:
    """The ``BINDINGS`` of the class of ``scope``.

    One binding a key: the key bar shows the first key of an action, the
    others are bound without a place in it (``?`` shown, ``f1`` not).
    """
    result: list[BindingType] = []
    for action in actions_in(scope):
        run = action.action_string(scope)
        for index, key in enumerate(action.keys):
            result.append(
                Binding(
                    key,
                    run,
                    action.label,
                    show=action.show and index == 0,
                    key_display=key_bar_display(key),
                    priority=action.priority,
                )
            )
    return result


def key_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """The help's key rows, in sections: ``[(heading, [(keys, text), ...]), ...]``.

    First the actions people open the help for (:data:`HELP_FIRST`: snapshot,
    compare, roll back, prune, label...), then moving around (the
    :data:`NAVIGATION` rows and :data:`HELP_MOVING`), then every other
    action in registry order. Actions written with the same keys share a row
    (``enter``: agents → timeline, timeline → diff).
    """
    by_name = {action.name: action for action in ACTIONS}
    first = [by_name[name] for name in HELP_FIRST]
    moving = [action for action in ACTIONS if action.name in HELP_MOVING]
    rest = [action for action in ACTIONS if action.name not in HELP_FIRST and action.name not in HELP_MOVING]
    return [
        ("Keys", _rows(first)),
        ("Moving around", list(NAVIGATION) + _rows(moving)),
        ("More keys", _rows(rest)),
    ]


def _rows(actions: list[Action]) -> list[tuple[str, str]]:
    rows: dict[str, list[str]] = {}
    for action in actions:
        rows.setdefault(action.help_key_text, []).append(action.help)
    return [(keys, " · ".join(texts)) for keys, texts in rows.items()]


def key_rows() -> list[tuple[str, str]]:
    """Every (keys, text) row of the help, in the order of :func:`key_sections`."""
    return [row for _heading, rows in key_sections() for row in rows]


def palette_actions(screen: Scope | None) -> list[Action]:
    """The actions the command palette offers on a screen (``None``: a dialog, the help...).

    The screen's own actions and its panes', and the app's on every screen.
    """
    return [
        action
        for action in ACTIONS
        if action.palette is not None
        and (action.owner == "app" or any(scope.screen is screen for scope in action.scopes))
    ]
