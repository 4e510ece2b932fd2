"""``kaizen-tui serve``: the API on uvicorn, one line of log per request and per event."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import time
from pathlib import Path

from kaizen_tui.api.app import asgi_app, loggable
from kaizen_tui.core.errors import KaizenError
from kaizen_tui.service import AgentService

#: The loggers whose records the server writes, each as one line: ours (requests, the database
#: going away and coming back), psycopg's and uvicorn's own warnings.
LOGGERS = ("kaizen_tui", "psycopg", "uvicorn", "uvicorn.error")


class CannotListen(KaizenError):
    """The server cannot listen where it was asked: the port is taken, or the address is not this machine's."""

    code = "cannot_listen"


class RequestLineFormatter(logging.Formatter):
    """``2026-11-30T04:30:00Z GET /path 200 1.2ms actor=ci``: the time in UTC, formatted once a second.

    A request line is written for every request; logging's own formatter
    turned the time into text for each of them, a tenth of a small request's cost.
    Any record is one line: what a message holds that is not printable
    (a driver's message over several lines, a control character) is escaped.
    Only an unexpected error's traceback follows its line.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        line = f"{self._stamp} {loggable(record.getMessage())}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, before anything is printed: a taken port is one line, not uvicorn's error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say they are TCP
    # (base_events._set_nodelay), and a connection accepted here inherits the protocol. With it on, a
    # response written in two pieces (headers, body) waited for the client's delayed ACK: 40 ms each.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart reuses the port at once
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"Port {port} on {host} is taken: another program listens there. "
                "Stop it, or choose another port with --port."
            ) from None
        reason = error.strerror or str(error)
        raise CannotListen(f"Cannot listen on {host}:{port}: {reason[:1].lower()}{reason[1:]}.") from None
    return sock


def route_logs() -> None:
    """Every record of :data:`LOGGERS` to stderr as one line of ours.

    The pool of PostgreSQL connections warns at each failed reconnection
    (several lines each, libpq's words): those are left out, and the store
    writes one line when the database goes away and one when it is back.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RequestLineFormatter())
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    logging.getLogger("kaizen_tui").setLevel(logging.INFO)
    logging.getLogger("psycopg").setLevel(logging.WARNING)
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    logging.getLogger("uvicorn").setLevel(logging.WARNING)


def serve(service: AgentService, host: str, port: int, *, archive_dir: Path | None = None) -> None:
    """Serve until interrupted. Several servers may share one database: SQLite serialises their writes.

    ``archive_dir``: the folder prunes over HTTP may archive into (admin tokens only); None: no archives.
    Raises :class:`CannotListen` (nothing printed yet) when the port is taken.
    """
    import uvicorn

    sock = listening_socket(host, port)
    route_logs()
    sys.stderr.write(
        f"kaizen-tui API on http://{host}:{port} (database {service.display_name}); docs at http://{host}:{port}/docs\n"
    )
    sys.stderr.flush()
    # uvicorn's own access log is off: ours names the actor and never a header. Its logging
    # configuration is not applied (log_config=None): route_logs() made every line ours.
    config = uvicorn.Config(
        asgi_app(service, archive_dir=archive_dir),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        log_level="warning",
        lifespan="off",
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn stops on Ctrl+C, then raises it again
        pass
    finally:
        sock.close()
