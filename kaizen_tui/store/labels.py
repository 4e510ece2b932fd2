"""The statements of labels and their ledger, one text for both backends.

They differ between SQLite and PostgreSQL only in the parameter mark (``?``
or ``%s``) and in how names are ordered (PostgreSQL compares them byte-wise,
``COLLATE "C"``, so that both backends list labels in the same order): the
:class:`~kaizen_tui.store.dialect.Dialect` says which, :func:`label_sql`
writes them for it and :class:`LabelStatements` (a mixin of the shared
transaction, ``statements.SQLTransaction``) runs them.

The ledger's order is its entries' time, then the order this database
recorded them in (``at``, then ``id``): the newest entry is the last one
in it. Within one database that is the order of the moves; entries an
import brought from another database take their place by their time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from kaizen_tui.store.base import LABEL_COLUMNS, LABEL_EVENT_COLUMNS, PROTECTED_LABEL_COLUMNS, Row
from kaizen_tui.store.dialect import Dialect

_LABEL_KEYS = ("agent_id", "label", "version_id", "updated_by", "updated_at")
_LABEL_EVENT_FIELDS = LABEL_EVENT_COLUMNS[1:]


@dataclass(frozen=True)
class LabelSQL:
    """The statements, in one backend's SQL."""

    labels: str
    label: str
    put_label: str
    delete_label: str
    insert_label_event: str
    label_events: str
    label_events_of_label: str
    label_event_at: str
    protected_labels: str
    protect_label: str
    unprotect_label: str
    #: The largest id or count the backend's integers hold (a "no bound" for ``before`` and ``limit``).
    max_integer: int
    #: Sorts after any time a ledger entry has: the bound of a page whose ``before`` names no entry.
    after_any_time: str = "\U0010ffff"


def label_sql(dialect: Dialect) -> LabelSQL:
    """The statements in the dialect's SQL."""
    mark, collate, marks = dialect.mark, dialect.collate, dialect.marks
    select = (
        "SELECT l.agent_id, l.label, l.version_id, v.version_number, l.updated_by, l.updated_at "
        "FROM agent_label l JOIN agent_version v ON v.id = l.version_id"
    )
    ledger = f"SELECT {', '.join(LABEL_EVENT_COLUMNS)} FROM label_event"
    # Older than entry ``before`` in the ledger's order (time, then id); every entry when there is no such entry.
    cursor_time = f"(SELECT b.at FROM label_event b WHERE b.id = {mark})"
    older = f"(at{collate} < COALESCE({cursor_time}, {mark}) OR (at = {cursor_time} AND id < {mark}))"
    newest_first = f"ORDER BY at{collate} DESC, id DESC LIMIT {mark}"
    return LabelSQL(
        labels=f"{select} WHERE l.agent_id = {mark} ORDER BY l.label{collate}",
        label=f"{select} WHERE l.agent_id = {mark} AND l.label = {mark}",
        put_label=(
            f"INSERT INTO agent_label ({', '.join(_LABEL_KEYS)}) VALUES ({marks(len(_LABEL_KEYS))}) "
            "ON CONFLICT (agent_id, label) DO UPDATE SET version_id = excluded.version_id, "
            "updated_by = excluded.updated_by, updated_at = excluded.updated_at"
        ),
        delete_label=f"DELETE FROM agent_label WHERE agent_id = {mark} AND label = {mark}",
        insert_label_event=(
            f"INSERT INTO label_event ({', '.join(_LABEL_EVENT_FIELDS)}) VALUES ({marks(len(_LABEL_EVENT_FIELDS))})"
        ),
        label_events=f"{ledger} WHERE agent_id = {mark} AND {older} {newest_first}",
        label_events_of_label=f"{ledger} WHERE agent_id = {mark} AND label = {mark} AND {older} {newest_first}",
        label_event_at=(
            f"{ledger} WHERE agent_id = {mark} AND label = {mark} AND at <= {mark} ORDER BY at DESC, id DESC LIMIT 1"
        ),
        protected_labels=f"SELECT {', '.join(PROTECTED_LABEL_COLUMNS)} FROM protected_label ORDER BY label{collate}",
        protect_label=(
            f"INSERT INTO protected_label ({', '.join(PROTECTED_LABEL_COLUMNS)}) VALUES ({marks(3)}) "
            "ON CONFLICT (label) DO NOTHING"
        ),
        unprotect_label=f"DELETE FROM protected_label WHERE label = {mark}",
        max_integer=dialect.max_integer,
    )


class LabelStatements:
    """The label methods of ``base.Transaction``, for a transaction with a DB-API ``connection``.

    The class using it sets :attr:`LABEL_SQL`, the statements in its backend's dialect.
    Label names reach these methods checked (``core.labels.check_label``).
    """

    __slots__ = ()
    connection: Any
    LABEL_SQL: ClassVar[LabelSQL]

    def labels(self, agent_id: str) -> list[Row]:
        rows = self.connection.execute(self.LABEL_SQL.labels, (agent_id,)).fetchall()
        return [dict(zip(LABEL_COLUMNS, row)) for row in rows]

    def label(self, agent_id: str, label: str) -> Row | None:
        row = self.connection.execute(self.LABEL_SQL.label, (agent_id, label)).fetchone()
        return dict(zip(LABEL_COLUMNS, row)) if row else None

    def put_label(self, label: Mapping[str, Any]) -> None:
        self.connection.execute(self.LABEL_SQL.put_label, tuple(label[key] for key in _LABEL_KEYS))

    def delete_label(self, agent_id: str, label: str) -> None:
        self.connection.execute(self.LABEL_SQL.delete_label, (agent_id, label))

    def insert_label_event(self, event: Mapping[str, Any]) -> None:
        self.connection.execute(self.LABEL_SQL.insert_label_event, tuple(event[key] for key in _LABEL_EVENT_FIELDS))

    def label_events(self, agent_id: str, label: str | None, limit: int, before: int | None = None) -> list[Row]:
        most = self.LABEL_SQL.max_integer
        below = most if before is None else max(0, min(before, most))
        older = (below, self.LABEL_SQL.after_any_time, below, below)
        if label is None:
            parameters: tuple[Any, ...] = (agent_id, *older, min(limit, most))
            rows = self.connection.execute(self.LABEL_SQL.label_events, parameters).fetchall()
        else:
            parameters = (agent_id, label, *older, min(limit, most))
            rows = self.connection.execute(self.LABEL_SQL.label_events_of_label, parameters).fetchall()
        return [dict(zip(LABEL_EVENT_COLUMNS, row)) for row in rows]

    def label_event_at(self, agent_id: str, label: str, at: str) -> Row | None:
        row = self.connection.execute(self.LABEL_SQL.label_event_at, (agent_id, label, at)).fetchone()
        return dict(zip(LABEL_EVENT_COLUMNS, row)) if row else None

    def protected_labels(self) -> list[Row]:
        rows = self.connection.execute(self.LABEL_SQL.protected_labels).fetchall()
        return [dict(zip(PROTECTED_LABEL_COLUMNS, row)) for row in rows]

    def protect_label(self, row: Mapping[str, Any]) -> bool:
        values = tuple(row[key] for key in PROTECTED_LABEL_COLUMNS)
        return bool(self.connection.execute(self.LABEL_SQL.protect_label, values).rowcount > 0)

    def unprotect_label(self, label: str) -> bool:
        return bool(self.connection.execute(self.LABEL_SQL.unprotect_label, (label,)).rowcount > 0)
