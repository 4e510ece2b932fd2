"""The PostgreSQL store: a team's shared database through psycopg 3 and its connection pool.

The same tables, statements (``statements.py``, in PostgreSQL's dialect), rules
and guarantees as the SQLite store (``sqlite.py``):

* Writers are serialised by a transaction-level advisory lock taken in the
  same round trip as ``BEGIN``, which is what SQLite's ``BEGIN IMMEDIATE``
  gives: a write transaction reads only what every earlier writer committed,
  so compare-and-swap on revisions and version numbering hold across any
  number of processes and machines. Readers never wait for it: a read is one
  ``REPEATABLE READ READ ONLY`` snapshot.
* The audit log is append-only in the database itself (triggers refuse
  ``UPDATE``, ``DELETE`` and ``TRUNCATE``), and a snapshot whose text another
  tool rewrote without its hash loses the hash, as on SQLite.
* ``kaizen_meta`` marks our schema (the application id and the schema version)
  and counts commits: a statement trigger on every table bumps the counter
  and sends ``NOTIFY kaizen_tui``, so :meth:`PostgresStore.change_token` is one
  primary-key read and :meth:`PostgresStore.subscribe` wakes a screen within
  milliseconds of another process's commit, without polling.
* Schema changes are numbered migrations (``postgres_migrations.py``), each in
  one transaction under an advisory lock: PostgreSQL's DDL is transactional.

A server that is down, refuses the password, or is the wrong database is one
sentence naming the host and port (never the password), raised as
:class:`~kaizen_tui.core.errors.DatabaseUnavailable`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from kaizen_tui.core.errors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseUnavailable,
    KaizenError,
    ReadOnlyDatabase,
    SchemaTooNew,
)
from kaizen_tui.store.base import Store, Transaction
from kaizen_tui.store.ddl import APPLICATION_ID, SCHEMA_VERSION
from kaizen_tui.store.dialect import POSTGRESQL
from kaizen_tui.store.postgres_migrations import CHANGE_CHANNEL, create_schema, migrate, schema_state
from kaizen_tui.store.statements import AUDIT_FIELDS, VERSION_FIELDS, SQLTransaction

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

log = logging.getLogger(__name__)

#: How long a connection attempt may take before the server counts as unreachable.
CONNECT_TIMEOUT_SECONDS = 5
#: How long a writer waits for another's transaction (the advisory lock) before giving up.
LOCK_TIMEOUT_SECONDS = 15
#: How long an operation waits for a pooled connection before asking the server directly whether it is up
#: (the pool retries a server that went away in the background, silently).
POOL_FIRST_WAIT_SECONDS = 0.5
#: How long it then waits for a connection of a busy pool.
POOL_WAIT_SECONDS = 10.0
#: How long the pool retries a lost connection on its own, 1 s, 2 s, 4 s... apart, before it leaves
#: the next one to the next request (which connects at once). Once a server is back, a request so
#: waits at most this long for a connection: with the pool's default (5 minutes) its retries grew
#: apart during an outage, and the first request after a 20 s one waited 10 s and still got a 503.
POOL_RECONNECT_SECONDS = 2.0
#: Connections the pool keeps: the service's 8 worker threads, plus callers of change_token.
POOL_SIZE = 10
#: The advisory lock every write transaction holds: "KZNT" plus 1.
WRITE_LOCK_KEY = APPLICATION_ID * 16 + 1


@dataclass(frozen=True)
class Server:
    """Where a URL points, as a person should see it: never with the password."""

    host: str
    port: str
    database: str
    user: str

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def display_name(self) -> str:
        return f"postgresql://{self.user + '@' if self.user else ''}{self.where}/{self.database}"


def parse_url(url: str) -> tuple[str, Server]:
    """The libpq connection string of a ``postgresql://`` URL, and the server it names."""
    scheme, _, rest = url.partition("://")
    if "+" in scheme:  # SQLAlchemy's driver suffix: postgresql+psycopg://
        url = "postgresql://" + rest
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise DatabaseError(f"The PostgreSQL URL is not valid ({_first_line(error)}).") from None
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    if host.startswith("/"):
        host = f"socket {host}"
    server = Server(
        host=host,
        port=str(params.get("port") or "5432"),
        database=str(params.get("dbname") or params.get("user") or ""),
        user=str(params.get("user") or ""),
    )
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    params.setdefault("application_name", "kaizen-tui")
    return make_conninfo("", **params), server


@dataclass(eq=False)
class PostgresStore:
    """An open PostgreSQL database: hands out transactions on pooled connections."""

    conninfo: str
    server: Server
    read_only: bool = False
    read_only_reason: str = ""
    _notices: list[str] = field(default_factory=list, repr=False)
    _pool: ConnectionPool | None = field(default=None, repr=False)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _listeners: list[ChangeListener] = field(default_factory=list, repr=False)
    #: Closed: no pool is opened again (a worker still running when the app closed the store would leak one).
    _closed: bool = field(default=False, repr=False)
    #: Since when (monotonic) the server has been unreachable; None while it answers.
    _unreachable_since: float | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.server.display_name

    @property
    def display_name(self) -> str:
        """The server and database, as ``postgresql://user@host:port/db`` (never the password)."""
        return self.server.display_name

    @property
    def notices(self) -> list[str]:
        return list(self._notices)

    # -- transactions

    @contextmanager
    def reading(self) -> Iterator[PostgresTransaction]:
        """One consistent snapshot of the data; never waits for a writer."""
        with self._transaction("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", write=False) as connection:
            yield PostgresTransaction(connection)

    @contextmanager
    def writing(self) -> Iterator[PostgresTransaction]:
        """A transaction holding the write lock from its first statement; commits when the block ends."""
        if self.read_only:
            raise ReadOnlyDatabase(self.read_only_reason or "the database is open read-only")
        begin = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
        with self._transaction(begin, write=True) as connection:
            yield PostgresTransaction(connection)

    @contextmanager
    def _transaction(self, begin: str, *, write: bool) -> Iterator[psycopg.Connection[Any]]:
        pool = self._open_pool()
        with self._translate():
            connection = self._begin(pool, begin)
            try:
                try:
                    yield connection
                except BaseException:
                    _roll_back(connection)
                    raise
                try:
                    connection.execute("COMMIT" if write else "ROLLBACK")
                except psycopg.OperationalError as error:
                    if write:
                        raise DatabaseUnavailable(
                            f"Lost the connection to PostgreSQL at {self.server.where} while committing "
                            f"({_first_line(error)}): the change may or may not have been saved; "
                            "look before you try again."
                        ) from None
                    raise
            finally:
                pool.putconn(connection)

    def _begin(self, pool: ConnectionPool, begin: str) -> psycopg.Connection[Any]:
        """A pooled connection with ``begin`` run on it; one retry on a fresh connection if the pooled one died.

        A server restart leaves every idle connection dead; nothing has been
        sent on this one yet, so trying again on a new connection is safe.
        """
        from psycopg_pool import PoolTimeout

        for attempt in (1, 2):
            try:
                connection = pool.getconn(timeout=POOL_FIRST_WAIT_SECONDS)
            except PoolTimeout:
                # Busy, or the server is gone (the pool only retries in the background): ask it.
                self._raise_if_unreachable()
                try:
                    connection = pool.getconn(timeout=POOL_WAIT_SECONDS)
                except PoolTimeout:
                    raise DatabaseBusy(
                        f"PostgreSQL at {self.server.where} is busy: no connection of this process's pool came "
                        f"free within {POOL_WAIT_SECONDS:.0f} seconds. Nothing was changed; try again."
                    ) from None
            try:
                connection.execute(begin)
                if self._unreachable_since is not None:
                    self._reachable_again()
                return connection
            except psycopg.OperationalError:
                broken = connection.broken or connection.closed
                pool.putconn(connection)
                if not broken or attempt == 2:
                    raise
                pool.check()
        raise AssertionError("unreachable")

    def _raise_if_unreachable(self) -> None:
        """One direct connection: the reason the server gives (down, password...), raised; or nothing."""
        try:
            psycopg.connect(self.conninfo, autocommit=True).close()
        except psycopg.Error as error:
            raise connection_error(error, self.server) from None

    def _open_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._closed:
                raise DatabaseUnavailable(f"{self.display_name} was closed")
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=POOL_SIZE,
                    kwargs={"autocommit": True},
                    configure=_configure,
                    reconnect_timeout=POOL_RECONNECT_SECONDS,
                    name="kaizen-tui",
                    open=False,
                )
                self._pool.open(wait=False)
            return self._pool

    @contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except DatabaseUnavailable as error:
            self._unreachable(error)
            raise
        except KaizenError:
            raise
        except psycopg.Error as error:
            translated = database_error(error, self.server)
            if isinstance(translated, DatabaseUnavailable):
                self._unreachable(translated)
            raise translated from None
        except UnicodeEncodeError as error:
            raise DatabaseError(
                f"Cannot write to {self.display_name}: a value holds text that is not valid Unicode "
                f"({error.object[max(0, error.start - 20) : error.end]!r}). Nothing was changed."
            ) from None

    def _unreachable(self, error: DatabaseUnavailable) -> None:
        """One log line when the server goes away (a server's log says so once, not at every retry)."""
        if self._unreachable_since is None:
            self._unreachable_since = time.monotonic()
            log.info("database unreachable: %s", error)

    def _reachable_again(self) -> None:
        since, self._unreachable_since = self._unreachable_since, None
        if since is not None:
            log.info("database reachable again: %s, after %.1f s", self.display_name, time.monotonic() - since)

    # -- watching

    def change_token(self) -> int | None:
        """The count of commits that changed our tables (``kaizen_meta.changes``): one primary-key read.

        On the hot path of ``get_config``: one statement on an autocommit
        connection of the pool, one round trip (no BEGIN, no ROLLBACK). None
        when it cannot be read at once; the caller then reads the data itself.
        """
        from psycopg_pool import PoolTimeout

        try:
            with self._open_pool().connection(timeout=POOL_FIRST_WAIT_SECONDS) as connection:
                row = connection.execute(_CHANGE_COUNT).fetchone()
        except (psycopg.Error, PoolTimeout):
            return None
        if self._unreachable_since is not None:
            self._reachable_again()
        return int(row[0]) if row else None

    def subscribe(self, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``on_change`` (from a thread of its own) after every commit by anyone: ``LISTEN``.

        Returns the function that stops it. After a lost connection the
        listener reconnects and calls ``on_change`` once, for what it missed.
        """
        listener = ChangeListener(self.conninfo, on_change)
        listener.start()
        self._listeners.append(listener)
        return listener.stop

    # -- copying, closing

    def fill_empty_from(self, source: Store) -> bool:
        """Copy every row of another store in, in one transaction, if this one holds no agent yet."""
        with self.writing() as target, source.reading() as origin:
            if target.agents_to_export():
                return False
            copy_all(origin, target)
        return True

    def close_and_discard(self) -> bool:
        """Close. Nothing is removed: the database was there before (its schema, if just created, stays)."""
        self.close()
        return False

    def close(self) -> None:
        for listener in self._listeners:
            listener.stop()
        self._listeners.clear()
        with self._pool_lock:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            pool.close()


def _roll_back(connection: psycopg.Connection[Any]) -> None:
    """End a failed transaction; a connection that died meanwhile is dropped by the pool."""
    try:
        if not connection.closed:
            connection.execute("ROLLBACK")
    except psycopg.Error:
        pass


def _configure(connection: psycopg.Connection[Any]) -> None:
    """Every pooled connection: a writer gives up on the write lock after :data:`LOCK_TIMEOUT_SECONDS`."""
    connection.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'")


class ChangeListener:
    """A thread that ``LISTEN``s on its own connection and calls back on every notification."""

    def __init__(self, conninfo: str, on_change: Callable[[], None]) -> None:
        self.conninfo = conninfo
        self.on_change = on_change
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kaizen-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        missed = False
        while not self._stopped.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANGE_CHANNEL}")
                    if missed:
                        self.on_change()
                    while not self._stopped.is_set():
                        # Wakes at least every half second to notice stop().
                        if any(True for _ in connection.notifies(timeout=0.5, stop_after=1)):
                            self.on_change()
            except psycopg.Error as error:
                log.debug("change listener: %s", error)
                missed = True
                self._stopped.wait(1.0)
            except Exception:  # the callback's own failure must not end the listening
                log.exception("change listener callback failed")


# -- errors ------------------------------------------------------------------


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def connection_error(error: psycopg.Error, server: Server) -> DatabaseError:
    """One sentence for a connection that could not be made: down, refused, wrong database."""
    text = str(error)
    lowered = text.lower()
    where = f"PostgreSQL at {server.where}"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return DatabaseUnavailable(f"{where} refused the password of user {server.user or '(default)'!r}.")
    if "does not exist" in lowered and "database" in lowered:
        return DatabaseUnavailable(f"{where} has no database {server.database!r}; create it first (createdb).")
    if "role" in lowered and "does not exist" in lowered:
        return DatabaseUnavailable(f"{where} has no user {server.user!r}.")
    if "no pg_hba.conf entry" in lowered or "not permitted" in lowered:
        return DatabaseUnavailable(f"{where} does not let this machine or user in (pg_hba.conf).")
    if "timeout" in lowered or "timed out" in lowered:
        return DatabaseUnavailable(f"Cannot reach {where}: no answer within {CONNECT_TIMEOUT_SECONDS} seconds.")
    if "refused" in lowered or "could not connect" in lowered or "no such file" in lowered:
        return DatabaseUnavailable(f"Cannot reach {where}: connection refused (is the server running?).")
    if "could not translate host name" in lowered or "name or service not known" in lowered:
        return DatabaseUnavailable(f"Cannot reach {where}: unknown host {server.host!r}.")
    return DatabaseUnavailable(f"Cannot connect to {where}: {_first_line(error)}")


def database_error(error: psycopg.Error, server: Server) -> DatabaseError:
    """A driver error during an operation, as the error a person can act on."""
    where = f"PostgreSQL at {server.where}"
    if isinstance(error, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return DatabaseBusy(
            f"{server.display_name} is busy: another writer kept it locked for more than "
            f"{LOCK_TIMEOUT_SECONDS} seconds. Nothing was changed; try again."
        )
    if isinstance(error, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
        return DatabaseBusy(f"{server.display_name} was busy with another change. Nothing was changed; try again.")
    if isinstance(error, pg_errors.ReadOnlySqlTransaction):
        return ReadOnlyDatabase(f"{server.display_name} is read-only (a standby, or read-only by its settings)")
    if isinstance(error, pg_errors.InsufficientPrivilege):
        return ReadOnlyDatabase(f"user {server.user!r} may not change {server.display_name}")
    if isinstance(error, pg_errors.UndefinedTable | pg_errors.UndefinedColumn):
        return DatabaseError(
            f"{server.display_name} is missing part of the kaizen-tui schema ({_first_line(error)}); "
            "was it changed by hand? Nothing was changed."
        )
    if isinstance(error, pg_errors.UntranslatableCharacter | pg_errors.CharacterNotInRepertoire):
        return DatabaseError(f"Cannot write to {server.display_name}: {_first_line(error)}. Nothing was changed.")
    if isinstance(error, psycopg.DataError) and "0x00" in str(error):
        return DatabaseError(
            f"Cannot write to {server.display_name}: PostgreSQL cannot store the NUL character (\\x00) "
            "found in a value. Nothing was changed."
        )
    if isinstance(error, psycopg.OperationalError):
        if isinstance(error, pg_errors.AdminShutdown | pg_errors.CannotConnectNow) or "server closed" in str(error):
            return DatabaseUnavailable(f"Lost the connection to {where} ({_first_line(error)}). Nothing was changed.")
        return connection_error(error, server)
    if isinstance(error, psycopg.InterfaceError):
        return DatabaseUnavailable(f"Lost the connection to {where} ({_first_line(error)}). Nothing was changed.")
    return DatabaseError(f"Database error on {server.display_name}: {_first_line(error)}")


# -- opening -------------------------------------------------------------------


def open_postgres(
    url: str, *, stand_in: Callable[[str, str], Store], read_only: bool = False, create: bool = True
) -> Store:
    """Open the database at a ``postgresql://`` URL: check it is ours, create or upgrade the schema.

    A database without our schema opened where it may not be created
    (``create=False``: a command that only reads; read-only) reads as empty,
    and nothing is created: ``stand_in(shown_as, reason)`` gives what stands
    in for it, a store that holds nothing and refuses changes with ``reason``
    (``store.open_store`` gives an empty schema in memory).
    """
    conninfo, server = parse_url(url)
    try:
        connection = psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as error:
        raise connection_error(error, server) from None
    reason = "the database is open read-only (--read-only)" if read_only else ""
    store = PostgresStore(conninfo=conninfo, server=server, read_only=read_only, read_only_reason=reason)
    try:
        with connection, store._translate():
            empty = _prepare(store, connection, create)
    except BaseException:
        store.close()
        raise
    if empty:
        store.close()
        return stand_in(store.display_name, store.read_only_reason or _not_set_up(store))
    return store


def _not_set_up(store: PostgresStore) -> str:
    return (
        f"{store.display_name} holds no kaizen-tui data yet; the first change written by a command "
        "that creates (such as create) sets it up"
    )


def _prepare(store: PostgresStore, connection: psycopg.Connection[Any], create: bool) -> bool:
    """Recognise our schema, refuse another program's, create or upgrade ours; find out if we may write.

    True: the database holds no schema of ours, and may not get one now (it reads as empty).
    """
    state = schema_state(connection)
    name = store.display_name
    if state.application_id is None and state.tables:
        raise DatabaseError(
            f"{name} holds tables of another program ({', '.join(state.tables[:5])}); it was not modified. "
            "Give kaizen-tui a database (or a schema, with options=-csearch_path=…) of its own."
        )
    if state.application_id is not None and state.application_id != APPLICATION_ID:
        raise DatabaseError(f"{name} is marked as another program's database; it was not modified.")
    if state.schema_version > SCHEMA_VERSION:
        raise SchemaTooNew(state.schema_version, SCHEMA_VERSION)
    writable, why_not = _may_write(connection, store.server, bool(state.tables))
    if not writable and not store.read_only:
        store.read_only, store.read_only_reason = True, why_not
    if state.application_id is None:
        if not create or store.read_only:
            return True
        create_schema(connection)
    elif state.schema_version < SCHEMA_VERSION:
        if store.read_only:
            raise DatabaseError(
                f"{name} has schema version {state.schema_version} and this kaizen-tui needs "
                f"{SCHEMA_VERSION}; open it once without --read-only (as a user who may change it) to upgrade it."
            )
        migrate(connection)
    return False


def _may_write(connection: psycopg.Connection[Any], server: Server, has_tables: bool) -> tuple[bool, str]:
    """Can this session change our tables? (A standby, a read-only default or missing grants say no.)"""
    in_recovery, read_only_default = connection.execute(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on'"
    ).fetchone() or (False, False)
    if in_recovery:
        return False, f"{server.display_name} is a read-only standby"
    if read_only_default:
        return False, f"{server.display_name} is read-only (default_transaction_read_only)"
    if has_tables:
        row = connection.execute(
            "SELECT has_table_privilege(to_regclass('agent_version'), 'INSERT') "
            "WHERE to_regclass('agent_version') IS NOT NULL"
        ).fetchone()
        if row is not None and not row[0]:
            return False, f"user {server.user!r} may only read {server.display_name}"
    return True, ""


def copy_all(source: Transaction, target: PostgresTransaction) -> None:
    """Every agent, version, audit event, label and ledger entry of ``source`` (a transaction of any store)."""
    agents = source.agents_to_export()
    target.insert_agents([{**agent, "name_key": _name_key_of(agent)} for agent in agents])
    for agent in agents:
        target.insert_versions(source.versions_after(agent["id"], 0, POSTGRESQL.max_integer))
    target.insert_audit_events(list(reversed(source.audit_log(None, POSTGRESQL.max_integer))))
    for agent in agents:
        for label in source.labels(agent["id"]):
            target.put_label(label)
        for entry in reversed(source.label_events(agent["id"], None, POSTGRESQL.max_integer)):
            target.insert_label_event(entry)
    for protected in source.protected_labels():
        target.protect_label(protected)


def _name_key_of(agent: Mapping[str, Any]) -> str:
    from kaizen_tui.core.names import name_key

    return name_key(agent["name"])


# -- the transaction ---------------------------------------------------------------

_CHANGE_COUNT = "SELECT value FROM kaizen_meta WHERE key = 'changes'"
#: A scratch table of the session for a batch of versions some of which the database may have.
_VERSION_SCRATCH = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS kaizen_version_scratch "
    "(LIKE agent_version INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_INSERT_FROM_SCRATCH = (
    f"INSERT INTO agent_version ({', '.join(VERSION_FIELDS)}) "
    f"SELECT {', '.join(VERSION_FIELDS)} FROM kaizen_version_scratch ORDER BY agent_id, version_number "
    "ON CONFLICT (id) DO NOTHING"
)


class PostgresTransaction(SQLTransaction):
    """The statements of one transaction on a psycopg connection (see ``base.Transaction``).

    The statements are the shared ones (``statements.py``) in PostgreSQL's
    dialect; what is PostgreSQL's own is ``COPY`` for the bulk inserts of an
    import, and planning some statements for their values every time.
    """

    __slots__ = ()
    DIALECT = POSTGRESQL
    UNIQUE_VIOLATION = pg_errors.UniqueViolation

    def _name_index_refused(self, error: Exception) -> bool:
        return isinstance(error, pg_errors.UniqueViolation) and error.diag.constraint_name == "ux_agent_name_key"

    def _execute_many(self, query: str, rows: Sequence[Sequence[Any]]) -> int:
        with self.connection.cursor() as cursor:
            cursor.executemany(query, rows)
            return int(cursor.rowcount)

    def _planned_each_time(self, query: str, parameters: Sequence[Any]) -> list[Any]:
        # Never prepared: a prepared statement may switch to a generic plan after five runs.
        return list(self.connection.execute(query, parameters, prepare=False).fetchall())

    def insert_versions(self, versions: Sequence[Mapping[str, Any]]) -> int:
        """Insert versions as given, skipping ids the database has; return how many went in.

        ``COPY`` (PostgreSQL's bulk path) straight into the table under a
        savepoint: the usual case, none of the ids is there. If one is, back
        to the savepoint, ``COPY`` into a scratch table of the session and one
        ``INSERT … SELECT … ON CONFLICT (id) DO NOTHING``.
        """
        if not versions:
            return 0
        try:
            with self.connection.transaction():  # a savepoint: the import's transaction is open
                self._copy("agent_version", VERSION_FIELDS, versions)
            return len(versions)
        except pg_errors.UniqueViolation:
            pass
        self.connection.execute(_VERSION_SCRATCH)
        self._copy("kaizen_version_scratch", VERSION_FIELDS, versions)
        inserted = int(self.connection.execute(_INSERT_FROM_SCRATCH).rowcount)
        # TRUNCATE, not DELETE: deleted rows stay in the table until the
        # transaction ends, and the next batch's INSERT … SELECT would scan
        # every earlier batch again (an import quadratic in its versions).
        self.connection.execute("TRUNCATE kaizen_version_scratch")
        return inserted

    def insert_audit_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append audit events in the order given (``COPY`` keeps the order, so the ids grow with it)."""
        self._copy("audit_event", AUDIT_FIELDS, events)

    def _copy(self, table: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[column] for column in columns])
