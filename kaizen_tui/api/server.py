"""``kaizen-tui serve``: the API on uvicorn, one line of log per request."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from kaizen_tui.api.app import asgi_app
from kaizen_tui.service import AgentService


class RequestLineFormatter(logging.Formatter):
    """``2026-11-30T04:30:00Z GET /path 200 1.2ms actor=ci``: the time in UTC, formatted once a second.

    A request line is written for every request; logging's own formatter
    turned the time into text for each of them, a tenth of a small request's cost.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
        line = f"{self._stamp} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def serve(service: AgentService, host: str, port: int, *, archive_dir: Path | None = None) -> None:
    """Serve until interrupted. Several servers may share one database: SQLite serialises their writes.

    ``archive_dir``: the folder prunes over HTTP may archive into (admin tokens only); None: no archives.
    """
    import uvicorn

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RequestLineFormatter())
    api_log = logging.getLogger("kaizen_tui.api")
    api_log.addHandler(handler)
    api_log.setLevel(logging.INFO)
    api_log.propagate = False
    sys.stderr.write(
        f"kaizen-tui API on http://{host}:{port} (database {service.display_name}); docs at http://{host}:{port}/docs\n"
    )
    sys.stderr.flush()
    # uvicorn's own access log is off: ours names the actor and never a header.
    application = asgi_app(service, archive_dir=archive_dir)
    uvicorn.run(application, host=host, port=port, access_log=False, log_level="warning", lifespan="off")
