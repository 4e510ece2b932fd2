"""SQLModel tables: the one declaration of the newest schema. No I/O here.

A store writes these tables into a new database; older databases reach the
same shape through the numbered migrations (``sqlite_migrations.py``), and a
test checks that both give the same tables and indexes. The stores read and
write them with plain SQL (see ``sqlite.py`` for why). Timestamps are stored
as ISO 8601 UTC text with a ``Z`` (``2024-01-15T10:30:00Z``), see ``core/ids.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

from kaizen_tui.core.ids import new_agent_id, new_version_id


class Agent(SQLModel, table=True):
    """An agent and its live configuration.

    The config columns (``name`` to ``extra``) are ``core.schema.FIELDS``, written out because SQLModel
    declares tables statically: their order, types, defaults and required ones follow that definition
    (``tests/store/test_config_fields.py`` checks).
    """

    __tablename__ = "agent"
    __table_args__ = (Index("ux_agent_name_key", "name_key", unique=True),)

    id: str = Field(default_factory=new_agent_id, primary_key=True)
    name: str
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
    #: Grows by one with every change to the live config or the status: the
    #: compare-and-swap token of editors, dialogs and HTTP ``If-Match``.
    revision: int = 1
    #: ``core.names.name_key(name)``: names are unique ignoring case. NULL only
    #: for agents whose names already clashed in a file from before (schema 1).
    name_key: str | None = None
    #: ``core.schema.content_hash`` of the live config: it is saved exactly
    #: when a version of the agent has the same hash.
    content_hash: str = ""


class AgentVersion(SQLModel, table=True):
    """One numbered snapshot of an agent's configuration."""

    __tablename__ = "agent_version"
    # The unique (agent_id, version_number) index also serves every lookup by
    # agent_id, so agent_id needs no index of its own. The content hash is
    # indexed alone: it covers the agent's name (unique), so it finds an
    # agent's versions with a config as surely as (agent_id, content_hash)
    # would, at less than half the bytes per version.
    __table_args__ = (
        Index("ux_agent_version_number", "agent_id", "version_number", unique=True),
        Index("ix_agent_version_content", "content_hash"),
        # The few versions whose hash must be found by reading them (damaged,
        # or written by another tool): found without reading every version.
        Index(
            "ix_agent_version_unhashed",
            "agent_id",
            sqlite_where=text("content_hash IS NULL"),
            postgresql_where=text("content_hash IS NULL"),
        ),
    )

    id: str = Field(default_factory=new_version_id, primary_key=True)
    agent_id: str = Field(foreign_key="agent.id")
    version_number: int
    config_snapshot: str = Field(sa_column=Column(Text, nullable=False))
    changelog: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: str
    created_at: str
    #: ``core.schema.content_hash`` of the snapshot; NULL when it is damaged or
    #: was written without one (by another tool): then it is read to find out.
    content_hash: str | None = None


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


class ApiToken(SQLModel, table=True):
    """A bearer token of the HTTP API. Only a hash of the secret is kept; the name is the actor."""

    __tablename__ = "api_token"

    name: str = Field(primary_key=True)
    #: read | write | admin
    role: str
    #: SHA-256 of the secret, in hex: a request's token is looked up by it.
    secret_hash: str = Field(index=True, unique=True)
    created_by: str
    created_at: str


class AgentLabel(SQLModel, table=True):
    """A label (``production``, ``staging``...) naming one version of one agent."""

    __tablename__ = "agent_label"

    agent_id: str = Field(foreign_key="agent.id", primary_key=True)
    #: ``core.labels.check_label``: lower-case letters, digits, ``-`` and ``_``, not only digits.
    label: str = Field(primary_key=True)
    #: A labelled version cannot be deleted (prune keeps it; delete is refused).
    version_id: str = Field(foreign_key="agent_version.id", index=True)
    updated_by: str
    updated_at: str


class LabelEvent(SQLModel, table=True):
    """The ledger: one row per set, move or removal of a label. Append-only (triggers refuse the rest).

    Version numbers are kept beside the ids: the ledger still reads after a
    version it names was deleted.
    """

    __tablename__ = "label_event"
    __table_args__ = (Index("ix_label_event_agent_label", "agent_id", "label", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: str
    actor: str
    agent_id: str
    label: str
    #: None when the label was new.
    from_version_id: str | None = None
    from_version_number: int | None = None
    #: None when the label was removed.
    to_version_id: str | None = None
    to_version_number: int | None = None
    reason: str = ""


class ProtectedLabel(SQLModel, table=True):
    """A label name that only a confirmed person, or an ``admin`` token, may move (for every agent)."""

    __tablename__ = "protected_label"

    label: str = Field(primary_key=True)
    protected_by: str
    protected_at: str
