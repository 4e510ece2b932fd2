"""The service: every operation of the spec and every rule; the only way into the data."""

from kaizen_tui.service.agent_service import (
    AGENT_KEYS,
    EDITABLE_FIELDS,
    LIVE,
    PREVIOUS,
    VERSION_KEYS,
    AgentService,
    agent_config,
    agent_sort_key,
    default_user,
    version_dict,
)

__all__ = [
    "AGENT_KEYS",
    "EDITABLE_FIELDS",
    "LIVE",
    "PREVIOUS",
    "VERSION_KEYS",
    "AgentService",
    "agent_config",
    "agent_sort_key",
    "default_user",
    "version_dict",
]
