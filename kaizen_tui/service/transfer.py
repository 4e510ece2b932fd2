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
* Labels and protected label names follow the newest decision, never an
  older one: the file's ledger entries the database lacks are appended, and
  where the file says a label points (or that it was removed) replaces what
  the database says only when the database has not recorded that decision
  already and it is not older than the database's own (see :class:`_Claim`).
  Protection likewise, from the ``label.protect`` and ``label.unprotect``
  audit events, which a whole-database export carries with every other
  audit event of no agent in the file.
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
    InvalidValue,
    NameTaken,
)
from kaizen_tui.core.export_format import LABEL_EVENT_KEYS, ExportWriter, Record, read_export
from kaizen_tui.core.labels import check_label
from kaizen_tui.core.names import name_key
from kaizen_tui.core.schema import CONFIG_FIELDS, content_hash, parse_snapshot, text_hash
from kaizen_tui.store import Store, Transaction

#: Versions (and audit events) read per query while exporting, and written per batch while importing.
PAGE = 1000
#: More ledger entries than any agent has: an agent's ledger is read whole.
LEDGER_LIMIT = 2**31 - 1
#: The audit action of an import; such events stay in the database they were written in.
IMPORT_ACTION = "import"
#: The audit actions that protect and unprotect a label name (``detail``: ``{"label": name}``).
PROTECTION_ACTIONS = {"label.protect": True, "label.unprotect": False}
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


@dataclass(frozen=True)
class _Claim:
    """One side's decision about a label (or a protected name): what it is, when and by whom.

    An import compares the file's claim with the database's: the file's
    replaces the database's only when the database has not recorded it
    already (then the database knows it and its own state is at least as
    new, whatever the clocks said) and it is not older. At the same second,
    the file's wins: its ledger entries are appended after the database's,
    and the ledger orders entries by time, then by the order they were
    recorded in (``store/labels.py``), so its newest entry is the one
    followed.
    """

    at: str
    actor: str
    #: A label's version id (None: removed); for a protected name, True (protected) or False.
    value: str | bool | None
    #: The line of the file it comes from (0: the database's).
    line: int = 0

    @property
    def fact(self) -> tuple[str, str, str | bool | None]:
        return (self.at, self.actor, self.value)


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
    labels_moved: int = 0
    labels_removed: int = 0
    ledger_added: int = 0
    #: How the import changed the agent's labels: ``{"label", "from_version", "to_version"}`` (numbers, or None).
    label_changes: list[dict[str, Any]] = field(default_factory=list)

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
            or self.ledger_added > 0
            or bool(self.label_changes)
        )


@dataclass
class _DatabaseImport:
    """The records of the file that belong to no agent of it: audit events and protected label names.

    ``known_events`` holds, per agent id (None: of no agent), the database's
    events, read when the first event of that id comes. ``known_protection``
    and ``protection_now`` are what the database says of protected names
    before the import writes any of the file's events.
    """

    events: list[Record] = field(default_factory=list)
    known_events: dict[str | None, Counter[bytes]] = field(default_factory=dict)
    events_added: int = 0
    events_there: int = 0
    #: The file's protected names, and its newest protect or unprotect event of each name, in file order.
    protected: dict[str, Record] = field(default_factory=dict)
    protection_events: dict[str, _Claim] = field(default_factory=dict)
    known_protection: dict[str, set[tuple[str, str, str | bool | None]]] = field(default_factory=dict)
    protection_now: dict[str, _Claim] = field(default_factory=dict)
    protected_added: int = 0
    protected_removed: int = 0

    @property
    def changed(self) -> bool:
        return self.events_added > 0 or self.protected_added > 0 or self.protected_removed > 0


class TransferOperations:
    """Export, import and prune archives of :class:`~kaizen_tui.service.AgentService` (a mixin: it has the store)."""

    # Provided by AgentService.
    store: Store
    _actor: Callable[[str | None], str]
    _find_agent: Callable[[Transaction, str], dict[str, Any]]
    _check_name_free: Callable[[Transaction, str, str | None], None]
    _audit: Callable[..., None]

    # -- export -----------------------------------------------------------------

    def export_agents(self, write: Callable[[str], object], agents: Sequence[str] | None = None) -> dict[str, int]:
        """Write an export of ``agents`` (ids or names; every agent when None) through ``write``, line by line.

        Everything is read in one transaction, in pages. Returns the counts
        ``{"agents", "versions", "audit_events"}``, and those of labels,
        ledger entries, protected names and audit events of no agent
        (``database_audit_events``) when there are some.
        """
        with self.store.reading() as tx:
            return self._export(tx, write, agents)

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
        # A whole-database export carries every audit event: those of no agent it holds too.
        unowned = _unowned_events(tx) if refs is None else iter(())
        first_unowned = next(unowned, None)
        writer.header(("database_audit",) if first_unowned is not None else ())
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
        if first_unowned is not None:
            writer.database_audit(first_unowned)
            for event in unowned:
                writer.database_audit(event)
        writer.end()
        return writer.counts()

    # -- import -----------------------------------------------------------------

    def import_file(self, path: str | os.PathLike[str], *, actor: str | None = None) -> dict[str, Any]:
        """Import an export file; see :meth:`import_lines`."""
        target = file_path(path)
        try:
            handle = target.open(encoding="utf-8-sig")
        except OSError as error:
            raise InvalidExportFile(str(target), f"cannot be read ({_reason(error)})") from None
        with handle:
            return self._import(handle, str(target), self._actor(actor))

    def import_lines(self, lines: Iterable[str], source: str, *, actor: str | None = None) -> dict[str, Any]:
        """Import an export given as its lines (stdin...), ``source`` naming it in messages and the audit log.

        One write transaction: on any problem (a malformed or truncated file,
        a version that differs from the one with its id, a name taken by
        another agent) nothing is written and the error names the line.
        Returns ``{"file", "agents_added", "agents_already_there",
        "versions_added", "versions_already_there", "audit_events_added",
        "audit_events_already_there", "labels_added", "labels_moved",
        "labels_removed", "label_events_added", "protected_labels_added",
        "protected_labels_removed", "agents": [per agent: "id", "name",
        "added", "versions_added", "versions_already_there",
        "audit_events_added", "labels_added", "labels_moved",
        "labels_removed", "label_events_added", "label_changes" (each
        ``{"label", "from_version", "to_version"}``)]}``.
        """
        return self._import(lines, source, self._actor(actor))

    def _import(self, lines: Iterable[str], source: str, who: str) -> dict[str, Any]:
        done: list[_AgentImport] = []
        database: _DatabaseImport | None = None
        with self.store.writing() as tx:
            current: _AgentImport | None = None
            for record in read_export(lines, source):
                if record.kind in ("protected_label", "database_audit"):
                    if database is None:
                        database = _start_database(tx)
                    if record.kind == "protected_label":
                        database.protected[record.fields["label"]] = record
                    else:
                        _note_protection(database, record)
                        database.events.append(record)
                        if len(database.events) >= PAGE:
                            _flush_database_events(tx, database)
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
            if database is not None:
                self._finish_database(tx, database, source, who)
        return _import_report(source, done, database or _DatabaseImport())

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
        """The agent's ledger entries the database lacks; then each label the file speaks of follows the newest decision.

        The file's claim about a label is where its ``label`` record says it
        points, else (no such record) its newest ledger entry of the label (a
        removal). It replaces the database's when the database has not
        recorded it and it is not older (:class:`_Claim`). A label that is to
        point at a version its agent does not have (after this import's
        versions) contradicts the database: nothing is written.
        """
        if not agent.labels and not agent.ledger:
            return
        ledger = tx.label_events(agent.id, None, LEDGER_LIMIT)  # newest first, before this import writes
        rows = {row["label"]: row for row in tx.labels(agent.id)}
        known: dict[str, set[tuple[str, str, str | bool | None]]] = {}
        now: dict[str, _Claim] = {}
        for entry in ledger:
            known.setdefault(entry["label"], set()).add((entry["at"], entry["actor"], entry["to_version_id"]))
            now.setdefault(entry["label"], _Claim(entry["at"], entry["actor"], entry["to_version_id"]))
        for label, row in rows.items():
            now[label] = _Claim(row["updated_at"], row["updated_by"], row["version_id"])
            known.setdefault(label, set()).add(now[label].fact)
        if agent.ledger:
            counted = Counter(_ledger_key(row) for row in ledger)
            for record in agent.ledger:
                key = _ledger_key(record.fields)
                if counted[key] > 0:
                    counted[key] -= 1
                    continue
                tx.insert_label_event(record.fields)
                agent.ledger_added += 1
        claims: dict[str, _Claim] = {}
        for record in agent.ledger:  # the file's order: the last entry of a label is its newest
            fields = record.fields
            claims[fields["label"]] = _Claim(fields["at"], fields["actor"], fields["to_version_id"], record.line)
        for record in agent.labels:
            fields = record.fields
            claims[fields["label"]] = _Claim(
                fields["updated_at"], fields["updated_by"], fields["version_id"], record.line
            )
        for label, claim in claims.items():
            if _follows(claim, known.get(label, set()), now.get(label)):
                self._follow_label(tx, agent, label, claim, rows.get(label), source)

    def _follow_label(
        self,
        tx: Transaction,
        agent: _AgentImport,
        label: str,
        claim: _Claim,
        row: Mapping[str, Any] | None,
        source: str,
    ) -> None:
        """Make ``label`` what the file's newer ``claim`` says (nothing when it says so already)."""
        before = row["version_number"] if row is not None else None
        if claim.value is None:
            if row is None:
                return
            tx.delete_label(agent.id, label)
            agent.labels_removed += 1
            agent.label_changes.append({"label": label, "from_version": before, "to_version": None})
            return
        if row is not None and row["version_id"] == claim.value:
            return
        version = tx.version(str(claim.value))
        if version is None or version["agent_id"] != agent.id:
            raise ImportConflict(
                f"Label {label!r} in {source} line {claim.line} names version {claim.value}, "
                f"which agent {agent.id} does not have. Nothing was imported.",
                source=source,
                line=claim.line,
            )
        tx.put_label(
            {
                "agent_id": agent.id,
                "label": label,
                "version_id": version["id"],
                "updated_by": claim.actor,
                "updated_at": claim.at,
            }
        )
        if row is None:
            agent.labels_added += 1
        else:
            agent.labels_moved += 1
        change = {"label": label, "from_version": before, "to_version": version["version_number"]}
        agent.label_changes.append(change)

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
                "labels_moved": agent.labels_moved,
                "labels_removed": agent.labels_removed,
                "label_events_added": agent.ledger_added,
            }
            self._audit(tx, who, IMPORT_ACTION, agent.id, detail=detail)

    def _finish_database(self, tx: Transaction, database: _DatabaseImport, source: str, who: str) -> None:
        """The file's audit events of no agent, then protected names follow the newest decision (as labels do)."""
        _flush_database_events(tx, database)
        claims = dict(database.protection_events)
        for label, record in database.protected.items():  # the name's state in the file, when it is protected
            claims[label] = _Claim(record.fields["protected_at"], record.fields["protected_by"], True, record.line)
        for label, claim in claims.items():
            if not _follows(claim, database.known_protection.get(label, set()), database.protection_now.get(label)):
                continue
            if claim.value:
                row = {"label": label, "protected_by": claim.actor, "protected_at": claim.at}
                database.protected_added += tx.protect_label(row)
            else:
                database.protected_removed += tx.unprotect_label(label)
        if database.changed:
            detail = {
                "file": source,
                "audit_events_added": database.events_added,
                "protected_labels_added": database.protected_added,
                "protected_labels_removed": database.protected_removed,
            }
            self._audit(tx, who, IMPORT_ACTION, None, detail=detail)

    # -- the archive of a prune ----------------------------------------------------

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


def _follows(claim: _Claim, known: set[tuple[str, str, str | bool | None]], now: _Claim | None) -> bool:
    """Does the file's ``claim`` replace what the database says (``now``, having recorded ``known``)?"""
    if claim.fact in known:
        return False  # the database recorded it: what it says now came after (or is it)
    return now is None or claim.at >= now.at


def _start_database(tx: Transaction) -> _DatabaseImport:
    """What the database says of its events of no agent and of protected names, before the import writes."""
    database = _DatabaseImport()
    ours: Counter[bytes] = Counter()
    for event in _unowned_events(tx, with_imports=True):
        if event["agent_id"] is not None:
            continue
        ours[_event_key(event)] += 1
        protect = _protection(event)
        if protect is not None:
            label, claim = protect
            database.known_protection.setdefault(label, set()).add(claim.fact)
            newest = database.protection_now.get(label)
            if newest is None or claim.at >= newest.at:  # by time, then by id: the newest is the last
                database.protection_now[label] = claim
    database.known_events[None] = ours
    for row in tx.protected_labels():
        claim = _Claim(row["protected_at"], row["protected_by"], True)
        database.protection_now[row["label"]] = claim
        database.known_protection.setdefault(row["label"], set()).add(claim.fact)
    return database


def _protection(event: Mapping[str, Any], line: int = 0) -> tuple[str, _Claim] | None:
    """The label name an audit event protected or unprotected, and the claim it makes; None for any other event."""
    protect = PROTECTION_ACTIONS.get(event["action"])
    if protect is None or event["agent_id"] is not None:
        return None
    try:
        label = json.loads(event["detail"]).get("label")
    except (ValueError, AttributeError):
        return None
    if not isinstance(label, str):
        return None
    try:
        check_label(label)
    except InvalidValue:
        return None
    return label, _Claim(event["at"], event["actor"], protect, line)


def _note_protection(database: _DatabaseImport, record: Record) -> None:
    """Keep the file's newest protect or unprotect event of each name (the file's order is its database's)."""
    protect = _protection(record.fields, record.line)
    if protect is not None:
        database.protection_events[protect[0]] = protect[1]


def _flush_database_events(tx: Transaction, database: _DatabaseImport) -> None:
    """Append the file's events of no agent read since the last batch, but those the database has already."""
    batch, database.events = database.events, []
    new = []
    for record in batch:
        agent_id = record.fields["agent_id"]
        known = database.known_events.get(agent_id)
        if known is None:  # an agent deleted in the file's database: its events here, if any
            known = Counter(_event_key(event) for event in _pages(tx.audit_events_after, agent_id, "id"))
            database.known_events[agent_id] = known
        key = _event_key(record.fields)
        if known[key] > 0:
            known[key] -= 1
        else:
            new.append(record.fields)
    tx.insert_audit_events(new)
    database.events_added += len(new)
    database.events_there += len(batch) - len(new)


def _unowned_events(tx: Transaction, *, with_imports: bool = False) -> Iterator[dict[str, Any]]:
    """The audit events of no agent the database has, oldest first, but those of imports."""
    after = 0
    while True:
        page = tx.unowned_audit_events_after(after, PAGE)
        yield from (event for event in page if with_imports or event["action"] != IMPORT_ACTION)
        if len(page) < PAGE:
            return
        after = page[-1]["id"]


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


def _import_report(source: str, agents: Sequence[_AgentImport], database: _DatabaseImport) -> dict[str, Any]:
    return {
        "file": source,
        "agents_added": sum(agent.added for agent in agents),
        "agents_already_there": sum(not agent.added for agent in agents),
        "versions_added": sum(agent.versions_added for agent in agents),
        "versions_already_there": sum(agent.versions_there for agent in agents),
        "audit_events_added": sum(agent.events_added for agent in agents) + database.events_added,
        "audit_events_already_there": sum(agent.events_there for agent in agents) + database.events_there,
        "labels_added": sum(agent.labels_added for agent in agents),
        "labels_moved": sum(agent.labels_moved for agent in agents),
        "labels_removed": sum(agent.labels_removed for agent in agents),
        "label_events_added": sum(agent.ledger_added for agent in agents),
        "protected_labels_added": database.protected_added,
        "protected_labels_removed": database.protected_removed,
        "agents": [
            {
                "id": agent.id,
                "name": agent.record.fields["name"],
                "added": agent.added,
                "versions_added": agent.versions_added,
                "versions_already_there": agent.versions_there,
                "audit_events_added": agent.events_added,
                "labels_added": agent.labels_added,
                "labels_moved": agent.labels_moved,
                "labels_removed": agent.labels_removed,
                "label_events_added": agent.ledger_added,
                "label_changes": agent.label_changes,
            }
            for agent in agents
        ],
    }
