"""Comparing configs: fields, nested extra, numbers by value, line and word diffs."""

from __future__ import annotations

from kaizen_tui.core.diff import compare_configs, line_hunks, split_lines, text_hunks, unified_text_diff

BASE = {"name": "A", "temperature": 0.7, "max_tokens": 2048, "extra": {}}


def test_equal_numbers_of_different_types_are_not_changes() -> None:
    assert compare_configs({**BASE, "temperature": 1}, {**BASE, "temperature": 1.0}) == []
    assert compare_configs({**BASE, "temperature": 0.7}, {**BASE, "temperature": 0.70}) == []
    assert compare_configs({**BASE, "max_tokens": 2048.0}, BASE) == []


def test_keys_present_on_one_side_only() -> None:
    changes = compare_configs({**BASE, "description": "old"}, {**BASE, "model_id": "gpt-4"})
    assert [(c["field"], c["kind"], c["old"], c["new"]) for c in changes] == [
        ("description", "removed", "old", None),
        ("model_id", "added", None, "gpt-4"),
    ]


def test_nested_extra_changes_have_paths() -> None:
    old = {**BASE, "extra": {"tools": [{"name": "search", "k": 5}], "top_p": 0.9}}
    new = {**BASE, "extra": {"tools": [{"name": "search", "k": 8}, {"name": "python"}], "stop": ["END"]}}
    changes = {c["path"]: (c["kind"], c["old"], c["new"]) for c in compare_configs(old, new)}
    assert changes == {
        "extra.tools[0].k": ("changed", 5, 8),
        "extra.tools[1]": ("added", None, {"name": "python"}),
        "extra.top_p": ("removed", 0.9, None),
        "extra.stop": ("added", None, ["END"]),
    }
    assert {c["field"] for c in compare_configs(old, new)} == {"extra"}


def test_changes_follow_the_field_order() -> None:
    old = {"name": "a", "model_id": "m", "temperature": 0.1, "zeta": 1}
    new = {"name": "b", "model_id": "n", "temperature": 0.2, "zeta": 2}
    assert [c["field"] for c in compare_configs(old, new)] == ["name", "model_id", "temperature", "zeta"]


def test_keys_with_quotes_and_dots_keep_their_names() -> None:
    changes = compare_configs({"extra": {"it's.x": 1}}, {"extra": {"it's.x": 2}})
    assert changes[0]["path"] == "extra.it's.x"


def test_unified_text_diff() -> None:
    diff = unified_text_diff("a\nb\nc", "a\nB\nc", "v1", "v2")
    assert diff.splitlines() == ["--- v1", "+++ v2", "@@ -1,3 +1,3 @@", " a", "-b", "+B", " c"]


def test_text_hunks_mark_changed_words_inside_changed_lines() -> None:
    [hunk] = text_hunks("keep this\nthe quick brown fox\nend", "keep this\nthe slow brown fox\nend")
    assert hunk.header == "@@ -1,3 +1,3 @@"
    removed = next(line for line in hunk.lines if line.tag == "-")
    added = next(line for line in hunk.lines if line.tag == "+")
    assert [removed.text[a:b] for a, b in removed.marks] == ["quick"]
    assert [added.text[a:b] for a, b in added.marks] == ["slow"]
    assert (removed.old_number, added.new_number) == (2, 2)


def test_text_hunks_of_equal_texts_are_empty() -> None:
    assert text_hunks("same\ntext", "same\ntext") == []


def test_a_change_of_line_endings_alone_is_a_changed_line() -> None:
    [hunk] = text_hunks("first\r\nsecond", "first\nsecond")
    assert [(line.tag, line.text) for line in hunk.lines] == [("-", "first\r"), ("+", "first"), (" ", "second")]


def test_a_boolean_is_not_a_number_and_types_count() -> None:
    assert [c["kind"] for c in compare_configs({"extra": {"a": True}}, {"extra": {"a": 1}})] == ["changed"]
    assert compare_configs({"temperature": 1}, {"temperature": True})[0]["kind"] == "changed"
    assert compare_configs({"description": "1"}, {"description": 1})[0]["kind"] == "changed"
    assert compare_configs({"extra": {"a": [1, 2]}}, {"extra": {"a": [1.0, 2]}}) == []
    assert compare_configs({"extra": {"a": [True]}}, {"extra": {"a": [1]}}) != []


def test_a_config_against_nothing_is_one_added_change_per_field() -> None:
    new = {"name": "A", "model_id": "m", "extra": {"tools": []}}
    assert [(c["path"], c["kind"]) for c in compare_configs({}, new)] == [
        ("name", "added"),
        ("model_id", "added"),
        ("extra", "added"),
    ]
    extra_only = compare_configs({"extra": {}}, {"extra": {"a": 1}, "name": "x"})
    assert [(c["path"], c["kind"]) for c in extra_only] == [("name", "added"), ("extra.a", "added")]


def test_very_long_changed_lines_are_marked_whole_instead_of_word_by_word() -> None:
    old = " ".join(f"word{n}" for n in range(5000))
    new = old.replace("word17 ", "changed ")
    [hunk] = text_hunks(old, new)
    removed, added = hunk.lines
    assert removed.marks == [(0, len(old))] and added.marks == [(0, len(new))]


def test_line_hunks_quick_or_exact_agree_on_an_ordinary_edit() -> None:
    old = "".join(f"line {n}\n" for n in range(50))
    new = old.replace("line 20\n", "line twenty\n").replace("line 40\n", "")
    exact = line_hunks(split_lines(old), split_lines(new))
    assert exact == text_hunks(old, new)
    assert line_hunks(split_lines(old), split_lines(new), quick=True) == exact
    assert [hunk.header for hunk in exact] == ["@@ -18,7 +18,7 @@", "@@ -38,7 +38,6 @@"]
