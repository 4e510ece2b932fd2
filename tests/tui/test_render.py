"""The TUI's text helpers and diff layout, without running the app."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from kaizen_tui.core.diff import compare_configs, text_hunks
from kaizen_tui.tui.widgets.diff import DiffRenderer, DiffStyles, comparison_label, diff_hunks
from kaizen_tui.tui.widgets.text import exact_time, first_line, relative_time, visible
from tests.support import NOW


def stamp(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_relative_times():
    assert relative_time(stamp(timedelta(seconds=5)), NOW) == "just now"
    assert relative_time(stamp(timedelta(minutes=5)), NOW) == "5m ago"
    assert relative_time(stamp(timedelta(hours=3)), NOW) == "3h ago"
    assert relative_time(stamp(timedelta(days=3)), NOW) == "3d ago"
    assert relative_time(stamp(timedelta(days=20)), NOW) == "2w ago"
    assert relative_time(stamp(timedelta(days=90)), NOW) == "3mo ago"
    assert relative_time(stamp(timedelta(days=800)), NOW) == "2y ago"
    assert relative_time(stamp(-timedelta(days=2)), NOW) == "2026-12-03"  # a clock ahead of ours
    assert relative_time("garbage", NOW) == "?"
    assert exact_time("2026-11-03T10:30:00Z") == "2026-11-03 10:30 UTC"


def test_visible_shows_control_characters_and_keeps_markup_as_text():
    assert visible("a\x1b[31mb") == "a␛[31mb"
    assert visible("tab\there") == "tab    here"
    assert visible("bell\x07 nul\x00 del\x7f") == "bell␇ nul␀ del␡"
    assert visible("csi\x9b") == "csi\\x9b"
    assert visible("rtl\u202eevil") == "rtl<U+202E>evil"
    assert visible("[bold]x[/bold]") == "[bold]x[/bold]"
    assert visible("naïve — 日本語 🙂") == "naïve — 日本語 🙂"


@given(st.text())
def test_visible_never_lets_a_control_character_through(text):
    shown = visible(text)
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in shown)


def test_first_line():
    assert first_line("  \nFirst line\nsecond") == "First line …"
    assert first_line("One") == "One"
    assert first_line(None) == ""
    assert first_line("x" * 50, limit=10) == "xxxxxxxxx…"


def comparison(old_prompt: str, new_prompt: str, **extra) -> dict:
    changes = [
        {"field": "system_prompt", "path": "system_prompt", "kind": "changed", "old": old_prompt, "new": new_prompt}
    ]
    changes += [
        {"field": key, "path": key, "kind": "changed", "old": old, "new": new} for key, (old, new) in extra.items()
    ]
    return {
        "from": {"label": "v1", "version_id": "a", "version_number": 1, "damaged": None},
        "to": {"label": "v2", "version_id": "b", "version_number": 2, "damaged": None},
        "identical": False,
        "changes": changes,
        "text_diffs": [],
        "warnings": [],
    }


def render(data: dict, width: int, split: bool) -> list[str]:
    renderer = DiffRenderer(Console(width=200), DiffStyles.plain(), width, split)
    return [line.plain for line in renderer.comparison(data)]


OLD = "You are helpful.\nAnswer briefly.\nNever promise refunds."
NEW = "You are helpful.\nAnswer briefly and politely.\nNever promise refunds."


def test_unified_layout_marks_changed_words():
    renderer = DiffRenderer(Console(width=200), DiffStyles.plain(), 80, split=False)
    lines = renderer.comparison(comparison(OLD, NEW, temperature=(0.7, 0.5)))
    text = [line.plain for line in lines]
    assert text[0].startswith("v1 → v2  2 fields changed: system_prompt, temperature")
    assert any(line.startswith("2   - Answer briefly.") for line in text)
    assert any(line.startswith("  2 + Answer briefly and politely.") for line in text)
    added = next(line for line in lines if "politely" in line.plain)
    marked = [
        added.plain[span.start : span.end] for span in added.spans if span.style and "underline" in str(span.style)
    ]
    assert "".join(marked).strip() == "and politely"
    assert any("temperature" in line and "0.7" in line and "0.5" in line for line in text)


def test_split_layout_puts_old_and_new_side_by_side():
    text = render(comparison(OLD, NEW), 100, split=True)
    row = next(line for line in text if "Answer briefly." in line and "politely" in line)
    left, right = row.split("│")
    assert "- Answer briefly." in left and "+ Answer briefly and politely." in right


def test_lines_wrap_inside_their_column():
    long = "word " * 40
    text = render(comparison("short", long.strip()), 60, split=False)
    body = [line for line in text if "word" in line]
    assert len(body) > 1 and all(len(line) <= 60 for line in body)
    assert all(line.startswith(" " * 6) for line in body[1:])  # continuation lines keep the gutter


def test_identical_and_first_version():
    same = comparison(OLD, OLD)
    same["changes"], same["identical"] = [], True
    assert any("v2 is identical to v1" in line for line in render(same, 80, False))
    first = {
        **comparison(OLD, NEW),
        "from": {"label": "nothing", "version_id": None, "version_number": None, "damaged": None},
        "changes": compare_configs({"extra": {}}, {"name": "A", "extra": {}}),
    }
    # Nothing before v2: v1 was deleted, v2 is not the first version.
    assert comparison_label(first) == "v2 (oldest kept; v1 deleted)"
    first["to"] = {**first["to"], "label": "v1", "version_number": 1}
    assert comparison_label(first) == "v1 (first version)"
    assert any(line.split() == ["name", "—", "A"] for line in render(first, 80, False))


def test_unreadable_damaged_version_is_not_compared_field_by_field():
    data = comparison(OLD, NEW)
    data["to"]["damaged"] = "not valid JSON"
    data["warnings"] = ["v2: snapshot is damaged (not valid JSON)"]
    data["changes"] = [{"field": "name", "path": "name", "kind": "removed", "old": "A", "new": None}]
    text = render(data, 80, False)
    assert any("✗ v2: snapshot is damaged" in line for line in text)
    assert any("cannot be read" in line for line in text)
    assert not any(line.strip() == "name" for line in text)


def test_escape_sequences_in_a_prompt_are_shown_not_sent():
    text = "\n".join(render(comparison("plain", "evil \x1b[2J\x1b]0;x\x07 [red]red[/red]"), 80, False))
    assert "\x1b" not in text and "␛[2J" in text and "[red]red[/red]" in text


def test_the_pane_diffs_a_long_text_as_the_core_does_with_the_same_line_numbers():
    # The pane leaves the common start and end out of the matching, then puts the numbers back.
    old = "".join(f"line {n}\n" for n in range(2000))
    new = old.replace("line 1500\n", "line fifteen hundred\n").replace("line 10\n", "")
    assert diff_hunks(old, new) == text_hunks(old, new)


def test_yaml_to_edit_escapes_invisible_characters_and_reads_back_the_same() -> None:
    from kaizen_tui.agent_file import parse_agent_text
    from kaizen_tui.tui.screens.editing import editable_yaml

    fields = {
        "name": "Agent",
        "system_prompt": "First line.\nrtl\u202eevil and\u200bzero-width",
        "description": "plain",
    }
    text = editable_yaml(fields)
    assert "\u202e" not in text and "\u200b" not in text
    assert "\\u202E" in text and "\\u200B" in text
    assert parse_agent_text(text) == fields

    plain = {"name": "Agent", "system_prompt": "First line.\nSecond line."}
    assert "system_prompt: |" in editable_yaml(plain)
    assert parse_agent_text(editable_yaml(plain)) == plain
