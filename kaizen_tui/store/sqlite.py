"""Opening a database: where it lives, connections, pragmas, schema and its version.

kaizen-tui keeps its data in one SQLite file, reached through the standard
library's ``sqlite3`` driver:

* WAL journal with ``synchronous=FULL``: readers never block the writer, and a
  write that was acknowledged survives a crash of the process or the machine.
* Every write transaction starts with ``BEGIN IMMEDIATE``, so two processes
  never both read under a shared lock and then deadlock upgrading it; the
  second simply waits (``busy_timeout``) for the first to commit.
* The file is created readable by its owner only.
* ``PRAGMA application_id`` marks our files and ``PRAGMA user_version`` holds
  the schema version; a file from a newer kaizen-tui is refused, never touched.

Why not SQLAlchemy here: the tables are declared with SQLModel
(``models.py``), but going through SQLAlchemy's connection and transaction
machinery cost more than SQLite's own work on every snapshot, and importing it
was a third of the program's start. So SQLModel is imported only to write the
schema of a new file; everything else is plain SQL on ``sqlite3``.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from kaizen_tui.core.errors import DatabaseBusy, DatabaseError, ReadOnlyDatabase, SchemaTooNew

SCHEMA_VERSION = 1
#: "KZNT": written into every database we create, to recognise our files.
APPLICATION_ID = 0x4B5A4E54
#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_SECONDS = 15.0
SQLITE_HEADER = b"SQLite format 3\x00"
PAGE_SIZE = 8192
#: Connections kept open between operations (the service runs them on a few threads).
IDLE_CONNECTIONS = 4

_AUDIT_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_event_append_only_update
       BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_append_only_delete
       BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
)
_LIST_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"


def default_db_path() -> Path:
    """The per-user database: ``~/.local/share/kaizen-tui/kaizen.db`` on Linux."""
    from platformdirs import user_data_path

    return user_data_path("kaizen-tui") / "kaizen.db"


def is_url(target: str) -> bool:
    return "://" in target


@dataclass(eq=False)
class Database:
    """An open SQLite file: hands out connections in read or write transactions.

    Connections are made on demand and kept (up to :data:`IDLE_CONNECTIONS`)
    for the next operation; each is used by one thread at a time.
    """

    path: Path
    read_only: bool = False
    read_only_reason: str = ""
    _idle: list[sqlite3.Connection] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    @property
    def display_name(self) -> str:
        """What to show a person: the file's path."""
        return str(self.path)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection in a read transaction: one consistent snapshot of the data."""
        with self._transaction("BEGIN") as connection:
            yield connection

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """A connection whose transaction holds the write lock from its first statement.

        It commits when the block ends and rolls back if the block raises.
        """
        if self.read_only:
            raise ReadOnlyDatabase(self.read_only_reason or "the database is open read-only")
        with self._transaction("BEGIN IMMEDIATE") as connection:
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
        return _connect(self.path, self.read_only)

    def _release(self, connection: sqlite3.Connection, reusable: bool) -> None:
        """Keep a connection for the next operation, unless it failed, enough are kept or we are closed."""
        if reusable and not connection.in_transaction:
            with self._lock:
                if len(self._idle) < IDLE_CONNECTIONS and not self._closed:
                    self._idle.append(connection)
                    return
        connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


@contextmanager
def translate_errors(db: Database | None = None) -> Iterator[None]:
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
            f"({error.object[max(0, error.start - 20):error.end]!r}). Nothing was changed."
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


def open_database(target: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Database:
    """Open (and if needed create) the SQLite database at a path or ``sqlite:///`` URL."""
    if target is None:
        path = default_db_path()
        if not read_only:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return _open_sqlite(path, read_only)
    text = os.fspath(target)
    if not text.strip():
        raise DatabaseError("The database path is empty.")
    if is_url(text):
        return _open_sqlite(sqlite_path_of(text), read_only)
    return _open_sqlite(Path(text), read_only)


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
            f"Cannot use {shown}: kaizen-tui keeps its data in SQLite files; give a path or sqlite:///path."
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


def _open_sqlite(path: Path, read_only: bool) -> Database:
    path = path.expanduser().absolute()
    reason = "the database is open read-only (--read-only)" if read_only else ""
    _check_path(path, must_exist=read_only)
    if not path.exists():
        _create_private_file(path)
    elif not os.access(path, os.W_OK):
        read_only, reason = True, f"{path} is read-only"
    elif not os.access(path.parent, os.W_OK):
        read_only, reason = True, f"the folder {path.parent} is read-only"
    _check_header(path)
    db = Database(path=path, read_only=read_only, read_only_reason=reason)
    try:
        _prepare_schema(db)
    except BaseException:
        db.close()
        raise
    return db


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
    # isolation_level=None: the driver never begins on its own; Database does.
    # check_same_thread=False: a connection moves between the service's worker
    # threads, but Database gives it to one of them at a time.
    connection = sqlite3.connect(
        target, uri=uri, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None
    )
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _prepare_schema(db: Database) -> None:
    """Check the file is ours and current; create the schema in a new file."""
    with db.reading() as connection:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        user_version = connection.execute("PRAGMA user_version").fetchone()[0] or 0
        tables = {row[0] for row in connection.execute(_LIST_TABLES)}
    if tables and application_id != APPLICATION_ID:
        raise DatabaseError(
            f"{db.display_name} is a SQLite database of another program "
            f"(tables: {', '.join(sorted(tables)[:5])}); it was not modified."
        )
    if user_version > SCHEMA_VERSION:
        raise SchemaTooNew(user_version, SCHEMA_VERSION)
    if tables:
        return
    if db.read_only:
        raise DatabaseError(f"{db.display_name} holds no kaizen-tui data yet, and it is open read-only.")
    _create_schema(db)


def _create_schema(db: Database) -> None:
    """Write the tables of ``models.py``, the triggers and our marks into a new file."""
    with translate_errors(db):
        connection = _connect(db.path, read_only=False)
        try:
            # Not allowed inside a transaction. 8 KiB pages hold three ~2 KB
            # snapshots where 4 KiB pages hold one: a third less space per
            # version. Only a file without tables can still take it.
            connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            connection.execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()
    with db.writing() as connection:
        # Another process may have created it while we waited for the lock.
        if connection.execute(_LIST_TABLES).fetchone() is not None:
            return
        for statement in schema_statements():
            connection.execute(statement)
        for trigger in _AUDIT_TRIGGERS:
            connection.execute(trigger)
        connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


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
