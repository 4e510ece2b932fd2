"""The service: every operation of the spec and every rule; the only way into the data.

``AgentService`` is synchronous; ``AsyncAgentService(service)`` is its face for
asyncio programs (:mod:`kaizen_tui.service.async_face`). The latter is imported
when first named, so the command line, which never needs it, never imports
asyncio.
"""

from typing import TYPE_CHECKING

from kaizen_tui.service.agent_service import *  # noqa: F403
from kaizen_tui.service.agent_service import __all__ as _service_names

__all__ = [*_service_names, "AsyncAgentService"]

if TYPE_CHECKING:
    from kaizen_tui.service.async_face import AsyncAgentService
else:

    def __getattr__(name: str) -> object:
        if name == "AsyncAgentService":
            from kaizen_tui.service.async_face import AsyncAgentService

            return AsyncAgentService
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
