"""``kaizen-tui serve``: the API on uvicorn, one line of log per request."""

from __future__ import annotations

import logging
import sys

from kaizen_tui.api.app import asgi_app
from kaizen_tui.service import AgentService


def serve(service: AgentService, host: str, port: int) -> None:
    """Serve until interrupted. Several servers may share one database: SQLite serialises their writes."""
    import uvicorn

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    api_log = logging.getLogger("kaizen_tui.api")
    api_log.addHandler(handler)
    api_log.setLevel(logging.INFO)
    api_log.propagate = False
    sys.stderr.write(
        f"kaizen-tui API on http://{host}:{port} (database {service.display_name}); "
        f"docs at http://{host}:{port}/docs\n"
    )
    sys.stderr.flush()
    # uvicorn's own access log is off: ours names the actor and never a header.
    uvicorn.run(asgi_app(service), host=host, port=port, access_log=False, log_level="warning", lifespan="off")
