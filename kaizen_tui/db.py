"""Opening a database: where it lives, engine, pragmas, schema and its version.

SQLite is the default and gets the most care:

* WAL journal with ``synchronous=FULL``: readers never block the writer, and a
  write that was acknowledged survives a crash of the process or the machine.
* Every write transaction starts with ``BEGIN IMMEDIATE``, so two processes
  never both read under a shared lock and then deadlock upgrading it; the
  second simply waits (``busy_timeout``) for the first to commit.
* The file is created readable by its owner only.
* ``PRAGMA application_id`` marks our files and ``PRAGMA user_version`` holds
  the schema version; a file from a newer kaizen-tui is refused, never touched.

Any other SQLAlchemy URL is opened as it is, with the same tables.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url
from sqlalchemy.pool import QueuePool
from sqlmodel import SQLModel

from kaizen_tui import models  # noqa: F401  (registers the tables)
from kaizen_tui.errors import DatabaseBusy, DatabaseError, ReadOnlyDatabase, SchemaTooNew

SCHEMA_VERSION = 1
#: "KZNT": written into every database we create, to recognise our files.
APPLICATION_ID = 0x4B5A4E54
#: How long a writer waits for another process's transaction before giving up.
BUSY_TIMEOUT_SECONDS = 15.0
SQLITE_HEADER = b"SQLite format 3\x00"
PAGE_SIZE = 8192

_WRITE_OPTION = "kaizen_write"

_AUDIT_TRIGGERS = (
    """CREATE TRIGGER IF NOT EXISTS audit_event_append_only_update
       BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_append_only_delete
       BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
)


def default_db_path() -> Path:
    """The per-user database: ``~/.local/share/kaizen-tui/kaizen.db`` on Linux."""
    from platformdirs import user_data_path

    return user_data_path("kaizen-tui") / "kaizen.db"


def is_url(target: str) -> bool:
    return "://" in target


@dataclass
class Database:
    """An open database: one engine for reads, one that begins write transactions."""

    url: str
    engine: Engine
    read_only: bool = False
    read_only_reason: str = ""
    path: Path | None = None
    write_engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})

    @property
    def display_name(self) -> str:
        """What to show a person: the file path, or the URL without a password."""
        if self.path is not None:
            return str(self.path)
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection in a read transaction: one consistent snapshot of the data."""
        with translate_errors(self), self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """A connection whose transaction holds the write lock from its first statement."""
        if self.read_only:
            raise ReadOnlyDatabase(self.read_only_reason or "the database is open read-only")
        with translate_errors(self), self.write_engine.connect() as connection, connection.begin():
            yield connection

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def translate_errors(db: Database | None = None) -> Iterator[None]:
    """Turn driver errors into :class:`DatabaseError` with a sentence a person can act on."""
    where = db.display_name if db else "the database"
    try:
        yield
    except exc.DBAPIError as error:
        raise _database_error(error.orig, where) from None
    except sqlite3.Error as error:
        raise _database_error(error, where) from None


def _database_error(error: BaseException | None, where: str) -> DatabaseError:
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
        return _open_sqlite(_sqlite_path_of(text), read_only)
    return _open_sqlite(Path(text), read_only)


def _sqlite_path_of(url: str) -> Path:
    """The file a SQLAlchemy URL names; only SQLite files are supported.

    The hot paths use SQLite's SQL and the file's pragmas carry durability
    and our schema marks, so other backends and in-memory databases are
    refused rather than half-supported.
    """
    try:
        parsed = make_url(url)
    except (exc.ArgumentError, ValueError):
        # The message would repeat the URL, password and all.
        raise DatabaseError("The database URL is not a valid SQLAlchemy URL (sqlite:///path/to/file.db).") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() != "sqlite":
        raise DatabaseError(
            f"Cannot use {shown}: kaizen-tui keeps its data in SQLite files; give a path or sqlite:///path."
        )
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        raise DatabaseError(f"Cannot use {shown}: name a database file (sqlite:///path/to/file.db).")
    if parsed.query:
        raise DatabaseError(f"Cannot use {shown}: URL options are not supported; use --read-only for read-only.")
    return Path(parsed.database)


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

    engine = create_engine(
        f"sqlite:///{path}",
        creator=lambda: _connect(path, read_only),
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=8,
    )
    event.listen(engine, "begin", _begin)
    db = Database(url=f"sqlite:///{path}", engine=engine, read_only=read_only, read_only_reason=reason, path=path)
    try:
        _prepare_schema(db)
    except BaseException:
        engine.dispose()
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
    # isolation_level=None: the driver never begins on its own; _begin does.
    connection = sqlite3.connect(
        target, uri=uri, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None
    )
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _begin(connection) -> None:  # noqa: ANN001  (a SQLAlchemy Connection)
    """Begin each transaction: IMMEDIATE (take the write lock now) for writes."""
    write = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _prepare_schema(db: Database) -> None:
    """Check the file is ours and current; create the schema in a new file."""
    with translate_errors(db), db.engine.connect() as connection:
        application_id = connection.exec_driver_sql("PRAGMA application_id").scalar()
        user_version = connection.exec_driver_sql("PRAGMA user_version").scalar() or 0
        tables = {
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        connection.rollback()
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
    with translate_errors(db):
        # Not allowed inside a transaction, so past SQLAlchemy's autobegin.
        raw = db.engine.raw_connection()
        try:
            # 8 KiB pages hold three ~2 KB snapshots where 4 KiB pages hold
            # one: a third less space per version. Only a new file can take it.
            raw.driver_connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            raw.driver_connection.execute("PRAGMA journal_mode = WAL")
        finally:
            raw.close()
    with translate_errors(db), db.write_engine.begin() as connection:
        SQLModel.metadata.create_all(connection)
        for trigger in _AUDIT_TRIGGERS:
            connection.exec_driver_sql(trigger)
        connection.exec_driver_sql(f"PRAGMA application_id = {APPLICATION_ID}")
        connection.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
