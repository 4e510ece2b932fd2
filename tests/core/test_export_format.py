"""The export file format on its own (``kaizen_tui.core.export_format``): lines written, lines checked.

Pure: no database. What an import does with the records is tested through
the service and the command line (``tests/cli/test_export_import.py``).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from kaizen_tui.core.errors import InvalidExportFile
from kaizen_tui.core.export_format import FORMAT_VERSION, ExportWriter, encode, read_export

AGENT = {
    "id": "agt-1",
    "name": "Support Agent",
    "description": "Handles inquiries",
    "agent_type": "chat",
    "status": "active",
    "system_prompt": "Sé amable.\nAnswer briefly.",
    "model_id": "gpt-4o",
    "temperature": 0.5,
    "max_tokens": 1024,
    "extra": {"tools": ["search"]},
    "created_by": "maria",
    "created_at": "2026-09-01T09:00:00Z",
    "updated_at": "2026-09-02T09:00:00Z",
    "revision": 3,
    "last_version_number": 2,
    "content_hash": "0" * 32,
}


def version(number: int, agent_id: str = "agt-1", **changes: Any) -> dict[str, Any]:
    return {
        "id": f"ver-{agent_id}-{number}",
        "agent_id": agent_id,
        "version_number": number,
        "config_snapshot": '{"model_id": "gpt-4o", "name": "Support Agent"}',
        "changelog": f"step {number}",
        "created_by": "maria",
        "created_at": f"2026-09-0{number}T10:00:00Z",
        "content_hash": None,
        **changes,
    }


def event(action: str = "agent.create", agent_id: str = "agt-1") -> dict[str, Any]:
    return {"id": 7, "at": "2026-09-01T09:00:00Z", "actor": "maria", "action": action,
            "agent_id": agent_id, "version_id": None, "detail": '{"name": "Support Agent"}'}  # fmt: skip


def export_text(versions: int = 2) -> str:
    out = io.StringIO()
    writer = ExportWriter(out.write)
    writer.header()
    writer.agent(AGENT)
    for number in range(1, versions + 1):
        writer.version(version(number))
    writer.audit(event())
    writer.end()
    return out.getvalue()


def records(text: str) -> list[tuple[str, int, dict[str, Any]]]:
    return [(record.kind, record.line, record.fields) for record in read_export(io.StringIO(text), "team.jsonl")]


def refused(text: str) -> str:
    with pytest.raises(InvalidExportFile) as raised:
        records(text)
    assert raised.value.code == "invalid_export_file"
    message = str(raised.value)
    assert message.startswith("team.jsonl") and message.endswith("Nothing was imported.")
    return message


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def joined(*objects: dict[str, Any]) -> str:
    return "".join(encode(item) for item in objects)


# -- writing --------------------------------------------------------------------------


def test_an_export_is_a_header_the_agent_its_versions_its_events_and_an_end_with_the_counts():
    text = export_text()
    kinds = [line["kind"] for line in lines(text)]
    assert kinds == ["header", "agent", "version", "version", "audit", "end"]
    # Version 1: the file holds no kind a later version brought (a kaizen-tui before them reads it).
    assert lines(text)[0] == {"kind": "header", "format": "kaizen-tui-export", "format_version": 1}
    assert lines(text)[-1] == {"kind": "end", "agents": 1, "versions": 2, "audit_events": 1}
    audit = lines(text)[4]
    assert "id" not in audit  # the database-local id stays home
    assert audit["detail"] == '{"name": "Support Agent"}'  # the stored text, as it is


def test_lines_have_sorted_keys_raw_unicode_and_end_with_a_newline_each():
    text = export_text()
    assert text.endswith("\n") and "\r" not in text
    assert "Sé amable" in text  # not \u00e9: diffable, as the person wrote it
    assert "\\n" in text.splitlines()[1]  # a newline inside a value is escaped: one record, one line
    for line in text.splitlines():
        keys = list(json.loads(line))
        assert keys == sorted(keys)
    assert export_text() == text  # the same records, the same bytes


# -- reading --------------------------------------------------------------------------


def test_what_is_written_reads_back_with_line_numbers():
    read = records(export_text())
    assert [(kind, line) for kind, line, _ in read] == [("agent", 2), ("version", 3), ("version", 4), ("audit", 5)]
    agent = read[0][2]
    assert agent["extra"] == {"tools": ["search"]} and agent["last_version_number"] == 2
    assert read[1][2]["config_snapshot"] == version(1)["config_snapshot"]


def test_unknown_keys_are_ignored_and_optional_ones_may_be_missing():
    text = joined(
        {"kind": "header", "format": "kaizen-tui-export", "format_version": 1, "written_by": "a later tool"},
        {**AGENT, "kind": "agent", "colour": "blue"},
        {key: value for key, value in version(1, kind="version").items() if key != "content_hash"},
        {"kind": "end", "agents": 1, "versions": 1, "audit_events": 0},
    )
    read = records(text)
    assert "colour" not in read[0][2]
    assert read[1][2]["content_hash"] is None


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "name,model\nSupport,gpt-4\n", '{"name": "Support Agent"}\n', '["kaizen-tui-export"]\n'],
    ids=["empty", "blank", "csv", "another json", "a list"],
)
def test_a_file_that_is_not_an_export_gets_one_sentence(text):
    message = refused(text)
    assert "not a kaizen-tui export" in message
    assert message.count(".") <= 3  # one sentence, and its "Nothing was imported."


def test_another_format_in_the_header_is_refused():
    message = refused(joined({"kind": "header", "format": "other-tool", "format_version": 1}))
    assert "line 1" in message and "'other-tool'" in message


@pytest.mark.parametrize("keep", [1, 3, 5])
def test_a_file_cut_short_is_refused(keep):
    text = export_text()
    message = refused("".join(text.splitlines(keepends=True)[:keep]))
    assert "cut short" in message


def test_a_last_line_cut_in_the_middle_is_refused_as_cut_short():
    text = export_text()
    message = refused(text[: text.rindex("{") + 10])  # the end record, half written
    assert "line 6" in message and "cut short" in message


def test_counts_that_differ_from_the_records_are_refused():
    text = export_text().replace('"versions": 2', '"versions": 3')
    message = refused(text)
    assert "line 6" in message and "counts 3 versions but the file holds 2" in message


def test_records_after_the_end_and_a_second_header_are_refused():
    text = export_text()
    assert "after the end record" in refused(text + encode(version(3)))
    assert "second header" in refused(
        text.replace(encode({"kind": "end", "agents": 1, "versions": 2, "audit_events": 1}), "") + text
    )


def test_an_unknown_kind_is_refused_saying_whether_a_newer_kaizen_tui_wrote_it():
    tag = {"kind": "tag", "agent_id": "agt-1", "name": "production"}
    body = joined({**AGENT, "kind": "agent"}, tag, {"kind": "end", "agents": 1, "versions": 0, "audit_events": 0})
    same = refused(encode({"kind": "header", "format": "kaizen-tui-export", "format_version": 1}) + body)
    assert "line 3" in same and "unknown kind 'tag'" in same
    newer = refused(
        encode({"kind": "header", "format": "kaizen-tui-export", "format_version": FORMAT_VERSION + 1}) + body
    )
    assert f"format version {FORMAT_VERSION + 1}" in newer and "upgrade kaizen-tui" in newer


def test_a_newer_format_whose_kinds_are_all_known_is_read():
    text = export_text().replace('"format_version": 1', f'"format_version": {FORMAT_VERSION + 1}')
    assert len(records(text)) == 4


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"version_number": "3"}, "'version_number' must be a whole number from 1 to 2,147,483,647"),
        ({"version_number": 0}, "'version_number' must be a whole number from 1 to 2,147,483,647"),
        # PostgreSQL keeps version numbers as INTEGER: a file that says more could not move there.
        ({"version_number": 2**31}, "'version_number' must be a whole number from 1 to 2,147,483,647"),
        ({"version_number": 2**63}, "'version_number' must be a whole number from 1 to 2,147,483,647"),
        ({"version_number": True}, "'version_number' must be a whole number"),
        ({"config_snapshot": {"name": "x"}}, "'config_snapshot' must be text"),
        ({"changelog": 5}, "'changelog' must be text or null"),
        ({"created_by": None}, "'created_by' must be text"),
        ({"config_snapshot": "\ud800"}, "not valid Unicode"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_line_and_key(bad, says):
    text = joined(
        {"kind": "header", "format": "kaizen-tui-export", "format_version": 1},
        {**AGENT, "kind": "agent"},
        {**version(1), **bad, "kind": "version"},
        {"kind": "end", "agents": 1, "versions": 1, "audit_events": 0},
    )
    # A lone surrogate reaches a file only as the escape JSON spells it with (UTF-8 cannot hold it).
    message = refused(text.replace("\ud800", "\\ud800"))
    assert "line 3" in message and says in message


def test_a_number_longer_than_python_reads_is_refused_naming_its_line():
    text = export_text().replace('"revision": 3', '"revision": ' + "9" * 4400)
    message = refused(text)
    assert "line 2: a number of 4,400 digits (at most 4,300 are read)" in message
    assert "set_int_max_str_digits" not in message


def test_a_missing_key_is_refused():
    agent = {key: value for key, value in AGENT.items() if key != "created_at"}
    text = joined({"kind": "header", "format": "kaizen-tui-export", "format_version": 1}, {**agent, "kind": "agent"})
    assert "line 2: the agent record has no 'created_at'" in refused(text)


def test_an_agent_whose_live_config_is_invalid_is_refused_naming_the_field():
    text = export_text().replace('"temperature": 0.5', '"temperature": 7')
    message = refused(text)
    assert "line 2" in message and "agent agt-1: temperature" in message


@pytest.mark.parametrize(
    ("records_", "says"),
    [
        ([version(1)], "a version record before any agent record"),
        (
            [{**AGENT, "kind": "agent"}, version(1, agent_id="agt-2")],
            "a version record of agent agt-2 under agent agt-1",
        ),
        ([{**AGENT, "kind": "agent"}, event(agent_id="agt-2")], "an audit record of agent agt-2 under agent agt-1"),
        ([{**AGENT, "kind": "agent"}, version(2), version(1)], "v1 of agent agt-1 comes after v2"),
        ([{**AGENT, "kind": "agent"}, version(1), version(1)], "comes after v1"),
        ([{**AGENT, "kind": "agent"}, version(1), {**AGENT, "kind": "agent"}], "agent agt-1 comes a second time"),
        (
            [
                {**AGENT, "kind": "agent"},
                version(1),
                {**AGENT, "id": "agt-2", "kind": "agent"},
                version(1, agent_id="agt-2", id="ver-agt-1-1"),
            ],
            "version ver-agt-1-1 comes a second time",
        ),
    ],
)
def test_records_out_of_place_are_refused(records_, says):
    kinds = {"version": "version", "audit": "audit"}
    objects = []
    for item in records_:
        if "kind" not in item:
            item = {**item, "kind": kinds["audit" if "actor" in item else "version"]}
        objects.append(item)
    text = joined({"kind": "header", "format": "kaizen-tui-export", "format_version": 1}, *objects)
    assert says in refused(text)


def test_text_that_is_not_utf8_is_refused():
    raw = export_text().encode("utf-8") + b"\xff\xfe\n"
    with pytest.raises(InvalidExportFile) as raised:
        records_of = read_export(io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8"), "team.jsonl")
        list(records_of)
    assert "not UTF-8" in str(raised.value)


def test_a_file_says_the_lowest_format_version_that_has_its_kinds_and_database_events_are_read_and_counted():
    out = io.StringIO()
    writer = ExportWriter(out.write)
    writer.header(("database_audit",))
    writer.agent(AGENT)
    writer.protected_label({"label": "production", "protected_by": "maria", "protected_at": "2026-09-03T00:00:00Z"})
    writer.database_audit({**event("label.protect", agent_id=None), "detail": '{"label": "production"}'})
    writer.database_audit(event("agent.delete", agent_id="agt-gone"))  # an agent deleted since
    writer.end()
    text = out.getvalue()
    assert lines(text)[0]["format_version"] == 2 == FORMAT_VERSION
    assert lines(text)[-1] == {
        "kind": "end", "agents": 1, "versions": 0, "audit_events": 0, "protected_labels": 1, "database_audit_events": 2
    }  # fmt: skip
    kinds = [kind for kind, _line, _fields in records(text)]
    assert kinds == ["agent", "protected_label", "database_audit", "database_audit"]
    assert "id" not in lines(text)[3]  # the database-local id stays home
    assert "counts 2 database audit events but the file holds 1" in refused(text.replace(lines_of(text)[4], ""))


def lines_of(text: str) -> list[str]:
    return text.splitlines(keepends=True)


@pytest.mark.parametrize("kind", ["label", "label_event", "protected_label"])
def test_a_label_name_no_label_may_have_is_refused_naming_the_line(kind):
    out = io.StringIO()
    writer = ExportWriter(out.write)
    writer.header()
    writer.agent(AGENT)
    row = {
        "agent_id": "agt-1", "label": "Prod uction", "version_id": "ver-agt-1-1", "updated_by": "maria",
        "updated_at": "2026-09-03T00:00:00Z", "at": "2026-09-03T00:00:00Z", "actor": "maria",
        "from_version_id": None, "from_version_number": None, "to_version_id": None, "to_version_number": None,
        "reason": "", "protected_by": "maria", "protected_at": "2026-09-03T00:00:00Z",
    }  # fmt: skip
    getattr(writer, kind)(row)
    writer.end()
    message = refused(out.getvalue())
    assert "line 3" in message and f"the {kind} record's label: 'Prod uction': use lower-case letters" in message
