"""SQLModel tables: the one declaration of the schema. No I/O here.

``db.py`` writes these tables into a new database file; the service reads and
writes them with plain SQL (see ``db.py`` for why). Timestamps are stored as
ISO 8601 UTC text with a ``Z`` (``2024-01-15T10:30:00Z``), see ``ids.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from kaizen_tui.core.ids import new_agent_id, new_version_id


class Agent(SQLModel, table=True):
    """An agent and its live configuration."""

    __tablename__ = "agent"

    id: str = Field(default_factory=new_agent_id, primary_key=True)
    name: str = Field(index=True)
    description: str = ""
    agent_type: str = "chat"
    status: str = "draft"
    system_prompt: str = Field(default="", sa_column=Column(Text, nullable=False))
    model_id: str
    temperature: float = 0.7
    max_tokens: int = 0
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str
    created_at: str
    updated_at: str
    #: The highest version number ever given to this agent. Numbers are
    #: allocated from it inside the write transaction, so they only go up and
    #: are never reused, even after the newest version is deleted.
    last_version_number: int = 0


class AgentVersion(SQLModel, table=True):
    """One numbered snapshot of an agent's configuration."""

    __tablename__ = "agent_version"
    # The unique (agent_id, version_number) index also serves every lookup by
    # agent_id, so agent_id needs no index of its own.
    __table_args__ = (
        Index("ux_agent_version_number", "agent_id", "version_number", unique=True),
    )

    id: str = Field(default_factory=new_version_id, primary_key=True)
    agent_id: str = Field(foreign_key="agent.id")
    version_number: int
    config_snapshot: str = Field(sa_column=Column(Text, nullable=False))
    changelog: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: str
    created_at: str


class AuditEvent(SQLModel, table=True):
    """An append-only record of one mutation (triggers refuse UPDATE and DELETE)."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: str
    actor: str
    action: str
    agent_id: str | None = Field(default=None, index=True)
    version_id: str | None = None
    detail: str = "{}"
