"""The SQLite store: one database file through the standard library's ``sqlite3`` driver.

* WAL journal with ``synchronous=FULL``: readers never block the writer, and a
  write that was acknowledged survives a crash of the process or the machine.
* Every write transaction starts with ``BEGIN IMMEDIATE``, so two processes
  never both read under a shared lock and then deadlock upgrading it; the
  second simply waits (``busy_timeout``) for the first to commit.
* The file is created readable by its owner only.
* ``PRAGMA application_id`` marks our files and ``PRAGMA user_version`` holds
  the schema version. An older file is upgraded by the numbered migrations
  (``sqlite_migrations.py``) when it is opened for writing; opened read-only,
  it is upgraded in a copy in memory and the file is not touched. A file from
  a newer kaizen-tui is refused, never touched.

Why not SQLAlchemy here: the tables are declared with SQLModel
(``models.py``), but going through SQLAlchemy's connection and transaction
machinery cost more than SQLite's own work on every snapshot, and importing it
was a third of the program's start. So SQLModel is imported only to write the
schema of a new file; everything else is constant, parameterised SQL on
``sqlite3`` (:class:`SQLiteTransaction`).
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from kaizen_tui.core.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseNotFound,
    NameTaken,
    ReadOnlyDatabase,
    SchemaTooNew,
    TokenExists,
)
from kaizen_tui.store.base import (
    AGENT_COLUMNS,
    AUDIT_COLUMNS,
    LABEL_EVENT_COLUMNS,
    SETTABLE_AGENT_COLUMNS,
    TOKEN_COLUMNS,
    VERSION_COLUMNS,
    Row,
    Store,
    chunks,
)
from kaizen_tui.store.labels import LabelStatements, label_sql
from kaizen_tui.store.sqlite_migrations import SCHEMA_VERSION, TRIGGERS, migrate

#: "KZNT": written into every database we create, to recognise our files.
APPLICATION_ID = 0x4B5A4E54
#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_SECONDS = 15.0
SQLITE_HEADER = b"SQLite format 3\x00"
PAGE_SIZE = 8192
#: Connections kept open between operations: as many as the service has worker
#: threads (8), so a busy server reuses them instead of opening one per request.
IDLE_CONNECTIONS = 8

_LIST_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"


def default_db_path() -> Path:
    """The per-user database: ``~/.local/share/kaizen-tui/kaizen.db`` on Linux."""
    from platformdirs import user_data_path

    return user_data_path("kaizen-tui") / "kaizen.db"


def is_url(target: str) -> bool:
    return "://" in target


@dataclass(eq=False)
class SQLiteStore:
    """An open SQLite file: hands out transactions for reading or writing.

    Connections are made on demand and kept (up to :data:`IDLE_CONNECTIONS`)
    for the next operation; each is used by one thread at a time.
    ``connect_to`` names what connections open: the file, or a copy of it in
    memory (an older file opened read-only, upgraded there).
    """

    path: Path
    read_only: bool = False
    read_only_reason: str = ""
    connect_to: str | None = None
    _notices: list[str] = field(default_factory=list, repr=False)
    _idle: list[sqlite3.Connection] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _writer: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _watch: sqlite3.Connection | None = field(default=None, repr=False)
    _watch_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = field(default=False, repr=False)
    #: Keeps an in-memory copy alive while the store is open.
    _keeper: sqlite3.Connection | None = field(default=None, repr=False)
    #: The database a stand-in in memory reads for (:func:`empty_stand_in`), as a person knows it.
    shown_as: str | None = None
    #: Opening this store created its file (see :meth:`close_and_discard`).
    created_file: bool = False

    @property
    def url(self) -> str:
        return self.shown_as or f"sqlite:///{self.path}"

    @property
    def display_name(self) -> str:
        """What to show a person: the file's path."""
        return self.shown_as or str(self.path)

    @property
    def notices(self) -> list[str]:
        return list(self._notices)

    @contextmanager
    def reading(self) -> Iterator[SQLiteTransaction]:
        """A transaction that reads one consistent snapshot of the data."""
        with self._transaction("BEGIN") as connection:
            yield SQLiteTransaction(connection)

    @contextmanager
    def writing(self) -> Iterator[SQLiteTransaction]:
        """A transaction that holds the write lock from its first statement.

        It commits when the block ends and rolls back if the block raises.
        Writers of this process queue on a lock of their own first: SQLite's
        busy handler makes a waiting writer sleep in steps of up to 100 ms
        instead of waking it when the lock frees, which under 32 concurrent
        HTTP clients made the slowest snapshots 5-10x the median. Other
        processes still meet at SQLite's lock (``busy_timeout``).
        """
        if self.read_only:
            raise ReadOnlyDatabase(self.read_only_reason or "the database is open read-only")
        with self._writer, self._transaction("BEGIN IMMEDIATE") as connection:
            yield SQLiteTransaction(connection)

    def change_token(self) -> int | None:
        """A number that changes whenever any connection or process commits (``PRAGMA data_version``).

        Cheap (no lock, no query of the tables), for caches to check they are
        still right. Read on a connection of its own that never writes: its
        ``data_version`` moves with every commit but its own.
        """
        with self._watch_lock:
            if self._watch is None:
                with translate_errors(self):
                    self._watch = self._acquire_new()
            try:
                return int(self._watch.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                return None

    def subscribe(self, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """SQLite cannot announce another process's commit: None, and screens poll (cheaply)."""
        return None

    @contextmanager
    def connection(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """A raw connection in a transaction, for the migrations and the schema."""
        with self._transaction(begin) as connection:
            yield connection

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with translate_errors(self):
            connection = self._acquire()
            # Kept for the next operation unless the driver failed: after a
            # domain error (an unknown agent...) the rollback leaves it clean.
            reusable = False
            try:
                connection.execute(begin)
                try:
                    yield connection
                    # A read ends with a rollback too: it changed nothing.
                    connection.execute("COMMIT" if begin != "BEGIN" else "ROLLBACK")
                    reusable = True
                except BaseException as error:
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    reusable = not isinstance(error, sqlite3.Error)
                    raise
            finally:
                self._release(connection, reusable)

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._acquire_new()

    def _acquire_new(self) -> sqlite3.Connection:
        if self.connect_to is not None:
            return _sqlite_connect(self.connect_to, uri=True)
        return _connect(self.path, self.read_only)

    def _release(self, connection: sqlite3.Connection, reusable: bool) -> None:
        """Keep a connection for the next operation, unless it failed, enough are kept or we are closed."""
        if reusable and not connection.in_transaction:
            with self._lock:
                if len(self._idle) < IDLE_CONNECTIONS and not self._closed:
                    self._idle.append(connection)
                    return
        connection.close()

    def fill_empty_from(self, source: Store) -> bool:
        """Copy every row of another SQLite store in, in one transaction, if this one has no agent."""
        if not isinstance(source, SQLiteStore):
            raise DatabaseError("Can only copy from another SQLite file.")
        if self.read_only:
            raise ReadOnlyDatabase(self.read_only_reason or "the database is open read-only")
        with translate_errors(self):
            # A connection of its own: ATTACH and DETACH cannot run inside a transaction.
            connection = _connect(self.path, read_only=False)
            try:
                connection.execute("ATTACH DATABASE ? AS source", (str(source.path),))
                connection.execute("BEGIN IMMEDIATE")
                try:
                    copied = connection.execute("SELECT count(*) FROM main.agent").fetchone()[0] == 0
                    if copied:
                        for statement in _COPY_ALL:
                            connection.execute(statement)
                    connection.execute("COMMIT")
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("DETACH DATABASE source")
            finally:
                connection.close()
        return copied

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    def close_and_discard(self) -> bool:
        """Close; remove the file (and its ``-wal`` and ``-shm``) if this store created it and it holds nothing.

        Nothing is an agent, an audit event (every change writes one), a token
        or a protected label: a file that another process wrote to meanwhile
        is kept.
        """
        try:
            discard = self.created_file and self.connect_to is None and not self.read_only and self._holds_nothing()
        finally:
            self.close()
        if not discard:
            return False
        for leftover in (
            self.path,
            self.path.with_name(self.path.name + "-wal"),
            self.path.with_name(self.path.name + "-shm"),
        ):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                return False
        return True

    def _holds_nothing(self) -> bool:
        try:
            with self.reading() as tx:
                return not (tx.newest_audit_id() or tx.tokens() or tx.protected_labels() or tx.agents_to_export())
        except DatabaseError:
            return False


#: Every row of a store, copied over by :meth:`SQLiteStore.fill_empty_from`.
_ALL_AGENT_COLUMNS = ", ".join((*AGENT_COLUMNS, "name_key", "last_version_number"))
_ALL_VERSION_COLUMNS = ", ".join((*VERSION_COLUMNS, "content_hash"))
_AUDIT_COPIED = "at, actor, action, agent_id, version_id, detail"
_LEDGER_COPIED = ", ".join(LABEL_EVENT_COLUMNS[1:])
_COPY_ALL = (
    f"INSERT INTO main.agent ({_ALL_AGENT_COLUMNS}) SELECT {_ALL_AGENT_COLUMNS} FROM source.agent",
    f"INSERT INTO main.agent_version ({_ALL_VERSION_COLUMNS}) SELECT {_ALL_VERSION_COLUMNS} FROM source.agent_version",
    f"INSERT INTO main.audit_event ({_AUDIT_COPIED}) SELECT {_AUDIT_COPIED} FROM source.audit_event ORDER BY id",
    "INSERT INTO main.agent_label SELECT * FROM source.agent_label",
    f"INSERT INTO main.label_event ({_LEDGER_COPIED}) SELECT {_LEDGER_COPIED} FROM source.label_event ORDER BY id",
    "INSERT INTO main.protected_label SELECT * FROM source.protected_label",
)


@contextmanager
def translate_errors(db: SQLiteStore | None = None) -> Iterator[None]:
    """Turn driver errors into :class:`DatabaseError` with a sentence a person can act on."""
    where = db.display_name if db else "the database"
    try:
        yield
    except sqlite3.Error as error:
        raise _database_error(error, where) from None
    except UnicodeEncodeError as error:
        # Text with a lone surrogate (from another tool's JSON) cannot be stored.
        raise DatabaseError(
            f"Cannot write to {where}: a value holds text that is not valid Unicode "
            f"({error.object[max(0, error.start - 20) : error.end]!r}). Nothing was changed."
        ) from None


def _database_error(error: BaseException, where: str) -> DatabaseError:
    text = str(error)
    lowered = text.lower()
    if "locked" in lowered or "busy" in lowered:
        return DatabaseBusy(
            f"{where} is busy: another kaizen-tui or script kept it locked for more "
            f"than {BUSY_TIMEOUT_SECONDS:.0f} seconds. Nothing was changed; try again."
        )
    if "readonly" in lowered or "read-only" in lowered:
        return ReadOnlyDatabase(f"{where} (or its folder) is read-only")
    if "not a database" in lowered or "malformed" in lowered:
        return DatabaseError(f"{where} is not a kaizen-tui database, or it is damaged ({text}).")
    if "unable to open" in lowered:
        return DatabaseError(f"Cannot open {where}: check that its folder exists and is writable.")
    if "disk is full" in lowered or "disk i/o" in lowered:
        return DatabaseError(f"Cannot write {where}: {text}. Nothing was changed.")
    return DatabaseError(f"Database error on {where}: {text}")


def open_sqlite(
    target: str | os.PathLike[str] | None = None, *, read_only: bool = False, create: bool = True
) -> SQLiteStore:
    """Open (and if needed create, or upgrade) the SQLite database at a path or ``sqlite:///`` URL.

    With ``create=False`` only an existing file is opened: a missing one is a
    :class:`DatabaseError` naming the path, and no file or folder is made (a
    mistyped path given to a command that only reads).
    """
    if target is None:
        path = default_db_path()
        if create and not read_only:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _open_sqlite(path, read_only, create)
    text = os.fspath(target)
    if not text.strip():
        raise DatabaseError("The database path is empty.")
    if is_url(text):
        return _open_sqlite(sqlite_path_of(text), read_only, create)
    return _open_sqlite(Path(text), read_only, create)


def sqlite_path_of(url: str) -> Path:
    """The file a ``sqlite:///`` URL (SQLAlchemy's form) names; only SQLite files are supported.

    The SQL is SQLite's and the file's pragmas carry durability and our schema
    marks, so other databases and in-memory ones are refused rather than
    half-supported. Messages never repeat a password.
    """
    scheme, _, rest = url.partition("://")
    driver = scheme.split("+", 1)[0].lower()
    if driver != "sqlite":
        shown = scheme + "://" + ("…" if rest else "")
        raise DatabaseError(
            f"Cannot use {shown}: kaizen-tui keeps its data in a SQLite file or a PostgreSQL database; "
            "give a path, sqlite:///path or postgresql://user@host:port/dbname."
        )
    if rest and not rest.startswith("/"):
        raise DatabaseError("The database URL is not a valid SQLite URL (sqlite:///path/to/file.db).")
    # As SQLAlchemy reads it: the path runs to a "?", which starts options.
    path, options_mark, _options = rest[1:].partition("?")
    database = unquote(path)
    shown = f"sqlite:///{database}"
    if not database or database == ":memory:" or database.startswith("file:"):
        raise DatabaseError(f"Cannot use {shown}: name a database file (sqlite:///path/to/file.db).")
    if options_mark:
        raise DatabaseError(
            f"Cannot use {shown}?…: options are not supported in the URL (after '?'); use --read-only for read-only."
        )
    return Path(database)


def _open_sqlite(path: Path, read_only: bool, create: bool = True) -> SQLiteStore:
    path = path.expanduser().absolute()
    reason = "the database is open read-only (--read-only)" if read_only else ""
    if not create and not path.is_dir() and not path.exists():
        raise DatabaseNotFound(
            f"No database at {path}: no such file, and nothing was created "
            "(a database is created by the first change written to it, such as a new agent)."
        )
    _check_path(path, must_exist=read_only)
    created = not path.exists()
    if created:
        _create_private_file(path)
    elif not os.access(path, os.W_OK):
        read_only, reason = True, f"{path} is read-only"
    elif not os.access(path.parent, os.W_OK):
        read_only, reason = True, f"the folder {path.parent} is read-only"
    _check_header(path)
    store = SQLiteStore(path=path, read_only=read_only, read_only_reason=reason, created_file=created)
    try:
        _prepare_schema(store, create)
    except BaseException:
        store.close()
        raise
    return store


def _check_path(path: Path, *, must_exist: bool) -> None:
    if path.is_dir():
        raise DatabaseError(f"{path} is a folder, not a database file.")
    if not path.parent.is_dir():
        raise DatabaseError(f"The folder {path.parent} does not exist; create it first.")
    if must_exist and not path.exists():
        raise DatabaseError(f"{path} does not exist, and a read-only database cannot be created.")


def _create_private_file(path: Path) -> None:
    """Create the database file readable and writable by its owner only."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, stat.S_IRUSR | stat.S_IWUSR)
    except FileExistsError:
        return
    except OSError as error:
        raise DatabaseError(f"Cannot create {path}: {error.strerror}.") from None
    os.close(fd)


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise DatabaseError(f"Cannot read {path}: {error.strerror}.") from None
    if header and header != SQLITE_HEADER:
        raise DatabaseError(f"{path} is not a SQLite database; it was not modified.")


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if not read_only:
        connection = _sqlite_connect(str(path), uri=False)
        connection.execute("PRAGMA synchronous = FULL")
        return connection
    connection = _sqlite_connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        connection.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError:
        # A WAL database in a folder we cannot write: SQLite cannot create the
        # shared-memory file readers need, so read the file as immutable.
        connection.close()
        connection = _sqlite_connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    return connection


def _sqlite_connect(target: str, *, uri: bool) -> sqlite3.Connection:
    # isolation_level=None: the driver never begins on its own; the store does.
    # check_same_thread=False: a connection moves between the service's worker
    # threads, but the store gives it to one of them at a time.
    connection = sqlite3.connect(
        target, uri=uri, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None
    )
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _prepare_schema(store: SQLiteStore, create: bool = True) -> None:
    """Check the file is ours; create the schema in a new file, upgrade an older one.

    A file without tables opened where the schema may not be written (read-only,
    or ``create=False``: a command that only reads) reads as empty, from memory.
    """
    with store.connection("BEGIN") as connection:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        user_version = connection.execute("PRAGMA user_version").fetchone()[0] or 0
        tables = {row[0] for row in connection.execute(_LIST_TABLES)}
    if tables and application_id != APPLICATION_ID:
        raise DatabaseError(
            f"{store.display_name} is a SQLite database of another program "
            f"(tables: {', '.join(sorted(tables)[:5])}); it was not modified."
        )
    if user_version > SCHEMA_VERSION:
        raise SchemaTooNew(user_version, SCHEMA_VERSION)
    if not tables:
        if store.read_only or not create:
            _read_as_empty(store)
            return
        _create_schema(store)
    elif user_version < SCHEMA_VERSION:
        if store.read_only:
            _upgrade_in_memory(store, user_version)
        else:
            with translate_errors(store):
                migrate(store.connection)


def empty_stand_in(shown_as: str, reason: str) -> SQLiteStore:
    """What a database that holds no kaizen-tui data reads as where its schema may not be created.

    Our schema, empty, in memory and read-only: a command that only reads
    finds nothing (``agents --json`` prints ``[]``), a change is refused with
    ``reason``, and nothing is written to the database ``shown_as`` names.
    """
    store = SQLiteStore(path=Path(), read_only=True, read_only_reason=reason, shown_as=shown_as)
    _read_as_empty(store)
    return store


def _read_as_empty(store: SQLiteStore) -> None:
    """Point the store at an empty schema in memory, read-only (the file, if any, is left as it is)."""
    memory = f"file:kaizen-empty-{uuid.uuid4().hex}?mode=memory&cache=shared"
    with translate_errors(store):
        keeper = _sqlite_connect(memory, uri=True)
        try:
            for statement in (*schema_statements(), *TRIGGERS):
                keeper.execute(statement)
            keeper.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            keeper.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            keeper.close()
            raise
    store._keeper = keeper
    store.connect_to = memory
    with store._lock:  # connections kept so far read the file itself
        idle, store._idle = store._idle, []
    for connection in idle:
        connection.close()
    if not store.read_only:
        store.read_only = True
        store.read_only_reason = (
            f"{store.display_name} holds no kaizen-tui data yet; the first change written by a command "
            "that creates (such as create) sets it up"
        )


def _upgrade_in_memory(store: SQLiteStore, found: int) -> None:
    """Read an older file opened read-only: copy it into memory and upgrade the copy.

    The file is not changed by a byte; what is shown is what the upgrade
    will make of it. The copy lives while the store is open.
    """
    memory = f"file:kaizen-upgrade-{uuid.uuid4().hex}?mode=memory&cache=shared"
    with translate_errors(store):
        source = _connect(store.path, read_only=True)
        keeper = _sqlite_connect(memory, uri=True)
        try:
            source.backup(keeper)
        finally:
            source.close()
    store._keeper = keeper
    store.connect_to = memory
    with store._lock:  # connections kept so far read the file itself
        idle, store._idle = store._idle, []
    for connection in idle:
        connection.close()
    writable = SQLiteStore(path=store.path, connect_to=memory)
    with translate_errors(store):
        migrate(writable.connection)
    writable.close()
    store._notices.append(
        f"{store.display_name} has schema version {found} and is open read-only: it is shown upgraded "
        f"to version {SCHEMA_VERSION} in memory, the file is unchanged; open it once without "
        "--read-only to upgrade it."
    )


def _create_schema(store: SQLiteStore) -> None:
    """Write the tables of ``models.py``, the triggers and our marks into a new file."""
    with translate_errors(store):
        connection = _connect(store.path, read_only=False)
        try:
            # Not allowed inside a transaction. 8 KiB pages hold three ~2 KB
            # snapshots where 4 KiB pages hold one: a third less space per
            # version. Only a file without tables can still take it.
            connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            connection.execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()
    with store.connection() as connection:
        # Another process may have created it while we waited for the lock.
        if connection.execute(_LIST_TABLES).fetchone() is not None:
            return
        for statement in schema_statements():
            connection.execute(statement)
        for trigger in TRIGGERS:
            connection.execute(trigger)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    # Another process may have made an older schema while we waited: bring it up.
    with translate_errors(store):
        migrate(store.connection)


def schema_statements() -> list[str]:
    """The ``CREATE TABLE`` and ``CREATE INDEX`` statements of the SQLModel tables, in SQLite's SQL.

    SQLModel (and so SQLAlchemy) is imported here only, when a new file is
    made: the tables stay declared in one place without every start paying
    for the import.
    """
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable
    from sqlmodel import SQLModel

    from kaizen_tui.store import models  # noqa: F401  (registers the tables)

    dialect = sqlite.dialect()
    statements = []
    for table in SQLModel.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements += [str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes]
    return statements


# -- the SQL ------------------------------------------------------------------
#
# Every statement is constant text with ``?`` parameters; rows come back as
# tuples in the order of the column tuples of ``base.py``.

_AGENT_SELECT = f"SELECT {', '.join(AGENT_COLUMNS)} FROM agent"
_SELECT_AGENT = _AGENT_SELECT + " WHERE id = ?"
_AGENT_EXISTS = "SELECT 1 FROM agent WHERE id = ?"
_AGENTS_BY_KEY = _AGENT_SELECT + " WHERE name_key = ?"
_AGENTS_BY_NAME = _AGENT_SELECT + " WHERE name = ?"
_AGENTS_WITHOUT_KEY = _AGENT_SELECT + " WHERE name_key IS NULL"
_DESCRIBED_AGENTS = (
    f"SELECT {', '.join(AGENT_COLUMNS)}, "
    "(SELECT count(*) FROM agent_version v WHERE v.agent_id = agent.id), "
    "(SELECT max(version_number) FROM agent_version v WHERE v.agent_id = agent.id), "
    "EXISTS (SELECT 1 FROM agent_version v INDEXED BY ix_agent_version_content "
    "WHERE v.content_hash = agent.content_hash AND v.agent_id = agent.id), "
    "(SELECT count(*) FROM agent_version v INDEXED BY ix_agent_version_unhashed "
    "WHERE v.agent_id = agent.id AND v.content_hash IS NULL) "
    "FROM agent"
)
#: The order of the agents list; ``service.agent_sort_key`` is the same in Python.
_AGENT_ORDER = " ORDER BY lower(name), id"
_DESCRIBED_KEYS = ("version_count", "latest_version", "saved", "unhashed_versions")
#: How many ids one ``IN (...)`` lists (SQLite allows 32,766 parameters).
_IDS_PER_QUERY = 500
_INSERTED_AGENT_COLUMNS = (*AGENT_COLUMNS, "name_key", "last_version_number")
_INSERT_AGENT = (
    f"INSERT INTO agent ({', '.join(_INSERTED_AGENT_COLUMNS)}) VALUES ({', '.join('?' * len(_INSERTED_AGENT_COLUMNS))})"
)
_DELETE_AGENT_VERSIONS = "DELETE FROM agent_version WHERE agent_id = ?"
_DELETE_AGENT = "DELETE FROM agent WHERE id = ?"
_VERSION_SUMMARY = (
    "SELECT (SELECT count(*) FROM agent_version WHERE agent_id = ?1), "
    "(SELECT max(version_number) FROM agent_version WHERE agent_id = ?1), "
    "EXISTS (SELECT 1 FROM agent_version INDEXED BY ix_agent_version_content "
    "WHERE content_hash = ?2 AND agent_id = ?1), "
    "(SELECT count(*) FROM agent_version INDEXED BY ix_agent_version_unhashed "
    "WHERE agent_id = ?1 AND content_hash IS NULL)"
)

_VERSION_FIELDS = (*VERSION_COLUMNS, "content_hash")
_VERSION_SELECT = f"SELECT {', '.join(_VERSION_FIELDS)} FROM agent_version"
_SELECT_VERSION = _VERSION_SELECT + " WHERE id = ?"
_SELECT_VERSION_NUMBERED = _VERSION_SELECT + " WHERE agent_id = ? AND version_number = ?"
_VERSION_PAGE = _VERSION_SELECT + " WHERE agent_id = ? ORDER BY version_number DESC LIMIT ? OFFSET ?"
_VERSION_PAGE_HASHED = (
    f"SELECT {', '.join(_VERSION_FIELDS).replace('config_snapshot', 'CASE WHEN content_hash IS NULL THEN config_snapshot END')} "
    "FROM agent_version WHERE agent_id = ? ORDER BY version_number DESC LIMIT ? OFFSET ?"
)
_VERSIONS_BEFORE = _VERSION_SELECT + " WHERE agent_id = ? AND version_number < ? ORDER BY version_number DESC LIMIT ?"
#: The hash decides which index: an agent's versions by number would read every one of them.
_VERSIONS_WITH_HASH = (
    f"SELECT {', '.join(_VERSION_FIELDS)} FROM agent_version INDEXED BY ix_agent_version_content "
    "WHERE agent_id = ? AND content_hash = ? ORDER BY version_number DESC"
)
_VERSIONS_WITHOUT_HASH = (
    f"SELECT {', '.join(_VERSION_FIELDS)} FROM agent_version INDEXED BY ix_agent_version_unhashed "
    "WHERE agent_id = ? AND content_hash IS NULL ORDER BY version_number DESC"
)
_KEEP_THRESHOLD = (
    "SELECT version_number FROM agent_version WHERE agent_id = ? ORDER BY version_number DESC LIMIT 1 OFFSET ?"
)
#: What a prune deletes: older than the oldest kept, and no newer than what a person was shown.
#: A version a label names is never among them.
_DOOMED = (
    "agent_id = ?1 AND version_number < ?2 AND version_number <= ?3 "
    "AND id NOT IN (SELECT version_id FROM agent_label WHERE agent_id = ?1)"
)
_DOOMED_RANGE = f"SELECT count(*), min(version_number), max(version_number) FROM agent_version WHERE {_DOOMED}"
_DELETE_DOOMED = f"DELETE FROM agent_version WHERE {_DOOMED}"
_DELETE_VERSION = "DELETE FROM agent_version WHERE id = ?"
#: The next number: past the agent's counter and past any number a row
#: written by another tool already has, in one statement under the write lock.
_NEXT_NUMBER = (
    "UPDATE agent SET last_version_number = max(last_version_number, "
    "coalesce((SELECT max(version_number) FROM agent_version WHERE agent_id = ?1), 0)) + 1 "
    "WHERE id = ?1 RETURNING last_version_number"
)
_INSERT_VERSION = (
    f"INSERT INTO agent_version ({', '.join(_VERSION_FIELDS)}) VALUES ({', '.join('?' * len(_VERSION_FIELDS))})"
)

_AUDIT_FIELDS = AUDIT_COLUMNS[1:]
_INSERT_AUDIT = f"INSERT INTO audit_event ({', '.join(_AUDIT_FIELDS)}) VALUES ({', '.join('?' * len(_AUDIT_FIELDS))})"
_AUDIT_SELECT = f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit_event"
_AUDIT_LOG = _AUDIT_SELECT + " WHERE id < ? ORDER BY id DESC LIMIT ?"
_AUDIT_LOG_OF_AGENT = _AUDIT_SELECT + " WHERE agent_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
_NEWEST_AUDIT_ID = "SELECT max(id) FROM audit_event"
_AGENTS_CHANGED_BETWEEN = "SELECT DISTINCT agent_id FROM audit_event WHERE id > ? AND id <= ? LIMIT ?"
SQLITE_MAX_INTEGER = 2**63 - 1

#: Export and import: pages by number or event id within one agent; lookups of a batch by ids or numbers.
_EXPORTED_AGENT_COLUMNS = (*AGENT_COLUMNS, "last_version_number")
_AGENTS_TO_EXPORT = f"SELECT {', '.join(_EXPORTED_AGENT_COLUMNS)} FROM agent"
_VERSIONS_AFTER = _VERSION_SELECT + " WHERE agent_id = ? AND version_number > ? ORDER BY version_number LIMIT ?"
_AUDIT_EVENTS_AFTER = _AUDIT_SELECT + " WHERE agent_id = ? AND id > ? ORDER BY id LIMIT ?"
#: Events of no agent, or of an agent deleted since (a whole-database export carries them too).
_UNOWNED_AUDIT_EVENTS_AFTER = _AUDIT_SELECT + (
    " e WHERE id > ? AND (agent_id IS NULL OR NOT EXISTS (SELECT 1 FROM agent a WHERE a.id = e.agent_id)) "
    "ORDER BY id LIMIT ?"
)
_VERSIONS_BY_ID = _VERSION_SELECT + " WHERE id IN "
_VERSIONS_WITH_NUMBERS = _VERSION_SELECT + " WHERE agent_id = ? AND version_number IN "
#: An id already there is skipped (the caller counts what went in): only a version of another agent can have it.
_INSERT_NEW_VERSIONS = _INSERT_VERSION + " ON CONFLICT (id) DO NOTHING"
_RAISE_VERSION_COUNTER = "UPDATE agent SET last_version_number = ?1 WHERE id = ?2 AND last_version_number < ?1"


_INSERT_TOKEN = f"INSERT INTO api_token ({', '.join(TOKEN_COLUMNS)}) VALUES ({', '.join('?' * len(TOKEN_COLUMNS))})"
_TOKEN_BY_HASH = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_token WHERE secret_hash = ?"
_TOKENS = f"SELECT {', '.join(TOKEN_COLUMNS)} FROM api_token ORDER BY name"
_DELETE_TOKEN = "DELETE FROM api_token WHERE name = ?"


def _agent_row(row: Sequence[Any]) -> Row:
    agent = dict(zip(AGENT_COLUMNS, row))
    agent["extra"] = decode_extra(agent["id"], agent["extra"])
    return agent


def decode_extra(agent_id: str, stored: Any) -> dict[str, Any]:
    """The stored ``extra`` of an agent as a dict (SQLite keeps it as JSON text)."""
    try:
        extra = json.loads(stored) if isinstance(stored, (str, bytes)) else stored
    except ValueError:
        extra = None
    if extra is None and stored in (None, "null"):
        return {}
    if not isinstance(extra, dict):
        raise DatabaseError(
            f"The stored 'extra' field of agent {agent_id} is not a JSON object; "
            "another tool may have written it. Nothing was changed."
        )
    return extra


def encode_extra(extra: Mapping[str, Any]) -> str:
    return json.dumps(extra, ensure_ascii=False, sort_keys=True)


def _version_row(row: Sequence[Any]) -> Row:
    return dict(zip(_VERSION_FIELDS, row))


#: A version's (an audit event's) values in the order of the INSERT's columns.
_version_values = operator.itemgetter(*_VERSION_FIELDS)
_audit_values = operator.itemgetter(*_AUDIT_FIELDS)


def _placeholders(values: Sequence[object]) -> str:
    """``(?, ?, ?)``: an ``IN`` list of as many parameters as ``values`` (at most :data:`_IDS_PER_QUERY`)."""
    return f"({', '.join('?' * len(values))})"


def _storable(value: object) -> bool:
    """Can this be sent to the database as a key at all (text, no lone surrogates)?"""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SQLiteTransaction(LabelStatements):
    """The statements of one transaction on a ``sqlite3`` connection (see ``base.Transaction``)."""

    __slots__ = ("connection",)
    LABEL_SQL = label_sql("?", "", SQLITE_MAX_INTEGER)

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    # -- agents

    def agent(self, agent_id: str) -> Row | None:
        if not _storable(agent_id):
            return None
        row = self.connection.execute(_SELECT_AGENT, (agent_id,)).fetchone()
        return _agent_row(row) if row else None

    def agent_exists(self, agent_id: str) -> bool:
        return _storable(agent_id) and self.connection.execute(_AGENT_EXISTS, (agent_id,)).fetchone() is not None

    def agents_by_name_key(self, key: str) -> list[Row]:
        return [_agent_row(row) for row in self.connection.execute(_AGENTS_BY_KEY, (key,))] if _storable(key) else []

    def agents_by_exact_name(self, name: str) -> list[Row]:
        return [_agent_row(row) for row in self.connection.execute(_AGENTS_BY_NAME, (name,))] if _storable(name) else []

    def agents_without_name_key(self) -> list[Row]:
        return [_agent_row(row) for row in self.connection.execute(_AGENTS_WITHOUT_KEY)]

    def described_agents(self, ids: Sequence[str] | None = None) -> list[Row]:
        if ids is None:
            rows = self.connection.execute(_DESCRIBED_AGENTS + _AGENT_ORDER).fetchall()
        else:
            rows = []
            wanted = sorted({agent_id for agent_id in ids if _storable(agent_id)})
            for chunk in chunks(wanted, _IDS_PER_QUERY):
                query = f"{_DESCRIBED_AGENTS} WHERE id IN ({', '.join('?' * len(chunk))})"
                rows += self.connection.execute(query, chunk).fetchall()
        width = len(AGENT_COLUMNS)
        agents = []
        for row in rows:
            agent = _agent_row(row[:width])
            agent.update(zip(_DESCRIBED_KEYS, row[width:]))
            agent["saved"] = bool(agent["saved"])
            agents.append(agent)
        return agents

    def insert_agent(self, agent: Mapping[str, Any]) -> None:
        values = [agent[key] for key in AGENT_COLUMNS]
        values[AGENT_COLUMNS.index("extra")] = encode_extra(agent["extra"])
        try:
            self.connection.execute(_INSERT_AGENT, (*values, agent["name_key"], 0))
        except sqlite3.IntegrityError as error:
            raise _name_taken(error, agent["name"]) from None

    def update_agent(self, agent_id: str, values: Mapping[str, Any]) -> None:
        if not SETTABLE_AGENT_COLUMNS.issuperset(values):
            raise ValueError(f"not agent columns: {sorted(set(values) - SETTABLE_AGENT_COLUMNS)}")
        stored = [encode_extra(value) if key == "extra" else value for key, value in values.items()]
        assignments = ", ".join(f"{key} = ?" for key in values)
        try:
            self.connection.execute(f"UPDATE agent SET {assignments} WHERE id = ?", (*stored, agent_id))
        except sqlite3.IntegrityError as error:
            raise _name_taken(error, str(values.get("name", ""))) from None

    def delete_agent(self, agent_id: str) -> int:
        deleted = self.connection.execute(_DELETE_AGENT_VERSIONS, (agent_id,)).rowcount
        self.connection.execute(_DELETE_AGENT, (agent_id,))
        return deleted

    def version_summary(self, agent_id: str, live_hash: str) -> tuple[int, int | None, bool, int]:
        count, newest, saved, unhashed = self.connection.execute(_VERSION_SUMMARY, (agent_id, live_hash)).fetchone()
        return count, newest, bool(saved), unhashed

    # -- versions

    def next_version_number(self, agent_id: str) -> int:
        (number,) = self.connection.execute(_NEXT_NUMBER, (agent_id,)).fetchone()
        return number

    def insert_version(self, version: Mapping[str, Any]) -> None:
        self.connection.execute(_INSERT_VERSION, tuple(version[key] for key in _VERSION_FIELDS))

    def version(self, version_id: str) -> Row | None:
        if not _storable(version_id):
            return None
        row = self.connection.execute(_SELECT_VERSION, (version_id,)).fetchone()
        return _version_row(row) if row else None

    def version_numbered(self, agent_id: str, number: int) -> Row | None:
        if not 0 <= number <= SQLITE_MAX_INTEGER:
            return None
        row = self.connection.execute(_SELECT_VERSION_NUMBERED, (agent_id, number)).fetchone()
        return _version_row(row) if row else None

    def version_page(self, agent_id: str, limit: int | None, offset: int, *, snapshots: bool = True) -> list[Row]:
        if not _storable(agent_id):  # get_versions reads the page before it looks for the agent
            return []
        parameters = (agent_id, -1 if limit is None else limit, offset)
        query = _VERSION_PAGE if snapshots else _VERSION_PAGE_HASHED
        return [_version_row(row) for row in self.connection.execute(query, parameters)]

    def versions_before(self, agent_id: str, number: int, limit: int | None = None) -> list[Row]:
        parameters = (agent_id, number, -1 if limit is None else limit)
        return [_version_row(row) for row in self.connection.execute(_VERSIONS_BEFORE, parameters)]

    def versions_with_hash(self, agent_id: str, content_hash: str | None) -> list[Row]:
        if content_hash is None:
            cursor = self.connection.execute(_VERSIONS_WITHOUT_HASH, (agent_id,))
        else:
            cursor = self.connection.execute(_VERSIONS_WITH_HASH, (agent_id, content_hash))
        return [_version_row(row) for row in cursor]

    def keep_threshold(self, agent_id: str, keep: int) -> int | None:
        row = self.connection.execute(_KEEP_THRESHOLD, (agent_id, keep - 1)).fetchone()
        return row[0] if row else None

    def delete_version(self, version_id: str) -> None:
        self.connection.execute(_DELETE_VERSION, (version_id,))

    def delete_versions(self, agent_id: str, below: int, at_most: int) -> tuple[int, int | None, int | None]:
        bounds = (agent_id, below, min(at_most, SQLITE_MAX_INTEGER))
        count, oldest, newest = self.connection.execute(_DOOMED_RANGE, bounds).fetchone()
        if count:
            self.connection.execute(_DELETE_DOOMED, bounds)
        return count, oldest, newest

    # -- API tokens

    def insert_token(self, token: Mapping[str, Any]) -> None:
        try:
            self.connection.execute(_INSERT_TOKEN, tuple(token[key] for key in TOKEN_COLUMNS))
        except sqlite3.IntegrityError as error:
            raise TokenExists(str(token["name"])) from error

    def token_by_hash(self, secret_hash: str) -> Row | None:
        row = self.connection.execute(_TOKEN_BY_HASH, (secret_hash,)).fetchone()
        return dict(zip(TOKEN_COLUMNS, row)) if row else None

    def tokens(self) -> list[Row]:
        return [dict(zip(TOKEN_COLUMNS, row)) for row in self.connection.execute(_TOKENS)]

    def delete_token(self, name: str) -> bool:
        return self.connection.execute(_DELETE_TOKEN, (name,)).rowcount > 0

    # -- audit

    def insert_audit(self, event: Mapping[str, Any]) -> None:
        self.connection.execute(_INSERT_AUDIT, tuple(event[key] for key in _AUDIT_FIELDS))

    def audit_log(self, agent_id: str | None, limit: int, before: int | None = None) -> list[Row]:
        # Past SQLite's INTEGER, a bound means "all of them" (sqlite3 cannot even send such a number).
        below = SQLITE_MAX_INTEGER if before is None else min(before, SQLITE_MAX_INTEGER)
        limit = min(limit, SQLITE_MAX_INTEGER)
        if agent_id is None:
            rows = self.connection.execute(_AUDIT_LOG, (below, limit))
        else:
            rows = self.connection.execute(_AUDIT_LOG_OF_AGENT, (agent_id, below, limit))
        return [dict(zip(AUDIT_COLUMNS, row)) for row in rows]

    def newest_audit_id(self) -> int:
        return self.connection.execute(_NEWEST_AUDIT_ID).fetchone()[0] or 0

    def agents_changed_between(self, since: int, until: int, limit: int) -> list[str | None]:
        return [agent_id for (agent_id,) in self.connection.execute(_AGENTS_CHANGED_BETWEEN, (since, until, limit))]

    # -- export and import

    def agents_to_export(self, ids: Sequence[str] | None = None) -> list[Row]:
        if ids is None:
            rows = self.connection.execute(_AGENTS_TO_EXPORT).fetchall()
        else:
            rows = []
            for chunk in chunks((agent_id for agent_id in ids if _storable(agent_id)), _IDS_PER_QUERY):
                rows += self.connection.execute(f"{_AGENTS_TO_EXPORT} WHERE id IN {_placeholders(chunk)}", chunk)
        width = len(AGENT_COLUMNS)
        agents = []
        for row in rows:
            agent = _agent_row(row[:width])
            agent["last_version_number"] = row[width]
            agents.append(agent)
        return agents

    def versions_after(self, agent_id: str, after: int, limit: int) -> list[Row]:
        return [_version_row(row) for row in self.connection.execute(_VERSIONS_AFTER, (agent_id, after, limit))]

    def audit_events_after(self, agent_id: str, after: int, limit: int) -> list[Row]:
        rows = self.connection.execute(_AUDIT_EVENTS_AFTER, (agent_id, after, limit))
        return [dict(zip(AUDIT_COLUMNS, row)) for row in rows]

    def unowned_audit_events_after(self, after: int, limit: int) -> list[Row]:
        rows = self.connection.execute(_UNOWNED_AUDIT_EVENTS_AFTER, (after, limit))
        return [dict(zip(AUDIT_COLUMNS, row)) for row in rows]

    def versions_by_id(self, ids: Sequence[str]) -> list[Row]:
        found = []
        for chunk in chunks((version_id for version_id in ids if _storable(version_id)), _IDS_PER_QUERY):
            found += [
                _version_row(row) for row in self.connection.execute(_VERSIONS_BY_ID + _placeholders(chunk), chunk)
            ]
        return found

    def versions_with_numbers(self, agent_id: str, numbers: Sequence[int]) -> list[Row]:
        found = []
        for chunk in chunks((number for number in numbers if 0 <= number <= SQLITE_MAX_INTEGER), _IDS_PER_QUERY):
            query = _VERSIONS_WITH_NUMBERS + _placeholders(chunk)
            found += [_version_row(row) for row in self.connection.execute(query, (agent_id, *chunk))]
        return found

    def insert_agents(self, agents: Sequence[Mapping[str, Any]]) -> None:
        extra_at = AGENT_COLUMNS.index("extra")
        rows = []
        for agent in agents:
            values = [agent[key] for key in _INSERTED_AGENT_COLUMNS]
            values[extra_at] = encode_extra(agent["extra"])
            rows.append(values)
        try:
            self.connection.executemany(_INSERT_AGENT, rows)
        except sqlite3.IntegrityError as error:
            raise _name_taken(error, ", ".join(str(agent["name"]) for agent in agents)) from None

    def insert_versions(self, versions: Sequence[Mapping[str, Any]]) -> int:
        rows = list(map(_version_values, versions))
        return self.connection.executemany(_INSERT_NEW_VERSIONS, rows).rowcount if rows else 0

    def insert_audit_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.connection.executemany(_INSERT_AUDIT, list(map(_audit_values, events)))

    def raise_version_counter(self, agent_id: str, number: int) -> bool:
        return self.connection.execute(_RAISE_VERSION_COUNTER, (number, agent_id)).rowcount > 0


def _name_taken(error: sqlite3.IntegrityError, name: str) -> Exception:
    """A write refused by the unique index on names (a race the service's own check did not see)."""
    if "name_key" in str(error):
        return NameTaken(name, name, "another agent")
    return error
