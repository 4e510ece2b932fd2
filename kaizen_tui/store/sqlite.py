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
``sqlite3``: the statements both backends share (``statements.py``, in the
SQLite dialect), run by :class:`SQLiteTransaction`. This module keeps what is
SQLite's own: the file (creating it private, its header, pages and WAL,
read-only detection), connections, errors, and upgrading a file in memory.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from kaizen_tui.core.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseNotFound,
    ReadOnlyDatabase,
    SchemaTooNew,
)
from kaizen_tui.store.base import AUDIT_COLUMNS, LABEL_EVENT_COLUMNS, Store
from kaizen_tui.store.ddl import APPLICATION_ID, SCHEMA_VERSION, schema_statements
from kaizen_tui.store.dialect import SQLITE
from kaizen_tui.store.sqlite_migrations import TRIGGERS, migrate
from kaizen_tui.store.statements import INSERTED_AGENT_COLUMNS, VERSION_FIELDS, SQLTransaction

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

    def read_from_memory(self, memory: str, keeper: sqlite3.Connection) -> None:
        """From now on, connect to the database in memory at URI ``memory``, which ``keeper`` keeps alive."""
        self._keeper = keeper
        self.connect_to = memory
        with self._lock:  # connections kept so far read the file itself
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

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
_ALL_AGENT_COLUMNS = ", ".join(INSERTED_AGENT_COLUMNS)
_ALL_VERSION_COLUMNS = ", ".join(VERSION_FIELDS)
_AUDIT_COPIED = ", ".join(AUDIT_COLUMNS[1:])
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
            for statement in (*schema_statements(SQLITE), *TRIGGERS):
                keeper.execute(statement)
            keeper.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            keeper.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            keeper.close()
            raise
    store.read_from_memory(memory, keeper)
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
    store.read_from_memory(memory, keeper)
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
        for statement in schema_statements(SQLITE):
            connection.execute(statement)
        for trigger in TRIGGERS:
            connection.execute(trigger)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    # Another process may have made an older schema while we waited: bring it up.
    with translate_errors(store):
        migrate(store.connection)


class SQLiteTransaction(SQLTransaction):
    """The statements of one transaction on a ``sqlite3`` connection (see ``base.Transaction``)."""

    __slots__ = ()
    DIALECT = SQLITE
    UNIQUE_VIOLATION = sqlite3.IntegrityError

    def _name_index_refused(self, error: Exception) -> bool:
        return "name_key" in str(error)
