"""Export, import and prune --archive, through the command line and the service.

Databases are named only as ``str(db_path)`` (SQLite or PostgreSQL); a second,
empty database is a SQLite file in the test's folder. Files the tests write
by hand are built with the format's own writer (``ExportWriter``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kaizen_tui.core.audit_text import event_summary
from kaizen_tui.core.errors import ImportConflict, KaizenError, LabelNotFound
from kaizen_tui.core.export_format import ExportWriter
from kaizen_tui.core.schema import content_hash, snapshot_json
from kaizen_tui.service import AgentService, agent_config
from tests.support import Clock, Runner, cli_runner, seed_small

#: Text that must come back byte for byte: accents, CJK, an emoji, CRLF, a tab, trailing spaces.
ODD_PROMPT = "Sé amable — 丁寧に 🙂\r\nKeep\tcolumns.  \n"


@pytest.fixture
def kz(capsys: pytest.CaptureFixture[str], db_path: Path) -> Runner:
    """``kaizen-tui --db <the test's database> ...``, in-process."""
    return cli_runner(capsys, db_path)


@pytest.fixture
def other_db(tmp_path: Path) -> Path:
    """A second, empty database (a SQLite file)."""
    return tmp_path / "other.db"


@pytest.fixture
def other(capsys: pytest.CaptureFixture[str], other_db: Path) -> Runner:
    """``kaizen-tui --db other.db ...``."""
    return cli_runner(capsys, other_db)


@pytest.fixture
def ids(service: AgentService) -> dict[str, Any]:
    """Support Agent (v1..v4, v4 with odd text) and Billing Bot (v1), with their audit events."""
    ids = seed_small(service)
    service.update(ids["support"], {"system_prompt": ODD_PROMPT, "extra": {"tools": ["search"], "top_p": 0.9}})
    v4 = service.create_version(ids["support"], "Odd text\r\nkept as it is")
    ids["support_versions"].append(v4["id"])
    return ids


def ok(result: Any) -> Any:
    assert result.code == 0, result.err
    return result


def as_json(result: Any) -> Any:
    return json.loads(ok(result).out)


def versions(kz: Runner, agent: str) -> list[dict[str, Any]]:
    """Every version as the spec returns it (newest first), from ``versions --json``."""
    keys = ("id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at")
    return [{key: entry[key] for key in keys} for entry in as_json(kz("versions", agent, "--json"))]


def audit_count(kz: Runner) -> int:
    return len(as_json(kz("log", "--limit", "100000", "--json")))


def exported(kz: Runner, *args: str) -> str:
    return ok(kz("export", *args)).out


def write_export(path: Path, agents: list[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]) -> Path:
    """An export written with the format's writer: (agent, its versions, its events) for each agent."""
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        writer = ExportWriter(handle.write)
        writer.header()
        for agent, agent_versions, events in agents:
            writer.agent(agent)
            for version in agent_versions:
                writer.version(version)
            for event in events:
                writer.audit(event)
        writer.end()
    return path


def made_agent(agent_id: str = "agt-made", name: str = "Made Agent", last: int = 0) -> dict[str, Any]:
    """An agent as an export of it says (as kaizen-tui would have written it)."""
    agent = {
        "id": agent_id, "name": name, "description": "", "agent_type": "chat", "status": "draft",
        "system_prompt": "Made by hand.", "model_id": "gpt-4o", "temperature": 0.7, "max_tokens": 0, "extra": {},
        "created_by": "maker", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "revision": 1, "last_version_number": last,
    }  # fmt: skip
    return {**agent, "content_hash": content_hash(agent_config(agent))}


def made_version(agent: dict[str, Any], number: int, snapshot: str | None = None) -> dict[str, Any]:
    """Version ``number`` of ``agent`` (``max_tokens`` = number), or one whose stored text is ``snapshot``."""
    config = {**agent_config(agent), "max_tokens": number}
    return {
        "id": f"ver-{agent['id']}-{number:06d}",
        "agent_id": agent["id"],
        "version_number": number,
        "config_snapshot": snapshot_json(config) if snapshot is None else snapshot,
        "changelog": f"step {number}",
        "created_by": "maker",
        "created_at": f"2026-01-01T{number // 3600 % 24:02d}:{number // 60 % 60:02d}:{number % 60:02d}Z",
        "content_hash": content_hash(config) if snapshot is None else None,
    }


# -- round trip ----------------------------------------------------------------------------


def test_export_import_into_an_empty_database_and_export_again_gives_the_same_bytes(kz, other, ids, tmp_path):
    first = tmp_path / "team.jsonl"
    result = as_json(kz("export", "-o", str(first), "--json"))
    assert result == {"file": str(first), "agents": 2, "versions": 5, "audit_events": result["audit_events"]}
    imported = as_json(other("import", str(first), "--json"))
    assert imported["agents_added"] == 2 and imported["versions_added"] == 5
    assert imported["audit_events_added"] == result["audit_events"]
    again = tmp_path / "again.jsonl"
    ok(other("export", "-o", str(again)))
    assert again.read_bytes() == first.read_bytes()
    assert exported(other) == first.read_text(encoding="utf-8")  # stdout gives the same bytes


def test_ids_numbers_snapshot_text_changelogs_authors_and_times_are_kept(kz, other, ids, tmp_path):
    file = tmp_path / "team.jsonl"
    ok(kz("export", "-o", str(file)))
    ok(other("import", str(file)))
    for agent in (ids["support"], ids["billing"]):
        assert versions(other, agent) == versions(kz, agent)
        mine, theirs = as_json(kz("show", agent, "--json")), as_json(other("show", agent, "--json"))
        assert theirs == mine  # the live config, revision, times, "saved" all as they were
    odd = versions(other, ids["support"])[0]
    assert ODD_PROMPT in json.loads(odd["config_snapshot"])["system_prompt"]
    assert odd["changelog"] == "Odd text\r\nkept as it is"
    # The version counter travels: the next snapshot is v5 in both.
    assert as_json(other("snapshot", ids["support"], "--json"))["version_number"] == 5


def test_importing_the_same_file_twice_changes_nothing(kz, other, ids, tmp_path):
    file = tmp_path / "team.jsonl"
    ok(kz("export", "-o", str(file)))
    ok(other("import", str(file)))
    before, events = exported(other), audit_count(other)
    second = as_json(other("import", str(file), "--json"))
    assert (second["agents_added"], second["versions_added"], second["audit_events_added"]) == (0, 0, 0)
    assert second["versions_already_there"] == 5
    assert audit_count(other) == events  # not even an import event
    assert exported(other) == before
    assert "Nothing to import" in ok(other("import", str(file))).out


def test_an_import_is_audited_once_per_agent_it_changed(kz, other, ids, tmp_path):
    file = tmp_path / "team.jsonl"
    ok(kz("export", "Billing Bot", "-o", str(file)))
    ok(other("--user", "dana", "import", str(file)))
    events = as_json(other("log", "Billing Bot", "--json"))
    assert events[0]["action"] == "import" and events[0]["actor"] == "dana"
    assert events[0]["detail"]["file"] == str(file) and events[0]["detail"]["versions_added"] == 1
    assert "imported the agent and 1 version from" in ok(other("log", "Billing Bot")).out
    # Import events stay in the database they describe: an export leaves them out.
    assert '"action": "import"' not in exported(other)


def test_export_of_named_agents_only(kz, ids):
    text = exported(kz, "Billing Bot", ids["billing"])  # the same agent twice: once
    kinds = [json.loads(line)["kind"] for line in text.splitlines()]
    assert kinds.count("agent") == 1 and kinds.count("version") == 1
    assert json.loads(text.splitlines()[-1]) == {"kind": "end", "agents": 1, "versions": 1, "audit_events": 3}


def test_api_tokens_are_never_exported(kz, ids, service):
    token = service.create_token("ci-bot", "write")
    text = exported(kz)
    # The token's audit event travels with every other event; the token, its secret and its hash never do.
    assert token["token"] not in text and "secret" not in text
    events = [json.loads(line) for line in text.splitlines() if '"kind": "database_audit"' in line]
    assert [(event["action"], json.loads(event["detail"])) for event in events] == [
        ("token.create", {"name": "ci-bot", "role": "write"})
    ]
    assert "ci-bot" not in text.replace(json.dumps(events[0]["detail"], ensure_ascii=False), "")


# -- refusals: nothing is written -----------------------------------------------------------


def test_a_file_that_contradicts_the_database_is_refused_and_nothing_is_written(kz, ids, tmp_path, capsys):
    file = tmp_path / "team.jsonl"
    ok(kz("export", "-o", str(file)))
    ok(kz("delete-version", "Billing Bot", "1", "--yes"))  # the import would restore it...
    text = file.read_text(encoding="utf-8")
    file.write_text(text.replace('"changelog": "Longer answers"', '"changelog": "Longer answers!"'), encoding="utf-8")
    before, events = exported(kz), audit_count(kz)
    result = kz("import", str(file), "--json")
    assert result.code == 1 and result.out == ""
    error = json.loads(result.err)["error"]
    v3 = ids["support_versions"][2]
    assert error["code"] == "import_conflict"
    assert f"Version {v3} in {file} line" in error["message"]
    assert "differs from the one in the database: changelog. Nothing was imported." in error["message"]
    assert exported(kz) == before and audit_count(kz) == events  # ...but nothing was written


def test_a_version_number_the_database_gives_another_version_is_refused(kz, ids, tmp_path):
    file = tmp_path / "team.jsonl"
    ok(kz("export", "Billing Bot", "-o", str(file)))
    ok(kz("delete-version", "Billing Bot", "1", "--yes"))
    ok(kz("snapshot", "Billing Bot"))  # v2 now: v1 is never reused, so make the clash by hand
    text = file.read_text(encoding="utf-8").replace('"version_number": 1', '"version_number": 2')
    file.write_text(text, encoding="utf-8")
    result = kz("import", str(file))
    assert result.code == 1
    assert "is v2 of agent" in result.err and "but the database has another v2" in result.err


def test_a_new_agent_with_a_version_id_another_agent_has_is_refused(kz, ids, tmp_path):
    agent = made_agent(last=2)
    taken = {**made_version(agent, 2), "id": ids["support_versions"][0]}  # Support Agent's v1
    file = write_export(tmp_path / "copy.jsonl", [(agent, [made_version(agent, 1), taken], [])])
    before = exported(kz)
    result = kz("import", str(file))
    assert result.code == 1
    assert f"Version {ids['support_versions'][0]} in {file} line 4 differs from the one in the database" in result.err
    assert exported(kz) == before


def test_a_new_agent_whose_name_another_agent_has_is_refused_naming_both(kz, ids, tmp_path):
    file = write_export(tmp_path / "clash.jsonl", [(made_agent(name="SUPPORT agent"), [], [])])
    result = kz("import", str(file))
    assert result.code == 1
    assert "agt-made ('SUPPORT agent')" in result.err and f"{ids['support']} ('Support Agent')" in result.err
    assert "line 2" in result.err
    assert len(as_json(kz("agents", "--json"))) == 2


def test_a_truncated_file_is_refused_and_nothing_is_written(kz, other, ids, tmp_path, other_db):
    file = tmp_path / "team.jsonl"
    ok(kz("export", "-o", str(file)))
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(file.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8")
    result = other("import", str(cut))
    assert result.code == 1
    assert "without its end record: the file is cut short" in result.err
    assert not other_db.exists(), "the new database the refused import made is removed again"


def test_a_file_that_is_not_an_export_gets_one_line(kz, ids, tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("remember to prune\n", encoding="utf-8")
    result = kz("import", str(file))
    assert result.code == 1
    assert (
        result.err
        == f"kaizen-tui: error: {file}: not a kaizen-tui export (its first line is not an export header). Nothing was imported.\n"
    )
    missing = kz("import", str(tmp_path / "nope.jsonl"), "--json")
    assert json.loads(missing.err)["error"]["code"] == "invalid_export_file"


# -- what travels -------------------------------------------------------------------------------


def test_a_damaged_snapshot_travels_as_it_is(kz, other, tmp_path):
    agent = made_agent(last=2)
    broken = '{"name": "Made Agent", "temperature": "warm"'  # not even JSON
    no_model = '{"name": "Made Agent"}'
    file = write_export(
        tmp_path / "damaged.jsonl",
        [(agent, [made_version(agent, 1, snapshot=broken), made_version(agent, 2, snapshot=no_model)], [])],
    )
    ok(kz("import", str(file)))
    listed = as_json(kz("versions", "agt-made", "--json"))
    assert [entry["config_snapshot"] for entry in listed] == [no_model, broken]
    assert all(entry["damaged"] for entry in listed)
    ok(kz("export", "-o", str(tmp_path / "again.jsonl")))
    again = (tmp_path / "again.jsonl").read_text(encoding="utf-8")
    assert again == file.read_text(encoding="utf-8")  # hashes null, text byte for byte


def test_importing_into_the_same_database_restores_deleted_versions(kz, ids, tmp_path):
    file = tmp_path / "team.jsonl"
    ok(kz("export", "-o", str(file)))
    before = versions(kz, "Support Agent")
    ok(kz("delete-version", "Support Agent", "2", "--yes"))
    ok(kz("delete-version", "Support Agent", "4", "--yes"))
    ok(kz("set", "Support Agent", "temperature=1.1"))  # the live config moved on: kept
    result = as_json(kz("import", str(file), "--json"))
    assert (result["agents_already_there"], result["versions_added"], result["versions_already_there"]) == (2, 2, 3)
    assert versions(kz, "Support Agent") == before
    assert as_json(kz("show", "Support Agent", "--json"))["temperature"] == 1.1
    # Numbers are never reused: the next one is still v5.
    assert as_json(kz("snapshot", "Support Agent", "--json"))["version_number"] == 5


def test_import_from_stdin(kz, other, ids, monkeypatch):
    text = exported(kz)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8")), encoding="latin-1"))
    result = as_json(other("import", "-", "--json"))
    assert result["file"] == "stdin" and result["versions_added"] == 5
    assert exported(other) == text  # read as UTF-8, whatever stdin's own encoding says


def test_export_to_a_file_is_whole_or_not_at_all(kz, ids, tmp_path):
    file = tmp_path / "team.jsonl"
    file.write_text("yesterday's export\n", encoding="utf-8")
    result = kz("export", "Nobody", "-o", str(file))
    assert result.code == 1 and "No agent 'Nobody'" in result.err
    assert file.read_text(encoding="utf-8") == "yesterday's export\n"
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []  # no temporary left
    missing = kz("export", "-o", str(tmp_path / "no-such-folder" / "x.jsonl"))
    assert missing.code == 1 and "Cannot write" in missing.err and "Nothing was exported." in missing.err
    ok(kz("export", "-o", str(file)))  # replaces it, whole
    assert file.read_text(encoding="utf-8").startswith('{"format": "kaizen-tui-export"')


def test_an_export_of_many_versions_is_read_in_pages_and_written_as_it_goes(service, tmp_path):
    agent = made_agent(last=2500)
    file = write_export(tmp_path / "big.jsonl", [(agent, [made_version(agent, n) for n in range(1, 2501)], [])])
    assert service.import_file(file)["versions_added"] == 2500
    log: list[str] = []
    reader = AgentService(store=RecordingStore(service.store, log), user="tester")
    out = io.StringIO()

    def write(line: str) -> None:
        log.append("write")
        out.write(line)

    counts = reader.export_agents(write)  # the store is the fixture's: it closes it
    assert counts == {"agents": 1, "versions": 2500, "audit_events": 0}  # import events stay home
    written = [line for line in out.getvalue().splitlines() if '"kind": "version"' in line]
    assert written == [line for line in file.read_text(encoding="utf-8").splitlines() if '"kind": "version"' in line]
    # Pages of versions, with the lines written between them: never every version read first.
    pages = [index for index, entry in enumerate(log) if entry == "versions_after"]
    assert len(pages) == 3
    assert log[pages[0] + 1 : pages[1]].count("write") == 1000
    assert log[pages[1] + 1 : pages[2]].count("write") == 1000


class RecordingStore:
    """A store that notes each page of versions read, in the same log as the lines written."""

    def __init__(self, store: Any, log: list[str]) -> None:
        self._store = store
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self._store.reading() as tx:
            yield RecordingTransaction(tx, self._log)


class RecordingTransaction:
    def __init__(self, tx: Any, log: list[str]) -> None:
        self._tx = tx
        self._log = log

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)

    def versions_after(self, agent_id: str, after: int, limit: int) -> list[dict[str, Any]]:
        self._log.append("versions_after")
        return self._tx.versions_after(agent_id, after, limit)


# -- prune --archive ----------------------------------------------------------------------------


def test_prune_archive_then_import_back_restores_the_pruned_versions(kz, ids, tmp_path):
    archive = tmp_path / "old-support.jsonl"
    before = versions(kz, "Support Agent")
    result = as_json(kz("prune", "Support Agent", "--keep", "1", "--archive", str(archive), "--yes", "--json"))
    assert result["deleted"] == 3
    assert result["archive"] == {"file": str(archive), "versions": 3, "audit_events": 3}
    assert [entry["version_number"] for entry in versions(kz, "Support Agent")] == [4]
    records = [json.loads(line) for line in archive.read_text(encoding="utf-8").splitlines()]
    assert [record["kind"] for record in records] == ["header", "agent", "version", "version", "version",
                                                      "audit", "audit", "audit", "end"]  # fmt: skip
    assert {record["action"] for record in records if record["kind"] == "audit"} == {"version.create"}
    prune_event = as_json(kz("log", "Support Agent", "--limit", "1", "--json"))[0]
    assert prune_event["detail"]["archive"] == str(archive)
    restored = as_json(kz("import", str(archive), "--json"))
    assert (restored["versions_added"], restored["audit_events_added"]) == (3, 0)
    assert versions(kz, "Support Agent") == before  # with their numbers: v1-v3 were never reused


def test_a_prune_archive_imports_into_an_empty_database(kz, other, ids, tmp_path):
    archive = tmp_path / "old.jsonl"
    ok(kz("prune", "Support Agent", "--keep", "2", "--archive", str(archive), "--yes"))
    out = ok(other("import", str(archive))).out
    assert "1 agent added" in out and "2 versions added" in out
    assert [entry["version_number"] for entry in versions(other, "Support Agent")] == [2, 1]
    # Its counter is the agent's: the next version there is v5, after the v4 the archive did not carry.
    assert as_json(other("snapshot", "Support Agent", "--json"))["version_number"] == 5


def test_prune_says_where_it_archived(kz, ids, tmp_path):
    archive = tmp_path / "old.jsonl"
    out = ok(kz("prune", "Support Agent", "--keep", "3", "--archive", str(archive), "--yes")).out
    assert f"Archived them first to {archive} (1 version)." in out


def test_an_archive_never_replaces_a_file_unless_asked(kz, ids, tmp_path):
    archive = tmp_path / "old.jsonl"
    archive.write_text("precious\n", encoding="utf-8")
    result = kz("prune", "Support Agent", "--keep", "1", "--archive", str(archive), "--yes")
    assert result.code == 1
    assert f"{archive} exists already" in result.err and "Nothing was deleted. (--overwrite replaces it)" in result.err
    assert archive.read_text(encoding="utf-8") == "precious\n"
    assert len(versions(kz, "Support Agent")) == 4
    ok(kz("prune", "Support Agent", "--keep", "1", "--archive", str(archive), "--overwrite", "--yes"))
    assert archive.read_text(encoding="utf-8").startswith('{"format": "kaizen-tui-export"')
    assert len(versions(kz, "Support Agent")) == 1


def test_an_archive_that_cannot_be_written_deletes_nothing(kz, ids, tmp_path, service):
    events = audit_count(kz)
    missing = tmp_path / "no-such-folder" / "old.jsonl"
    result = kz("prune", "Support Agent", "--keep", "1", "--archive", str(missing), "--yes", "--json")
    assert result.code == 1
    error = json.loads(result.err)["error"]
    assert error["code"] == "file_not_written" and "Nothing was deleted." in error["message"]
    assert len(versions(kz, "Support Agent")) == 4 and audit_count(kz) == events
    # The service checks again when it writes (a face may skip the early check).
    with pytest.raises(Exception) as raised:
        service.prune(ids["support"], 1, archive=missing)
    assert getattr(raised.value, "code", None) == "file_not_written"
    assert len(service.get_versions(ids["support"])) == 4


def test_a_failed_archive_write_midway_deletes_nothing_and_leaves_no_file(kz, ids, tmp_path, service, monkeypatch):
    from kaizen_tui.core import export_format

    archive = tmp_path / "old.jsonl"
    written: list[str] = []
    original = export_format.ExportWriter.version

    def failing(self: Any, row: dict[str, Any]) -> None:
        written.append(row["id"])
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        original(self, row)

    monkeypatch.setattr(export_format.ExportWriter, "version", failing)
    with pytest.raises(Exception) as raised:
        service.prune(ids["support"], 1, archive=archive)
    assert getattr(raised.value, "code", None) == "file_not_written"
    assert "No space left on device" in str(raised.value)
    assert not archive.exists() and list(tmp_path.glob(".old.jsonl.*")) == []
    assert len(service.get_versions(ids["support"])) == 4


def test_prune_archive_with_nothing_to_prune_writes_no_file(kz, ids, tmp_path):
    archive = tmp_path / "old.jsonl"
    out = ok(kz("prune", "Billing Bot", "--keep", "5", "--archive", str(archive), "--yes")).out
    assert "no archive written" in out and not archive.exists()
    assert as_json(kz("prune", "Billing Bot", "--keep", "5", "--archive", str(archive), "--json"))["archive"] is None


def test_overwrite_without_archive_is_a_usage_error(kz, ids):
    result = kz("prune", "Support Agent", "--keep", "1", "--overwrite", "--yes")
    assert result.code == 2 and "--overwrite is for the --archive FILE" in result.err


# -- labels and their ledger --------------------------------------------------------


def test_labels_their_ledger_and_protected_names_travel_and_import_twice_changes_nothing(
    service: AgentService, tmp_path: Path
) -> None:
    agent = service.create_agent({"name": "Labelled", "model_id": "m"})
    service.create_version(agent["id"], "one")
    service.update(agent["id"], {"temperature": 0.2})
    service.create_version(agent["id"], "two")
    service.set_label(agent["id"], "production", 1, reason="launch")
    service.set_label(agent["id"], "production", 2, expected=1, reason="[bold]better[/bold]")
    service.set_label(agent["id"], "staging", 2)
    service.protect_label("production")
    exported = tmp_path / "team.jsonl"
    counts = service.export_file(exported)
    assert (counts["labels"], counts["label_events"], counts["protected_labels"]) == (2, 3, 1)

    other = AgentService(str(tmp_path / "other.db"), user="tester")
    try:
        report = other.import_file(exported)
        assert (report["labels_added"], report["label_events_added"], report["protected_labels_added"]) == (2, 3, 1)
        assert [(row["label"], row["version_number"]) for row in other.list_labels("Labelled")] == [
            ("production", 2),
            ("staging", 2),
        ]
        assert [entry["reason"] for entry in other.label_history("Labelled")] == [
            "",
            "[bold]better[/bold]",
            "launch",
        ]
        assert [row["label"] for row in other.protected_labels()] == ["production"]
        again = other.import_file(exported)
        assert (again["labels_added"], again["label_events_added"], again["protected_labels_added"]) == (0, 0, 0)
        assert len(other.label_history("Labelled")) == 3
        second = tmp_path / "second.jsonl"
        other.export_file(second)
        assert second.read_bytes() == exported.read_bytes()
    finally:
        other.close()


def test_a_label_naming_a_version_the_agent_lacks_is_refused(service: AgentService, tmp_path: Path) -> None:
    agent = service.create_agent({"name": "Labelled", "model_id": "m"})
    version = service.create_version(agent["id"], "one")
    service.set_label(agent["id"], "production", 1)
    exported = tmp_path / "team.jsonl"
    service.export_file(exported)
    text = exported.read_text().replace(f'"version_id": "{version["id"]}", "kind"', '"version_id": "ver-nope", "kind"')
    # Only the label's line names ver-nope (a version record's key order differs).
    broken = tmp_path / "broken.jsonl"
    broken.write_text(
        text.replace(
            f'"updated_by": "tester", "version_id": "{version["id"]}"',
            '"updated_by": "tester", "version_id": "ver-nope"',
        )
    )
    other = AgentService(str(tmp_path / "other.db"), user="tester")
    try:
        with pytest.raises(KaizenError, match="ver-nope"):
            other.import_file(broken)
        assert other.list_agents() == []
    finally:
        other.close()


def test_a_ledger_entry_that_would_point_a_label_at_a_version_the_agent_lacks_is_refused(
    service: AgentService, tmp_path: Path
) -> None:
    agent = made_agent(last=1)
    file = tmp_path / "made.jsonl"
    with file.open("w", encoding="utf-8") as handle:
        writer = ExportWriter(handle.write)
        writer.header()
        writer.agent(agent)
        writer.version(made_version(agent, 1))
        entry = {
            "at": "2026-01-01T00:00:09Z", "actor": "maker", "agent_id": agent["id"], "label": "staging",
            "from_version_id": None, "from_version_number": None, "to_version_id": "ver-nope",
            "to_version_number": 7, "reason": "",
        }  # fmt: skip
        writer.label_event(entry)
        writer.end()
    with pytest.raises(ImportConflict, match=r"'staging' in .*made.jsonl line 4 names version ver-nope"):
        service.import_file(file)
    assert service.list_agents() == []


# -- an import never undoes a later decision: labels and protection follow the merged ledger ----------


class Backwards:
    """A service clock that goes back a minute per call: every decision looks older than the one before."""

    def __init__(self) -> None:
        self.minutes = 24 * 60

    def __call__(self) -> str:
        self.minutes -= 1
        return "2026-11-01T{:02d}:{:02d}:00Z".format(*divmod(self.minutes, 60))


class Frozen:
    """A service clock that never moves: every decision in the same second."""

    def __call__(self) -> str:
        return "2026-11-01T00:00:00Z"


#: The counts of an import's report about labels and protected names, all 0.
LABEL_COUNTS = ("labels_added", "labels_moved", "labels_removed", "label_events_added")
NO_LABEL_CHANGE = dict.fromkeys((*LABEL_COUNTS, "protected_labels_added", "protected_labels_removed"), 0)


def label_counts(report: dict[str, Any]) -> dict[str, int]:
    return {key: report[key] for key in NO_LABEL_CHANGE}


def two_versions(service: AgentService, name: str = "Labelled") -> dict[str, Any]:
    """An agent with v1 (temperature 0.1) and v2 (0.2)."""
    agent = service.create_agent({"name": name, "model_id": "m", "temperature": 0.1})
    service.create_version(agent["id"], "one")
    service.update(agent["id"], {"temperature": 0.2})
    service.create_version(agent["id"], "two")
    return agent


def labels_of(service: AgentService, agent: str = "Labelled") -> list[tuple[str, int]]:
    return [(row["label"], row["version_number"]) for row in service.list_labels(agent)]


def protected_names(service: AgentService) -> list[str]:
    return [row["label"] for row in service.protected_labels()]


def ledger_of(service: AgentService, agent: str = "Labelled") -> list[tuple[Any, ...]]:
    """The ledger, newest first, without the database's own ids."""
    keys = ("at", "actor", "label", "action", "from_version", "to_version", "reason")
    return [tuple(entry[key] for key in keys) for entry in service.label_history(agent)]


@pytest.mark.parametrize("clock", [Clock, Backwards, Frozen])
def test_an_import_never_undoes_what_was_decided_after_its_file_was_made(
    service: AgentService, tmp_path: Path, clock: type
) -> None:
    """The database recorded the file's decisions and decided again since: it keeps its own, whatever the clocks say."""
    service.clock = clock()
    two_versions(service)
    for label in ("staging", "production", "canary"):
        service.set_label("Labelled", label, 1)
    service.protect_label("production")
    file = tmp_path / "before.jsonl"
    service.export_file(file)
    service.remove_label("Labelled", "staging")
    service.set_label("Labelled", "production", 2, allow_protected=True)
    service.unprotect_label("production")
    ledger, events = service.label_history("Labelled"), service.audit_log(None, 1000)

    report = service.import_file(file)
    assert label_counts(report) == NO_LABEL_CHANGE
    assert (report["versions_added"], report["audit_events_added"]) == (0, 0)
    assert labels_of(service) == [("canary", 1), ("production", 2)]
    assert protected_names(service) == []
    with pytest.raises(LabelNotFound):
        service.resolve_config("Labelled", label="staging")
    assert service.label_history("Labelled") == ledger
    assert service.audit_log(None, 1000) == events  # not even an import event


def test_decisions_the_file_has_and_the_database_lacks_are_followed(service: AgentService, tmp_path: Path) -> None:
    service.clock = Clock()
    two_versions(service)
    for label in ("staging", "canary"):
        service.set_label("Labelled", label, 1)
    service.protect_label("production")
    first = tmp_path / "first.jsonl"
    service.export_file(first)
    other = AgentService(str(tmp_path / "other.db"), user="tester")
    try:
        other.import_file(first)
        service.set_label("Labelled", "staging", 2, reason="better")
        service.remove_label("Labelled", "canary")
        service.set_label("Labelled", "beta", 2)
        service.unprotect_label("production")
        service.protect_label("staging")
        later = tmp_path / "later.jsonl"
        service.export_file(later)

        report = other.import_file(later)
        assert label_counts(report) == {
            **NO_LABEL_CHANGE,
            "labels_added": 1,
            "labels_moved": 1,
            "labels_removed": 1,
            "label_events_added": 3,
            "protected_labels_added": 1,
            "protected_labels_removed": 1,
        }
        assert report["agents"][0]["label_changes"] == [
            {"label": "staging", "from_version": 1, "to_version": 2},
            {"label": "canary", "from_version": 1, "to_version": None},
            {"label": "beta", "from_version": None, "to_version": 2},
        ]
        assert labels_of(other) == labels_of(service) == [("beta", 2), ("staging", 2)]
        assert protected_names(other) == ["staging"]
        assert other.resolve_config("Labelled", label="staging")["version_number"] == 2
        assert ledger_of(other) == ledger_of(service)
        # The two databases now say the same, down to the byte.
        mirror = tmp_path / "mirror.jsonl"
        other.export_file(mirror)
        assert mirror.read_bytes() == later.read_bytes()
        summary = [event for event in other.audit_trail() if event["action"] == "import"][:2]
        assert [event_summary(event) for event in summary] == [
            f"imported from {later}: 2 audit events added, 1 protected label name added, "
            "1 protected label name removed",
            f"imported 0 versions from {later}; 1 label added, 1 label moved, 1 label removed, 3 ledger entries added",
        ]
    finally:
        other.close()


def test_two_databases_that_decided_apart_follow_the_newer_decision_either_way(
    service: AgentService, tmp_path: Path
) -> None:
    """Each database appends the other's entries; the ledger orders them by time, and the label follows its newest."""
    service.clock = Clock()
    two_versions(service)
    service.set_label("Labelled", "staging", 1)
    common = tmp_path / "common.jsonl"
    service.export_file(common)
    other = AgentService(str(tmp_path / "other.db"), user="bob")
    other.clock = Clock()
    other.clock.hour = 100  # bob decides later
    try:
        other.import_file(common)
        service.set_label("Labelled", "staging", 2, reason="alice: v2")
        other.remove_label("Labelled", "staging", reason="bob: stop")
        ours, theirs = tmp_path / "ours.jsonl", tmp_path / "theirs.jsonl"
        service.export_file(ours)
        other.export_file(theirs)

        # Into bob's database: his removal is newer, it stands; alice's move takes its place in time.
        report = other.import_file(ours)
        assert label_counts(report) == {**NO_LABEL_CHANGE, "label_events_added": 1}
        assert labels_of(other) == []
        history = other.label_history("Labelled")
        assert [(entry["action"], entry["reason"]) for entry in history] == [
            ("remove", "bob: stop"),
            ("move", "alice: v2"),
            ("set", ""),
        ]
        # Paging goes by the same order: before the removal come the move, then the set.
        page = other.label_history("Labelled", limit=1, before=history[0]["id"])
        assert [entry["reason"] for entry in page] == ["alice: v2"]

        # Into alice's database: bob's removal is newer, it is followed.
        report = service.import_file(theirs)
        assert label_counts(report) == {**NO_LABEL_CHANGE, "labels_removed": 1, "label_events_added": 1}
        assert labels_of(service) == []
        assert ledger_of(service) == ledger_of(other)
    finally:
        other.close()


def test_at_the_same_second_the_files_decision_is_the_newer_and_one_round_trip_agrees(
    service: AgentService, tmp_path: Path
) -> None:
    """Decisions of two databases in one second: the file's entry is recorded after the database's, so it is the newest."""
    service.clock = Frozen()
    two_versions(service)
    service.set_label("Labelled", "staging", 1)
    common = tmp_path / "common.jsonl"
    service.export_file(common)
    other = AgentService(str(tmp_path / "other.db"), user="bob")
    other.clock = Frozen()
    try:
        other.import_file(common)
        service.set_label("Labelled", "staging", 2)
        other.remove_label("Labelled", "staging")
        ours = tmp_path / "ours.jsonl"
        service.export_file(ours)
        report = other.import_file(ours)
        assert report["labels_added"] == 1
        assert labels_of(other) == [("staging", 2)]
        assert other.label_history("Labelled")[0]["action"] == "move"  # the newest entry is the one followed
        back = tmp_path / "back.jsonl"
        other.export_file(back)
        assert label_counts(service.import_file(back)) == {**NO_LABEL_CHANGE, "label_events_added": 1}
        assert labels_of(service) == labels_of(other) == [("staging", 2)]
    finally:
        other.close()


def test_an_import_into_an_empty_database_reproduces_labels_protection_and_every_audit_event(
    service: AgentService, tmp_path: Path
) -> None:
    service.clock = Clock()
    agent = two_versions(service)
    v1 = service.get_versions(agent["id"])[-1]
    service.set_label("Labelled", "staging", 1)
    service.set_label("Labelled", "staging", 2)
    service.delete_version(v1["id"])  # the ledger still names it; the file does not carry it
    service.set_label("Labelled", "canary", 2)
    service.remove_label("Labelled", "canary")
    for name in ("production", "staging", "canary"):
        service.protect_label(name)
    service.unprotect_label("staging")
    service.unprotect_label("canary")
    service.protect_label("canary")
    gone = service.create_agent({"name": "Gone", "model_id": "m"})
    service.update(gone["id"], {"status": "archived"})
    service.delete_agent(gone["id"])
    service.create_token("ci-bot", "read")
    file = tmp_path / "all.jsonl"
    counts = service.export_file(file)
    assert counts["database_audit_events"] == 10  # 6 of protection, 1 of the token, 3 of the deleted agent
    assert json.loads(file.read_text().splitlines()[0])["format_version"] == 2

    other = AgentService(str(tmp_path / "other.db"), user="tester")
    try:
        report = other.import_file(file)
        assert report["labels_added"] == 1 and report["protected_labels_added"] == 2
        assert labels_of(other) == labels_of(service) == [("staging", 2)]
        assert other.protected_labels() == service.protected_labels()
        assert ledger_of(other) == ledger_of(service)

        def events(log: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
            keys = ("at", "actor", "action", "agent_id", "version_id", "detail")
            return sorted(
                (tuple(json.dumps(event[key], sort_keys=True) for key in keys) for event in log),
                key=str,
            )

        theirs = [event for event in other.audit_log(None, 1000) if event["action"] != "import"]
        assert events(theirs) == events(service.audit_log(None, 1000))
        again = tmp_path / "again.jsonl"
        other.export_file(again)
        assert again.read_bytes() == file.read_bytes()
        twice = other.import_file(file)
        assert label_counts(twice) == NO_LABEL_CHANGE and twice["audit_events_added"] == 0
    finally:
        other.close()


def test_a_file_without_protection_events_protects_only_what_the_database_did_not_unprotect_since(
    service: AgentService, tmp_path: Path
) -> None:
    """Files written before protection events travelled hold protected names only: each is a decision at its time."""
    service.clock = Clock()  # 2026-11-01
    service.protect_label("production")
    service.unprotect_label("production")

    def old_file(name: str, at: str) -> Path:
        path = tmp_path / name
        with path.open("w", encoding="utf-8") as handle:
            writer = ExportWriter(handle.write)
            writer.header()
            for label in ("production", "staging"):
                writer.protected_label({"label": label, "protected_by": "maker", "protected_at": at})
            writer.end()
        return path

    report = service.import_file(old_file("october.jsonl", "2026-10-01T00:00:00Z"))
    assert (report["protected_labels_added"], report["protected_labels_removed"]) == (1, 0)
    assert protected_names(service) == ["staging"]
    report = service.import_file(old_file("december.jsonl", "2026-12-01T00:00:00Z"))
    assert (report["protected_labels_added"], report["protected_labels_removed"]) == (1, 0)
    assert protected_names(service) == ["production", "staging"]


def test_import_says_what_it_did_to_labels_in_text_as_in_json(kz, ids, tmp_path, capsys):
    """Two copies of one database import the same later file: one says it in words, the other in JSON."""
    ok(kz("label", "set", "Support Agent", "staging", "1", "--yes"))
    first, later = tmp_path / "first.jsonl", tmp_path / "later.jsonl"
    ok(kz("export", "-o", str(first)))
    copies = [cli_runner(capsys, tmp_path / f"copy{number}.db") for number in (1, 2)]
    for copy in copies:
        ok(copy("import", str(first)))
    ok(kz("label", "remove", "Support Agent", "staging", "--yes"))
    assert (
        "Exported 2 agents, 5 versions, 13 audit events and 2 ledger entries to"
        in ok(kz("export", "-o", str(later))).out
    )
    # The database that removed the label keeps it removed: there is nothing to import.
    assert "Nothing to import" in ok(kz("import", str(first))).out
    assert "has no labels" in ok(kz("label", "list", "Support Agent")).out

    text = ok(copies[0]("import", str(later))).out
    counts = as_json(copies[1]("import", str(later), "--json"))
    assert (counts["labels_removed"], counts["label_events_added"], counts["audit_events_added"]) == (1, 1, 1)
    assert "Nothing to import" not in text
    assert "1 audit event added (12 already there), 1 label removed, 1 ledger entry added." in text
    assert f"Support Agent ({ids['support']}): staging removed (was v1)" in text
    for copy in copies:
        assert "has no labels" in ok(copy("label", "list", "Support Agent")).out
    assert "1 label removed, 1 ledger entry added" in ok(copies[0]("log", "Support Agent")).out
