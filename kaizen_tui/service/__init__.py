"""The service: every operation of the spec and every rule; the only way into the data."""

from kaizen_tui.service.agent_service import (
    EDITABLE_FIELDS,
    LIVE,
    VERSION_KEYS,
    AgentService,
    agent_config,
    agent_sort_key,
    default_user,
)

__all__ = ["EDITABLE_FIELDS", "LIVE", "VERSION_KEYS", "AgentService", "agent_config", "agent_sort_key", "default_user"]
