"""A throwaway PostgreSQL server for the tests, or the one ``KAIZEN_TEST_PG_URL`` names.

The server runs from a temporary folder with fsync off (its data is thrown
away), on a free port of 127.0.0.1 with trust authentication, and is stopped
and deleted when the test session ends. ``initdb`` and ``pg_ctl`` refuse to
run as root, so as root they run as the ``postgres`` user (``runuser``).

Each test gets a database of its own (:meth:`PostgresServer.new_database`),
dropped after it. Where no server can be had the PostgreSQL tests skip with
the reason, unless ``KAIZEN_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) makes
that a failure.
"""

from __future__ import annotations

import glob
import itertools
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

#: How long after a test its database is dropped (see PostgresServer.drop_later).
DROP_DELAY_SECONDS = 1.0
#: How many copies of the template wait ready for the next tests.
COPIES_AHEAD = 2
#: Where Debian and Ubuntu put the server programs.
_DEBIAN_BINARIES = "/usr/lib/postgresql/*/bin"


class NoPostgres(Exception):
    """No PostgreSQL server could be had; the message says why."""


@dataclass
class PostgresServer:
    """A server the tests may create and drop databases on."""

    #: A URL without the database name's part: ``postgresql://postgres@127.0.0.1:PORT``.
    base_url: str
    admin_database: str = "postgres"
    folder: Path | None = None
    bin_dir: Path | None = None
    run_as: list[str] = field(default_factory=list)
    #: The options ``pg_ctl start -o`` was given (port, folder, settings): a restart takes them again.
    start_options: str = ""
    _numbers: itertools.count[int] = field(default_factory=itertools.count)
    _doomed: queue.Queue[tuple[float, str] | None] = field(default_factory=queue.Queue)
    _dropper: threading.Thread | None = None
    #: Copies of the template made ahead, while tests run (see copy_of_template).
    _ready: queue.Queue[str] = field(default_factory=lambda: queue.Queue(maxsize=COPIES_AHEAD))
    _copier: threading.Thread | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)

    def url(self, database: str) -> str:
        return f"{self.base_url}/{database}"

    def new_database(self, template: str | None = None) -> str:
        """A new database, empty or a copy of ``template`` (a database name); its URL."""
        name = f"kaizen_test_{os.getpid()}_{next(self._numbers)}"
        copy = f' TEMPLATE "{template}"' if template else ""
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def copy_of_template(self, template: str) -> str:
        """A new copy of the database ``template``; the next copies are made ahead, in a thread.

        Making one takes some 20-40 ms; made while the previous test runs,
        the next test finds it ready.
        """
        if self._copier is None:
            self._copier = threading.Thread(
                target=self._copy_ahead, args=(template,), name="copy-test-databases", daemon=True
            )
            self._copier.start()
        return self._ready.get(timeout=120)

    def _copy_ahead(self, template: str) -> None:
        while not self._stopping.is_set():
            try:
                url = self.new_database(template=template)
            except Exception:  # the server is stopping
                return
            while not self._stopping.is_set():
                try:
                    self._ready.put(url, timeout=0.5)
                    break
                except queue.Full:
                    continue
            else:
                self.drop_database(url)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_later(self, url: str) -> None:
        """Drop a test's database a second from now, in a thread of its own.

        Right after a test, the server may still be ending the backends of
        the connections the test closed, and ``DROP DATABASE`` then waits for
        them in steps of 100 ms; a second later it takes a few milliseconds,
        and the next tests do not wait for it.
        """
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_in_turn, name="drop-test-databases", daemon=True)
            self._dropper.start()
        self._doomed.put((time.monotonic() + DROP_DELAY_SECONDS, url))

    def _drop_in_turn(self) -> None:
        while (item := self._doomed.get()) is not None:
            when, url = item
            time.sleep(max(0.0, when - time.monotonic()))
            try:
                self.drop_database(url)
            except Exception:  # a server stopped meanwhile: its folder goes anyway
                pass

    def finish_drops(self) -> None:
        if self._dropper is not None:
            self._doomed.put(None)
            self._dropper.join(timeout=60)

    def execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.url(self.admin_database), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement)

    def stop_serving(self) -> None:
        """Stop the server process, keeping its data: clients find it gone (see :meth:`start_serving`)."""
        self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30")

    def start_serving(self) -> None:
        """Start the server :meth:`stop_serving` stopped, on the same port with the same data."""
        assert self.folder is not None
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.folder / "server.log"), "-o", self.start_options)

    def _pg_ctl(self, *arguments: str) -> None:
        if self.folder is None or self.bin_dir is None:
            raise NoPostgres("only a server these tests started can be stopped and started")
        command = [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), *arguments]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"pg_ctl {arguments[0]}: {done.stderr or done.stdout}"

    def stop(self) -> None:
        self._stopping.set()
        if self._copier is not None:
            self._copier.join(timeout=30)
        while not self._ready.empty():
            self.drop_later(self._ready.get())
        self.finish_drops()
        if self.folder is None or self.bin_dir is None:
            return
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


def find_binaries() -> Path:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    found = sorted(glob.glob(_DEBIAN_BINARIES), key=lambda path: int(Path(path).parent.name), reverse=True)
    for folder in found:
        if (Path(folder) / "initdb").exists():
            return Path(folder)
    raise NoPostgres("no PostgreSQL server programs (initdb, pg_ctl) on this machine; set KAIZEN_TEST_PG_URL")


#: A role the tests create with a password: the server asks it for one (everyone else is trusted).
PASSWORD_ROLE = "kaizen_with_password"


def _require_password(hba: Path) -> None:
    rules = hba.read_text()
    hba.write_text(f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n{rules}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server() -> PostgresServer:
    """The server of ``KAIZEN_TEST_PG_URL``, or a new throwaway one."""
    url = os.environ.get("KAIZEN_TEST_PG_URL", "").strip()
    if url:
        base, _, database = url.rstrip("/").rpartition("/")
        return PostgresServer(base_url=base, admin_database=database or "postgres")
    bin_dir = find_binaries()
    run_as: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise NoPostgres("running as root, and there is no runuser to start PostgreSQL as the postgres user")
        run_as = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="kaizen-pg-"))
    if run_as:
        shutil.chown(folder, user="postgres")
    port = _free_port()
    data = folder / "data"
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB"
    )
    commands = (
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8",
         "--locale=C.UTF-8"],
        [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "30",
         "-o", options, "start"],
    )  # fmt: skip
    for command in commands:
        if command[0].endswith("pg_ctl"):
            _require_password(data / "pg_hba.conf")
        done = subprocess.run([*run_as, *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
            shutil.rmtree(folder, ignore_errors=True)
            raise NoPostgres(f"{Path(command[0]).name} failed: {(done.stderr or done.stdout).strip()} {log[-500:]}")
    return PostgresServer(
        base_url=f"postgresql://postgres@127.0.0.1:{port}",
        folder=folder,
        bin_dir=bin_dir,
        run_as=run_as,
        start_options=options,
    )
