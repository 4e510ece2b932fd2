"""Export, import, and the archive a prune writes: agents with their history, from one database to another.

The file format is :mod:`kaizen_tui.core.export_format` (``docs/export-format.md``);
this module decides what goes into a file and what a file does to a database:

* An export reads in one transaction (one consistent picture while others
  write), in pages, writing each line as it goes: memory stays flat for any
  number of versions. ``import`` audit events are this database's own
  bookkeeping (like the events' local ids) and are not exported, so an
  export imported into an empty database exports again byte for byte.
* An import runs in one write transaction and writes in batches. An agent
  already there keeps its live config (it may have moved on since the
  export: that is no contradiction) and gets the versions it lacks; a
  version already there must be the same in every field, else the import is
  refused and nothing is written. Audit events already there are skipped.
  Each agent the import changed gets one ``import`` audit event, so
  importing a file twice changes nothing the second time.
* A prune's archive holds exactly the versions it deletes, with the agent and
  the audit events about those versions, written in the prune's transaction
  and renamed into place before anything is deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kaizen_tui.core.errors import (
    ArchiveExists,
    DamagedSnapshot,
    FileNotWritten,
    ImportConflict,
    InvalidExportFile,
    NameTaken,
)
from kaizen_tui.core.export_format import LABEL_EVENT_KEYS, ExportWriter, Record, read_export
from kaizen_tui.core.names import name_key
from kaizen_tui.core.schema import CONFIG_FIELDS, content_hash, parse_snapshot, text_hash
from kaizen_tui.service.threads import WorkerThreads, in_thread
from kaizen_tui.store import Store, Transaction

#: Versions (and audit events) read per query while exporting, and written per batch while importing.
PAGE = 1000
#: More ledger entries than any agent has: an agent's ledger is read whole.
LEDGER_LIMIT = 2**31 - 1
#: The audit action of an import; such events stay in the database they were written in.
IMPORT_ACTION = "import"
#: What an import compares between a version in the file and the one with its id in the database.
COMPARED_VERSION_FIELDS = {
    "agent_id": "agent",
    "version_number": "number",
    "config_snapshot": "snapshot text",
    "changelog": "changelog",
    "created_by": "author",
    "created_at": "time",
}


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


@contextmanager
def atomic_text_file(path: Path, *, replace: bool, unchanged: str) -> Iterator[IO[str]]:
    """A new UTF-8 text file at ``path``, there whole or not at all.

    Written to a temporary file in the same folder (readable by its owner
    only, as the database is), flushed to the disk, then renamed into place;
    if the block fails, the temporary file goes and ``path`` is untouched.
    Without ``replace`` an existing file is never replaced (the check is the
    rename itself, a hard link, so a file made meanwhile is not lost either).
    A failure to write is :class:`FileNotWritten`, whose message ends with
    ``unchanged`` (what was not done because of it).
    """
    if not replace and path.exists():
        raise ArchiveExists(str(path))
    try:
        descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:
        raise FileNotWritten(f"Cannot write {path}: {_reason(error)}. {unchanged}") from None
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _move_into_place(temporary, path, replace=replace)
    except OSError as error:
        _remove(temporary)
        raise FileNotWritten(f"Cannot write {path}: {_reason(error)}. {unchanged}") from None
    except BaseException:
        _remove(temporary)
        raise
    _sync_folder(path.parent)


def _move_into_place(temporary: Path, path: Path, *, replace: bool) -> None:
    if replace:
        temporary.replace(path)
        return
    try:
        path.hardlink_to(temporary)
    except FileExistsError:
        raise ArchiveExists(str(path)) from None
    except OSError:
        # A file system without hard links: check, then rename.
        if path.exists():
            raise ArchiveExists(str(path)) from None
        temporary.replace(path)
        return
    temporary.unlink()


def _remove(temporary: Path) -> None:
    try:
        temporary.unlink()
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the OS lets a folder be synced)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def file_path(path: str | os.PathLike[str]) -> Path:
    """A file named on a command line or in a dialog, as an absolute path (``~`` expanded)."""
    return Path(path).expanduser().absolute()


def _imported_hash(record: Record) -> str | None:
    """The content hash to store with an imported snapshot (None: damaged).

    The file's hash is taken when it is the hash of the text itself (what
    every snapshot kaizen-tui wrote has, see ``text_hash``), without parsing
    the snapshot: a 100,000-version import parses none. Any other text
    (edited by hand, written by another tool, damaged) is read to find it.
    """
    text, claimed = record.fields["config_snapshot"], record.fields["content_hash"]
    if claimed is not None and text_hash(text) == claimed:
        return claimed
    try:
        return content_hash(parse_snapshot(text))
    except DamagedSnapshot:
        return None


def _ledger_key(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    """Every field of a ledger entry but its local id: equal entries, equal keys."""
    return tuple(entry[key] for key in LABEL_EVENT_KEYS)


def _event_key(event: Mapping[str, Any]) -> bytes:
    """A short digest of every field of an audit event but its local id: equal events, equal keys."""
    fields = [event["at"], event["actor"], event["action"], event["agent_id"], event["version_id"], event["detail"]]
    return hashlib.blake2b(json.dumps(fields, ensure_ascii=False).encode("utf-8"), digest_size=16).digest()


@dataclass
class _AgentImport:
    """One agent of the file, while its records are read."""

    record: Record
    added: bool
    versions: list[Record] = field(default_factory=list)
    events: list[Record] = field(default_factory=list)
    #: The agent's audit events already in the database (loaded when its first event comes).
    known_events: Counter[bytes] | None = None
    newest_number: int = 0
    versions_added: int = 0
    versions_there: int = 0
    events_added: int = 0
    events_there: int = 0
    labels: list[Record] = field(default_factory=list)
    ledger: list[Record] = field(default_factory=list)
    labels_added: int = 0
    ledger_added: int = 0

    @property
    def id(self) -> str:
        agent_id: str = self.record.fields["id"]
        return agent_id

    @property
    def changed(self) -> bool:
        return (
            self.added
            or self.versions_added > 0
            or self.events_added > 0
            or self.labels_added > 0
            or self.ledger_added > 0
        )


class TransferOperations:
    """Export, import and prune archives of :class:`~kaizen_tui.service.AgentService` (a mixin: it has the store)."""

    # Provided by AgentService.
    store: Store
    _threads: WorkerThreads
    _actor: Callable[[str | None], str]
    _find_agent: Callable[[Transaction, str], dict[str, Any]]
    _check_name_free: Callable[[Transaction, str, str | None], None]
    _audit: Callable[..., None]

    # -- export -----------------------------------------------------------------

    @in_thread
    def export_agents(self, write: Callable[[str], object], agents: Sequence[str] | None = None) -> dict[str, int]:
        """Write an export of ``agents`` (ids or names; every agent when None) through ``write``, line by line.

        Everything is read in one transaction, in pages. Returns the counts
        ``{"agents", "versions", "audit_events"}``.
        """
        with self.store.reading() as tx:
            return self._export(tx, write, agents)

    @in_thread
    def export_file(self, path: str | os.PathLike[str], agents: Sequence[str] | None = None) -> dict[str, Any]:
        """Export into a file, atomically (replacing one that is there): as :meth:`export_agents`, plus ``file``."""
        target = file_path(path)
        with (
            atomic_text_file(target, replace=True, unchanged="Nothing was exported.") as handle,
            self.store.reading() as tx,
        ):
            counts: dict[str, Any] = self._export(tx, handle.write, agents)
        return {"file": str(target), **counts}

    def _export(self, tx: Transaction, write: Callable[[str], object], refs: Sequence[str] | None) -> dict[str, int]:
        if refs is None:
            rows = tx.agents_to_export(None)
        else:
            ids = list(dict.fromkeys(self._find_agent(tx, ref)["id"] for ref in refs))
            rows = tx.agents_to_export(ids)
        writer = ExportWriter(write)
        writer.header()
        # By code point, the same on every backend whatever its collation.
        for agent in sorted(rows, key=lambda row: row["id"]):
            writer.agent(agent)
            for version in _pages(tx.versions_after, agent["id"], "version_number"):
                writer.version(version)
            for event in _pages(tx.audit_events_after, agent["id"], "id"):
                if event["action"] != IMPORT_ACTION:
                    writer.audit(event)
            for label in tx.labels(agent["id"]):
                writer.label(label)
            for entry in reversed(tx.label_events(agent["id"], None, LEDGER_LIMIT)):
                writer.label_event(entry)
        if refs is None:  # a policy of the whole database: only in a whole-database export
            for protected in tx.protected_labels():
                writer.protected_label(protected)
        writer.end()
        return writer.counts()

    # -- import -----------------------------------------------------------------

    @in_thread
    def import_file(self, path: str | os.PathLike[str], *, actor: str | None = None) -> dict[str, Any]:
        """Import an export file; see :meth:`import_lines`."""
        target = file_path(path)
        try:
            handle = target.open(encoding="utf-8-sig")
        except OSError as error:
            raise InvalidExportFile(str(target), f"cannot be read ({_reason(error)})") from None
        with handle:
            return self._import(handle, str(target), self._actor(actor))

    @in_thread
    def import_lines(self, lines: Iterable[str], source: str, *, actor: str | None = None) -> dict[str, Any]:
        """Import an export given as its lines (stdin...), ``source`` naming it in messages and the audit log.

        One write transaction: on any problem (a malformed or truncated file,
        a version that differs from the one with its id, a name taken by
        another agent) nothing is written and the error names the line.
        Returns ``{"file", "agents_added", "agents_already_there",
        "versions_added", "versions_already_there", "audit_events_added",
        "audit_events_already_there", "agents": [per agent: "id", "name",
        "added", "versions_added", "versions_already_there",
        "audit_events_added"]}``.
        """
        return self._import(lines, source, self._actor(actor))

    def _import(self, lines: Iterable[str], source: str, who: str) -> dict[str, Any]:
        done: list[_AgentImport] = []
        protected_added = 0
        with self.store.writing() as tx:
            current: _AgentImport | None = None
            for record in read_export(lines, source):
                if record.kind == "protected_label":
                    protected_added += tx.protect_label(record.fields)
                    continue
                if record.kind == "agent":
                    if current is not None:
                        self._finish_agent(tx, current, source, who)
                        done.append(current)
                    current = self._start_agent(tx, record, source)
                    continue
                assert current is not None  # read_export puts every other record under an agent
                if record.kind == "version":
                    current.versions.append(record)
                    current.newest_number = record.fields["version_number"]
                    if len(current.versions) >= PAGE:
                        self._flush_versions(tx, current, source)
                elif record.kind == "audit":
                    current.events.append(record)
                    if len(current.events) >= PAGE:
                        self._flush_events(tx, current)
                elif record.kind == "label":
                    current.labels.append(record)
                elif record.kind == "label_event":
                    current.ledger.append(record)
            if current is not None:
                self._finish_agent(tx, current, source, who)
                done.append(current)
        return {**_import_report(source, done), "protected_labels_added": protected_added}

    def _start_agent(self, tx: Transaction, record: Record, source: str) -> _AgentImport:
        fields = record.fields
        if tx.agent_exists(fields["id"]):
            return _AgentImport(record, added=False)
        try:
            self._check_name_free(tx, fields["name"], fields["id"])
        except NameTaken as taken:
            raise ImportConflict(
                f"Agent {fields['id']} ({fields['name']!r}) in {source} line {record.line} has the name of "
                f"agent {taken.other_id} ({taken.other_name!r}) in the database (names are unique, ignoring case); "
                "rename one of them first. Nothing was imported.",
                source=source,
                line=record.line,
            ) from None
        agent = {
            **fields,
            "content_hash": content_hash({key: fields[key] for key in CONFIG_FIELDS}),
            "name_key": name_key(fields["name"]),
        }
        tx.insert_agents([agent])
        return _AgentImport(record, added=True)

    def _flush_versions(self, tx: Transaction, agent: _AgentImport, source: str) -> None:
        """Insert the versions read since the last batch that the database lacks; refuse any that contradict it.

        An agent this import added has no versions but those it inserts: its
        batch is inserted without reading first (the insert skips an id the
        database has, which only a version of another agent can be, and is
        then refused). An agent that was there is compared first: by id, and
        by number.
        """
        batch, agent.versions = agent.versions, []
        if not batch:
            return
        if agent.added:
            new = batch
        else:
            there = {row["id"]: row for row in tx.versions_by_id([record.fields["id"] for record in batch])}
            for record in batch:
                if record.fields["id"] in there:
                    _check_same_version(record, there[record.fields["id"]], source)
            new = [record for record in batch if record.fields["id"] not in there]
            _check_numbers_free(tx, agent.id, new, source)
        inserted = tx.insert_versions([{**record.fields, "content_hash": _imported_hash(record)} for record in new])
        if inserted != len(new):
            # Ids some other agent's versions have: say which, and roll it all back.
            there = {row["id"]: row for row in tx.versions_by_id([record.fields["id"] for record in new])}
            for record in new:
                _check_same_version(record, there[record.fields["id"]], source)
        agent.versions_added += len(new)
        agent.versions_there += len(batch) - len(new)

    def _flush_events(self, tx: Transaction, agent: _AgentImport) -> None:
        """Append the audit events read since the last batch, but those the database has already."""
        batch, agent.events = agent.events, []
        if not batch:
            return
        if agent.known_events is None:
            agent.known_events = Counter(_event_key(event) for event in _pages(tx.audit_events_after, agent.id, "id"))
        new = []
        for record in batch:
            key = _event_key(record.fields)
            if agent.known_events[key] > 0:
                agent.known_events[key] -= 1
            else:
                new.append(record.fields)
        tx.insert_audit_events(new)
        agent.events_added += len(new)
        agent.events_there += len(batch) - len(new)

    def _import_labels(self, tx: Transaction, agent: _AgentImport, source: str) -> None:
        """The agent's labels the database lacks (one it has keeps where it points now), and its ledger entries.

        A label must name a version of its agent that the database has (after
        this import's versions): else the file contradicts it, nothing is written.
        """
        for record in agent.labels:
            fields = record.fields
            if tx.label(agent.id, fields["label"]) is not None:
                continue
            version = tx.version(fields["version_id"])
            if version is None or version["agent_id"] != agent.id:
                raise ImportConflict(
                    f"Label {fields['label']!r} in {source} line {record.line} names version {fields['version_id']}, "
                    f"which agent {agent.id} does not have. Nothing was imported.",
                    source=source,
                    line=record.line,
                )
            tx.put_label(fields)
            agent.labels_added += 1
        if agent.ledger:
            known = Counter(_ledger_key(row) for row in tx.label_events(agent.id, None, LEDGER_LIMIT))
            for record in agent.ledger:
                key = _ledger_key(record.fields)
                if known[key] > 0:
                    known[key] -= 1
                    continue
                tx.insert_label_event(record.fields)
                agent.ledger_added += 1

    def _finish_agent(self, tx: Transaction, agent: _AgentImport, source: str, who: str) -> None:
        self._flush_versions(tx, agent, source)
        self._flush_events(tx, agent)
        self._import_labels(tx, agent, source)
        counter = max(agent.record.fields["last_version_number"], agent.newest_number)
        grew = tx.raise_version_counter(agent.id, counter)
        if agent.changed or grew:
            detail = {
                "file": source,
                "name": agent.record.fields["name"],
                "agent_added": agent.added,
                "versions_added": agent.versions_added,
                "versions_already_there": agent.versions_there,
                "audit_events_added": agent.events_added,
                "labels_added": agent.labels_added,
                "label_events_added": agent.ledger_added,
            }
            self._audit(tx, who, IMPORT_ACTION, agent.id, detail=detail)

    # -- the archive of a prune ----------------------------------------------------

    @in_thread
    def check_archive(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> str:
        """The absolute path a prune would archive to; :class:`ArchiveExists` or :class:`FileNotWritten` if it cannot.

        For a face to refuse before asking (the prune checks again when it writes).
        """
        target = file_path(path)
        if target.is_dir():
            raise FileNotWritten(f"Cannot write {target}: it is a folder. Nothing was deleted.")
        if not target.parent.is_dir():
            raise FileNotWritten(
                f"Cannot write {target}: the folder {target.parent} does not exist. Nothing was deleted."
            )
        if not overwrite and (target.exists() or target.is_symlink()):  # a link to nothing is a file there too
            raise ArchiveExists(str(target))
        return str(target)

    def _archive(
        self, tx: Transaction, agent_id: str, below: int, at_most: int, path: Path, *, overwrite: bool
    ) -> dict[str, Any] | None:
        """Write the versions a prune is about to delete (numbered below ``below``, at most ``at_most``) to ``path``.

        In the prune's transaction, before it deletes: what is archived is
        exactly what goes. The file is self-contained: the agent (as it is
        now), the versions, and the agent's audit events about those versions.
        None (and no file) when nothing would be deleted.
        """

        oldest = tx.versions_after(agent_id, 0, 1)
        if not oldest or oldest[0]["version_number"] >= below or oldest[0]["version_number"] > at_most:
            return None
        (agent,) = tx.agents_to_export([agent_id])
        labelled = {row["version_id"] for row in tx.labels(agent_id)}  # a prune keeps them
        archived: set[str] = set()
        with atomic_text_file(path, replace=overwrite, unchanged="Nothing was deleted.") as handle:
            writer = ExportWriter(handle.write)
            writer.header()
            writer.agent(agent)
            for version in _pages(tx.versions_after, agent_id, "version_number"):
                if version["version_number"] >= below or version["version_number"] > at_most:
                    break
                if version["id"] in labelled:
                    continue
                writer.version(version)
                archived.add(version["id"])
            for event in _pages(tx.audit_events_after, agent_id, "id"):
                if event["version_id"] in archived and event["action"] != IMPORT_ACTION:
                    writer.audit(event)
            writer.end()
        return {"file": str(path), "versions": writer.versions, "audit_events": writer.audit_events}


def _pages(read: Callable[[str, int, int], list[dict[str, Any]]], agent_id: str, key: str) -> Iterator[dict[str, Any]]:
    """Every row of an agent's that ``read(agent_id, after, limit)`` gives, read in pages of :data:`PAGE`,
    each page starting after the last row's ``key`` (a version's number, an event's id)."""
    after = 0
    while True:
        page = read(agent_id, after, PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1][key]


def _check_numbers_free(tx: Transaction, agent_id: str, new: Sequence[Record], source: str) -> None:
    """Refuse new versions whose numbers the agent gives other versions already."""
    if not new:
        return
    numbers = [record.fields["version_number"] for record in new]
    taken = {row["version_number"]: row for row in tx.versions_with_numbers(agent_id, numbers)}
    for record in new:
        other = taken.get(record.fields["version_number"])
        if other is not None:
            raise ImportConflict(
                f"Version {record.fields['id']} in {source} line {record.line} is v{other['version_number']} "
                f"of agent {agent_id}, but the database has another v{other['version_number']} "
                f"({other['id']}). Nothing was imported.",
                source=source,
                line=record.line,
            )


def _check_same_version(record: Record, row: Mapping[str, Any], source: str) -> None:
    differs = [what for key, what in COMPARED_VERSION_FIELDS.items() if record.fields[key] != row[key]]
    if differs:
        raise ImportConflict(
            f"Version {record.fields['id']} in {source} line {record.line} differs from the one in the database: "
            f"{', '.join(differs)}. Nothing was imported.",
            source=source,
            line=record.line,
        )


def _import_report(source: str, agents: Sequence[_AgentImport]) -> dict[str, Any]:
    return {
        "file": source,
        "agents_added": sum(agent.added for agent in agents),
        "agents_already_there": sum(not agent.added for agent in agents),
        "versions_added": sum(agent.versions_added for agent in agents),
        "versions_already_there": sum(agent.versions_there for agent in agents),
        "audit_events_added": sum(agent.events_added for agent in agents),
        "audit_events_already_there": sum(agent.events_there for agent in agents),
        "labels_added": sum(agent.labels_added for agent in agents),
        "label_events_added": sum(agent.ledger_added for agent in agents),
        "agents": [
            {
                "id": agent.id,
                "name": agent.record.fields["name"],
                "added": agent.added,
                "versions_added": agent.versions_added,
                "versions_already_there": agent.versions_there,
                "audit_events_added": agent.events_added,
            }
            for agent in agents
        ],
    }
