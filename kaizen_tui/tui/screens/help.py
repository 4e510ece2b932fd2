"""Help: every key, what the markers mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from kaizen_tui.tui.actions import key_sections
from kaizen_tui.tui.screens.dialog import Dialog
from kaizen_tui.tui.widgets.chrome import KeyBar
from kaizen_tui.tui.widgets.lists import GLYPH_DAMAGED, GLYPH_LIVE, GLYPH_MARK, GLYPH_UNSAVED

MARKERS: list[tuple[str, str, str]] = [
    (GLYPH_UNSAVED, "$text-warning", "agents: the live config has changes no version holds yet (s saves them)"),
    (GLYPH_LIVE, "$text-success", "timeline: the live config equals this version"),
    (GLYPH_MARK, "$text-accent", "timeline: marked as the comparison base (space)"),
    (GLYPH_DAMAGED, "$text-error", "timeline: the stored snapshot is damaged; it can be compared, not restored"),
    ("[name]", "$text-secondary", "timeline: a label names this version (t sets, moves or removes one; T: the ledger)"),
]


NOTES = [
    "Times are relative (3d ago); the line above the keys shows the exact time in UTC.",
    "Rolling back never loses anything: unsaved changes are saved as a version first.",
    "Changes made by the CLI or a colleague on the same database show up within a second or two.",
    "The diff: a table for short values, a line diff with the changed words marked for long text.",
]


def help_rows() -> list[tuple[Content, Content]]:
    """(left, right) cells of the help grid, headings included.

    The keys first, they are what help is opened for, and among them the
    actions first (snapshot, compare, roll back, prune, label...), then
    moving around, then the rest.
    """
    rows: list[tuple[Content, Content]] = []
    # From the action registry, which also makes the key bindings and the palette.
    for heading, key_rows in key_sections():
        rows.append((Content.styled(heading, "bold $text-primary"), Content("")))
        rows += [(Content.styled(keys, "bold $text-accent"), Content(text)) for keys, text in key_rows]
    rows.append((Content.styled("Markers", "bold $text-primary"), Content("")))
    rows += [(Content.styled(glyph, f"bold {style}"), Content(text)) for glyph, style, text in MARKERS]
    rows.append((Content.styled("Notes", "bold $text-primary"), Content("")))
    rows += [(Content.styled("•", "$text-muted"), Content(note)) for note in NOTES]
    return rows


def help_content() -> Content:
    """All of the help as one text (for tests and the clipboard)."""
    return Content("\n").join(Content.assemble(left, "  ", right) for left, right in help_rows())


class HelpScreen(Dialog[None]):
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "close"),
        Binding("j,down", "scroll(1)", "scroll", key_display="j/k"),
        Binding("k,up", "scroll(-1)", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -wide -help") as dialog:
            dialog.border_title = "Help"
            with VerticalScroll(id="help-scroll"), Grid(id="help-grid"):
                for index, (left, right) in enumerate(help_rows()):
                    if not right.plain and index:  # a heading: a blank line above it
                        yield Static("")
                        yield Static("")
                    yield Static(left, classes="help-key")
                    yield Static(right, classes="help-text")
            yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_scroll(self, lines: int) -> None:
        scroll = self.query_one("#help-scroll", VerticalScroll)
        # At once: keys typed faster than the screen refreshes would each
        # start from the same offset, and scroll one line between them.
        scroll.scroll_relative(y=lines, animate=False, immediate=True)

    def action_close(self) -> None:
        self.dismiss(None)
