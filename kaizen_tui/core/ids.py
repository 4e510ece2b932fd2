"""Ids and timestamps of new rows.

Kept apart from ``models.py`` so that writing a row does not import SQLModel.
Timestamps are ISO 8601 UTC text with a ``Z`` (``2024-01-15T10:30:00Z``),
exactly the form the spec returns, so they need no conversion and sort as text.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def utc_now() -> str:
    """Now, as the spec writes times: ``2024-01-15T10:30:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_agent_id() -> str:
    return f"agt-{uuid.uuid4().hex}"


def new_version_id() -> str:
    return f"ver-{uuid.uuid4().hex}"
