"""Domain errors: every failure a person can act on has its own type.

All of them derive from :class:`KaizenError`, so every face catches one base
class. Each carries a sentence meant for a person (``str(error)``) and a stable,
machine-readable ``code`` (``agent_not_found``, ``conflict``...) that scripts
and HTTP clients can branch on; the codes never change once released.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class KaizenError(Exception):
    """Base class of every error kaizen-tui reports to a person."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict[str, Any]:
        """The error for machines: its code and its sentence."""
        return {"code": self.code, "message": self.message}


class AgentNotFound(KaizenError):
    """No agent with that id (or name, where names are accepted).

    ``deleted`` is ``{"name", "by", "at"}`` when the audit log says the
    agent of that id was deleted (its name then, who deleted it, when), else None.
    """

    code = "agent_not_found"

    def __init__(self, ref: str, *, deleted: Mapping[str, Any] | None = None) -> None:
        message = f"No agent {ref!r}."
        if deleted is not None:
            name = f"{deleted['name']!r} " if deleted.get("name") else ""
            message = f"No agent {ref!r}: {name}was deleted by {deleted['by']} at {deleted['at']}."
        super().__init__(message)
        self.ref = ref
        self.deleted = dict(deleted) if deleted is not None else None


class AmbiguousAgent(KaizenError):
    """A name matches several agents (a file from before names were unique); use an id."""

    code = "ambiguous_agent"

    def __init__(self, name: str, ids: list[str]) -> None:
        super().__init__(f"{len(ids)} agents are named {name!r}; use an id: {', '.join(ids)}.")
        self.name = name
        self.ids = ids


class NameTaken(KaizenError):
    """Another agent already has this name, ignoring case and accents' encoding."""

    code = "name_taken"

    def __init__(self, name: str, other_name: str, other_id: str) -> None:
        same = "" if other_name == name else f" as {other_name!r}"
        super().__init__(
            f"An agent is already named {name!r}{same} ({other_id}); names are unique, "
            "ignoring case. Pick another name; nothing was changed."
        )
        self.name = name
        self.other_name = other_name
        self.other_id = other_id


class VersionNotFound(KaizenError):
    """No version with that id (or number, for the agent in question)."""

    code = "version_not_found"

    def __init__(self, ref: str, agent_name: str | None = None, *, detail: str = "") -> None:
        where = f" of {agent_name}" if agent_name else ""
        super().__init__(f"No version {ref}{where}{detail}.")
        self.ref = ref


class UnknownVersionRef(VersionNotFound):
    """A reference that is neither a version of the agent (number, id, ``latest``) nor one of its labels."""

    def __init__(self, ref: str, agent_name: str, labels: Sequence[str] = ()) -> None:
        known = f"its labels: {', '.join(labels)}" if labels else "it has no labels"
        KaizenError.__init__(self, f"{ref!r} is neither a version nor a label of {agent_name} ({known}).")
        self.ref = ref


class VersionOfAnotherAgent(KaizenError):
    """A version id was given together with an agent it does not belong to."""

    code = "version_of_another_agent"

    def __init__(self, version_id: str, agent_id: str) -> None:
        super().__init__(f"Version {version_id} does not belong to agent {agent_id}; nothing was changed.")
        self.version_id = version_id
        self.agent_id = agent_id


class InvalidValue(KaizenError):
    """A field of an agent was given a value it cannot have."""

    code = "invalid_value"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class DamagedSnapshot(KaizenError):
    """A stored snapshot cannot be read as an agent configuration.

    ``version_number`` and ``version_id`` name the version when the caller
    knows it (what a label names: the HTTP problem carries them).
    """

    code = "damaged_snapshot"

    def __init__(
        self,
        reason: str,
        version_label: str | None = None,
        *,
        version_number: int | None = None,
        version_id: str | None = None,
    ) -> None:
        what = f"The snapshot of {version_label}" if version_label else "The snapshot"
        super().__init__(f"{what} is damaged: {reason}")
        self.reason = reason
        self.version_label = version_label
        self.version_number = version_number
        self.version_id = version_id


class InvalidKeep(KaizenError):
    """Pruning was asked to keep fewer than one version."""

    code = "invalid_keep"

    def __init__(self, keep: object) -> None:
        super().__init__(f"keep must be a whole number of at least 1, not {keep!r}.")
        self.keep = keep
        self.field = "keep"


class Conflict(KaizenError):
    """Someone changed the data since the caller read it; nothing was written.

    ``changes`` lists what happened since, newest last, as far as the audit log
    tells: ``{"actor", "at", "action", "fields"}``.
    """

    code = "conflict"

    def __init__(
        self, message: str, *, changes: Sequence[dict[str, Any]] = (), current_revision: int | None = None
    ) -> None:
        super().__init__(message)
        self.changes = list(changes)
        self.current_revision = current_revision


class StalePlan(Conflict):
    """A preview (of a prune, a rollback...) no longer says what would happen; ``fresh`` does."""

    def __init__(self, message: str, fresh: dict[str, Any], *, changes: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message, changes=changes)
        self.fresh = fresh


class EditConflict(Conflict):
    """An edit and someone else's change set the same fields to different values.

    ``conflicts`` holds ``{"field", "base", "mine", "theirs"}`` for each such
    field; ``current`` is the agent as it is now. Nothing was written.
    """

    def __init__(self, message: str, *, conflicts: Sequence[dict[str, Any]], current: dict[str, Any]) -> None:
        super().__init__(message, current_revision=current.get("revision"))
        self.conflicts = list(conflicts)
        self.current = current


class AgentNotArchived(KaizenError):
    """Deleting an agent is refused unless it was archived first (two deliberate steps)."""

    code = "agent_not_archived"

    def __init__(self, name: str, status: str) -> None:
        super().__init__(
            f"{name} has status {status}: only an archived agent can be deleted. "
            "Archive it first (set its status to archived); nothing was deleted."
        )
        self.name = name
        self.status = status


class TokenExists(KaizenError):
    """An API token of that name exists already."""

    code = "token_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"A token named {name!r} exists already; revoke it first or pick another name.")
        self.name = name


class TokenNotFound(KaizenError):
    """No API token of that name."""

    code = "token_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"No token named {name!r}.")
        self.name = name


class DatabaseError(KaizenError):
    """The database cannot be opened or used (path, format, schema, permissions)."""

    code = "database_error"


class DatabaseNotFound(DatabaseError):
    """A command that only reads named a database that does not exist (nothing is created for it)."""

    code = "database_not_found"


class DatabaseUnavailable(DatabaseError):
    """A database server that cannot be reached, refuses us, or went away mid-operation."""

    code = "database_unavailable"


class DatabaseBusy(DatabaseError):
    """Another process held the database for longer than we are willing to wait."""

    code = "database_busy"


class ReadOnlyDatabase(DatabaseError):
    """A change was asked of a database opened (or only openable) read-only."""

    code = "read_only"

    def __init__(self, reason: str = "the database is open read-only") -> None:
        super().__init__(f"Cannot change anything: {reason}.")
        self.reason = reason


class SchemaTooNew(DatabaseError):
    """The database was written by a newer kaizen-tui; we never touch it."""

    code = "schema_too_new"

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

    code = "invalid_agent_file"


class InvalidExportFile(KaizenError):
    """A file given to import is not a kaizen-tui export, or not a whole and well-formed one."""

    code = "invalid_export_file"

    def __init__(self, source: str, problem: str, line: int | None = None) -> None:
        where = f"{source}, line {line}" if line is not None else source
        super().__init__(f"{where}: {problem}. Nothing was imported.")
        self.source = source
        self.line = line
        self.problem = problem


class ImportConflict(KaizenError):
    """An export contradicts the database it is imported into (same id, other content); nothing was written."""

    code = "import_conflict"

    def __init__(self, message: str, *, source: str, line: int) -> None:
        super().__init__(message)
        self.source = source
        self.line = line


class FileNotWritten(KaizenError):
    """An export or an archive could not be written (no such folder, no permission, disk full...)."""

    code = "file_not_written"


class ArchiveExists(KaizenError):
    """Prune was asked to archive into a file that exists already (it may be the only copy of older versions)."""

    code = "archive_exists"

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} exists already, and an archive never replaces a file: name another. Nothing was deleted."
        )
        self.path = path


class LabelNotFound(KaizenError):
    """The agent has no such label (now, or at the time asked about)."""

    code = "label_not_found"

    def __init__(self, label: str, agent_name: str, *, when: str = "") -> None:
        super().__init__(f"{agent_name} has no label {label!r}{when}.")
        self.label = label


class LabelConflict(KaizenError):
    """A label did not point where the caller expected (compare-and-swap); nothing moved.

    ``current`` is the version number it points at (None: it does not exist).
    """

    code = "label_conflict"

    def __init__(self, message: str, *, current: int | None) -> None:
        super().__init__(message)
        self.current = current


class ProtectedLabel(KaizenError):
    """A protected label moves only with a person's confirmation, or an admin token over HTTP."""

    code = "protected_label"

    def __init__(self, label: str) -> None:
        super().__init__(
            f"{label!r} is a protected label: moving or removing it needs a person's confirmation. Nothing moved."
        )
        self.label = label


class VersionLabelled(KaizenError):
    """A version that a label names cannot be deleted; the labels must move first."""

    code = "version_labelled"

    def __init__(self, number: int, labels: Sequence[str]) -> None:
        names = ", ".join(sorted(labels))
        super().__init__(f"v{number} is labelled {names}: move or remove the label first. Nothing was deleted.")
        self.number = number
        self.labels = sorted(labels)


__all__ = [
    "AgentNotArchived",
    "AgentNotFound",
    "AmbiguousAgent",
    "ArchiveExists",
    "Conflict",
    "DamagedSnapshot",
    "DatabaseBusy",
    "DatabaseError",
    "DatabaseNotFound",
    "DatabaseUnavailable",
    "EditConflict",
    "FileNotWritten",
    "ImportConflict",
    "InvalidAgentFile",
    "InvalidExportFile",
    "InvalidKeep",
    "InvalidValue",
    "KaizenError",
    "LabelConflict",
    "LabelNotFound",
    "NameTaken",
    "ProtectedLabel",
    "ReadOnlyDatabase",
    "SchemaTooNew",
    "StalePlan",
    "TokenExists",
    "TokenNotFound",
    "UnknownVersionRef",
    "VersionLabelled",
    "VersionNotFound",
    "VersionOfAnotherAgent",
]
