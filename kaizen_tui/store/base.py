"""The storage interface: what the service needs from a database, and nothing of how.

A :class:`Store` hands out :class:`Transaction` objects; each method of a
transaction is one parameterised statement (or a few). The service holds
every rule and calls only these methods. Both backends run the same
statements (``statements.py`` and ``labels.py``, written once for a
``dialect.py``); a backend adds only how it opens, pools, maps errors,
announces changes and copies rows in bulk.

Rows come back as plain dicts with the column names of ``models.py``;
``extra`` is decoded into a dict. Errors of the driver come out as the
:mod:`kaizen_tui.core.errors` types (``DatabaseError``, ``DatabaseBusy``,
``ReadOnlyDatabase``, ``NameTaken``...), never as driver exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from kaizen_tui.core.schema import FIELD_NAMES

Row = dict[str, Any]
T = TypeVar("T")

#: The agent's columns, in the order the stores select them: the config fields as ``core.schema.FIELDS``
#: defines them, between the id and the bookkeeping.
AGENT_COLUMNS = ("id", *FIELD_NAMES, "created_by", "created_at", "updated_at", "revision", "content_hash")
#: A version's columns as the spec returns them (plus ``agent_id``), then the content hash.
VERSION_COLUMNS = ("id", "agent_id", "version_number", "config_snapshot", "changelog", "created_by", "created_at")
AUDIT_COLUMNS = ("id", "at", "actor", "action", "agent_id", "version_id", "detail")
TOKEN_COLUMNS = ("name", "role", "secret_hash", "created_by", "created_at")
#: A label as the stores return it: the version's number joined in.
LABEL_COLUMNS = ("agent_id", "label", "version_id", "version_number", "updated_by", "updated_at")
#: One entry of the ledger of labels.
LABEL_EVENT_COLUMNS = (
    "id", "at", "actor", "agent_id", "label", "from_version_id", "from_version_number",
    "to_version_id", "to_version_number", "reason",
)  # fmt: skip
PROTECTED_LABEL_COLUMNS = ("label", "protected_by", "protected_at")
#: The agent columns a write may set (the names are never taken from a caller).
SETTABLE_AGENT_COLUMNS = frozenset((*FIELD_NAMES, "name_key", "updated_at", "revision", "content_hash"))


class Transaction(Protocol):
    """One transaction: a consistent view for reads; for writes, also the write lock."""

    # -- agents
    def agent(self, agent_id: str) -> Row | None: ...
    def agent_exists(self, agent_id: str) -> bool: ...
    def agents_by_name_key(self, key: str) -> list[Row]: ...
    def agents_by_exact_name(self, name: str) -> list[Row]: ...
    def agents_without_name_key(self) -> list[Row]: ...
    def described_agents(self, ids: Sequence[str] | None = None) -> list[Row]:
        """Agents with ``version_count``, ``latest_version``, ``saved`` (a version has the live
        hash) and ``unhashed_versions`` (versions whose hash must be found by reading them)."""
        ...

    def insert_agent(self, agent: Mapping[str, Any]) -> None: ...
    def update_agent(self, agent_id: str, values: Mapping[str, Any]) -> None: ...
    def delete_agent(self, agent_id: str) -> int:
        """Delete the agent and its versions; return how many versions went."""
        ...

    def version_summary(self, agent_id: str, live_hash: str) -> tuple[int, int | None, bool, int]:
        """(version count, newest number, a version has ``live_hash``, versions without a hash)."""
        ...

    # -- versions
    def next_version_number(self, agent_id: str) -> int: ...
    def insert_version(self, version: Mapping[str, Any]) -> None: ...
    def version(self, version_id: str) -> Row | None: ...
    def version_numbered(self, agent_id: str, number: int) -> Row | None: ...
    def version_page(self, agent_id: str, limit: int | None, offset: int, *, snapshots: bool = True) -> list[Row]:
        """Versions newest first; without ``snapshots``, ``config_snapshot`` is None where the hash is stored."""
        ...

    def versions_before(self, agent_id: str, number: int, limit: int | None = None) -> list[Row]: ...
    def versions_with_hash(self, agent_id: str, content_hash: str | None) -> list[Row]:
        """Versions of the agent with this hash (``None``: those whose hash is unknown)."""
        ...

    def keep_threshold(self, agent_id: str, keep: int) -> int | None:
        """The number of the ``keep``-th newest version, or None when there are fewer."""
        ...

    def delete_version(self, version_id: str) -> None: ...
    def delete_versions(self, agent_id: str, below: int, at_most: int) -> tuple[int, int | None, int | None]:
        """Delete versions numbered below ``below`` and at most ``at_most``, but none a label names:
        (count, oldest, newest)."""
        ...

    # -- API tokens
    def insert_token(self, token: Mapping[str, Any]) -> None: ...
    def token_by_hash(self, secret_hash: str) -> Row | None: ...
    def tokens(self) -> list[Row]: ...
    def delete_token(self, name: str) -> bool: ...

    # -- audit
    def insert_audit(self, event: Mapping[str, Any]) -> None: ...
    def audit_log(self, agent_id: str | None, limit: int, before: int | None = None) -> list[Row]: ...
    def newest_audit_id(self) -> int: ...
    def agents_changed_between(self, since: int, until: int, limit: int) -> list[str | None]: ...

    # -- labels and their ledger
    def labels(self, agent_id: str) -> list[Row]:
        """The agent's labels (:data:`LABEL_COLUMNS`), by name."""
        ...

    def label(self, agent_id: str, label: str) -> Row | None: ...
    def put_label(self, label: Mapping[str, Any]) -> None:
        """Create the label or point it elsewhere: ``agent_id``, ``label``, ``version_id``, ``updated_by``, ``updated_at``."""
        ...

    def delete_label(self, agent_id: str, label: str) -> None: ...
    def insert_label_event(self, event: Mapping[str, Any]) -> None:
        """Append to the ledger (:data:`LABEL_EVENT_COLUMNS` but ``id``)."""
        ...

    def label_events(self, agent_id: str, label: str | None, limit: int, before: int | None = None) -> list[Row]:
        """The agent's ledger (of one label, if given), newest first: by time, then by id (the order
        this database recorded them in); only entries before entry ``before`` in that order, if given."""
        ...

    def label_event_at(self, agent_id: str, label: str, at: str) -> Row | None:
        """The newest ledger entry of the label written at or before ``at``."""
        ...

    def protected_labels(self) -> list[Row]: ...
    def protect_label(self, row: Mapping[str, Any]) -> bool:
        """Protect a label name (:data:`PROTECTED_LABEL_COLUMNS`); False when it already was."""
        ...

    def unprotect_label(self, label: str) -> bool: ...

    # -- export and import
    #
    # Reads in pages (an export of 100,000 versions never holds them all) and
    # writes in batches (an import is a few statements per thousand rows, not
    # a round trip per row). Rows are the same dicts as above.
    def agents_to_export(self, ids: Sequence[str] | None = None) -> list[Row]:
        """The agents of ``ids`` that exist (every agent when None), in any order: the columns of
        :data:`AGENT_COLUMNS` (``extra`` decoded) plus ``last_version_number``."""
        ...

    def versions_after(self, agent_id: str, after: int, limit: int) -> list[Row]:
        """At most ``limit`` versions of the agent numbered above ``after``, by number ascending
        (the columns of :data:`VERSION_COLUMNS` plus ``content_hash``)."""
        ...

    def audit_events_after(self, agent_id: str, after: int, limit: int) -> list[Row]:
        """At most ``limit`` audit events of the agent whose id is above ``after``, by id ascending
        (:data:`AUDIT_COLUMNS`; ``detail`` as the stored text)."""
        ...

    def unowned_audit_events_after(self, after: int, limit: int) -> list[Row]:
        """At most ``limit`` audit events of no agent the database has (of none, such as protecting a
        label name, or of an agent deleted since) whose id is above ``after``, by id ascending."""
        ...

    def versions_by_id(self, ids: Sequence[str]) -> list[Row]:
        """The versions (of any agent) with these ids that exist, in any order, as :meth:`versions_after`."""
        ...

    def versions_with_numbers(self, agent_id: str, numbers: Sequence[int]) -> list[Row]:
        """The agent's versions with these numbers that exist, in any order, as :meth:`versions_after`."""
        ...

    def insert_agents(self, agents: Sequence[Mapping[str, Any]]) -> None:
        """Insert agents as given: :data:`AGENT_COLUMNS`, ``name_key`` and ``last_version_number``
        (:class:`NameTaken` when a name key is taken)."""
        ...

    def insert_versions(self, versions: Sequence[Mapping[str, Any]]) -> int:
        """Insert versions as given (:data:`VERSION_COLUMNS` plus ``content_hash``), as one batch,
        skipping any whose id the database has already; return how many were inserted."""
        ...

    def insert_audit_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append audit events in the order given (:data:`AUDIT_COLUMNS` but ``id``: the database
        numbers them, growing, as :meth:`insert_audit` does)."""
        ...

    def raise_version_counter(self, agent_id: str, number: int) -> bool:
        """Make the agent's ``last_version_number`` at least ``number``; True when it grew."""
        ...


class Store(Protocol):
    """An open database."""

    read_only: bool
    read_only_reason: str

    @property
    def display_name(self) -> str:
        """What to show a person: a file's path, a server's host and database (never a password)."""
        ...

    @property
    def url(self) -> str: ...

    @property
    def notices(self) -> list[str]:
        """Things a person should know about this database (an upgrade read in memory...)."""
        ...

    def change_token(self) -> int | None:
        """A value that changes with every commit by anyone (None when the store cannot tell cheaply)."""
        ...

    def subscribe(self, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """Call ``on_change`` (from another thread) soon after anyone commits a change.

        Returns a function that stops it, or None when the store cannot tell
        (then a screen polls ``change_marker``).
        """
        ...

    def reading(self) -> AbstractContextManager[Transaction]: ...
    def writing(self) -> AbstractContextManager[Transaction]: ...
    def fill_empty_from(self, source: Store) -> bool:
        """Copy every row of ``source`` into this store in one transaction, if it holds no agent yet."""
        ...

    def close(self) -> None: ...
    def close_and_discard(self) -> bool:
        """Close; and if opening this store created its database file and nothing was written to it since,
        remove the file again (a command that failed leaves no empty database behind). True when removed."""
        ...


def chunks(values: Iterable[T], size: int) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size`` (for ``IN (...)`` lists a driver bounds)."""
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
