"""Fixtures of the TUI tests (the shared helpers are in ``tests.support``)."""

from __future__ import annotations

import pytest

from kaizen_tui.service import AgentService
from tests.support import seed_small


@pytest.fixture
def ids(service: AgentService) -> dict:
    """:func:`seed_small`'s two agents, written before the app starts; their ids."""
    return seed_small(service)
