"""The service: every operation of the spec and every rule; the only way into the data."""

from kaizen_tui.service.agent_service import *  # noqa: F403
from kaizen_tui.service.agent_service import __all__  # noqa: F401
