"""Domain errors: every failure a person can act on has its own type.

All of them derive from :class:`KaizenError`, so the CLI and the TUI catch one
base class and show ``str(error)``, a single sentence meant for a person.
"""

from __future__ import annotations


class KaizenError(Exception):
    """Base class of every error kaizen-tui reports to a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class AgentNotFound(KaizenError):
    """No agent with that id (or name, where names are accepted)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"No agent {ref!r}.")
        self.ref = ref


class AmbiguousAgent(KaizenError):
    """A name matches several agents; the caller must use an id."""

    def __init__(self, name: str, ids: list[str]) -> None:
        super().__init__(
            f"{len(ids)} agents are named {name!r}; use an id: {', '.join(ids)}."
        )
        self.name = name
        self.ids = ids


class VersionNotFound(KaizenError):
    """No version with that id (or number, for the agent in question)."""

    def __init__(self, ref: str, agent_name: str | None = None) -> None:
        where = f" of {agent_name}" if agent_name else ""
        super().__init__(f"No version {ref}{where}.")
        self.ref = ref


class VersionOfAnotherAgent(KaizenError):
    """A version id was given together with an agent it does not belong to."""

    def __init__(self, version_id: str, agent_id: str) -> None:
        super().__init__(
            f"Version {version_id} does not belong to agent {agent_id}; nothing was changed."
        )
        self.version_id = version_id
        self.agent_id = agent_id


class InvalidValue(KaizenError):
    """A field of an agent was given a value it cannot have."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class DamagedSnapshot(KaizenError):
    """A stored snapshot cannot be read as an agent configuration."""

    def __init__(self, reason: str, version_label: str | None = None) -> None:
        what = f"The snapshot of {version_label}" if version_label else "The snapshot"
        super().__init__(f"{what} is damaged: {reason}")
        self.reason = reason
        self.version_label = version_label


class InvalidKeep(KaizenError):
    """Pruning was asked to keep fewer than one version."""

    def __init__(self, keep: object) -> None:
        super().__init__(f"keep must be a whole number of at least 1, not {keep!r}.")
        self.keep = keep


class DatabaseError(KaizenError):
    """The database cannot be opened or used (path, format, schema, permissions)."""


class DatabaseBusy(DatabaseError):
    """Another process held the database for longer than we are willing to wait."""


class ReadOnlyDatabase(DatabaseError):
    """A change was asked of a database opened (or only openable) read-only."""

    def __init__(self, reason: str = "the database is open read-only") -> None:
        super().__init__(f"Cannot change anything: {reason}.")
        self.reason = reason


class SchemaTooNew(DatabaseError):
    """The database was written by a newer kaizen-tui; we never touch it."""

    def __init__(self, found: int, supported: int) -> None:
        super().__init__(
            f"This database has schema version {found}, but this kaizen-tui "
            f"understands up to version {supported}; upgrade kaizen-tui to open it. "
            "The file was not modified."
        )
        self.found = found
        self.supported = supported


class InvalidAgentFile(KaizenError):
    """An agent file (YAML or JSON) cannot be read or is not a mapping of fields."""


__all__ = [
    "KaizenError",
    "AgentNotFound",
    "AmbiguousAgent",
    "VersionNotFound",
    "VersionOfAnotherAgent",
    "InvalidValue",
    "DamagedSnapshot",
    "InvalidKeep",
    "DatabaseError",
    "DatabaseBusy",
    "ReadOnlyDatabase",
    "SchemaTooNew",
    "InvalidAgentFile",
]
