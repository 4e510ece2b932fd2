"""How SQLite's and PostgreSQL's SQL differ, for the statements we run: the one place that knows.

The statements (``statements.py``, ``labels.py``) are written once and take
a :class:`Dialect` for the few things the two spell differently: the
parameter mark, the order of names (PostgreSQL sorts byte-wise only with
``COLLATE "C"``, SQLite always does), lower-casing ASCII, ``max``/``greatest``
of two values, SQLite's ``INDEXED BY`` hints, "no limit", lists of values
(``IN (?, ?)`` against one array parameter), and the largest integer the
columns hold. Pure data, no driver: each backend module picks its dialect.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_ASCII_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Dialect:
    """The spelling of one backend's SQL where it differs from the other's."""

    #: SQLAlchemy's name of the dialect (``models.py`` is compiled with it).
    name: str
    #: A positional parameter.
    mark: str
    #: A named parameter, ``{}`` standing for the name (its value comes from a dict).
    named_mark: str
    #: After a text column in ``ORDER BY`` or a comparison of times: byte-wise, as Python compares str.
    collate: str
    #: ``{}`` lower-cased in ASCII only (the order of the agents list, ``service.agent_sort_key``).
    ascii_lower: str
    #: The function of the greater of two values.
    greatest: str
    #: Whether ``INDEXED BY`` hints are written (SQLite's planner needs them where two indexes could serve).
    index_hints: bool
    #: The largest value of an id, number or count column: a bound past it means "all of them".
    max_integer: int
    #: A bound of ``number < ?`` that every stored number is below and the driver can still send.
    above_any: int
    #: The LIMIT that means none.
    no_limit: int | None
    #: True: a list of values is one array parameter (``= ANY(%s)``); False: one parameter each (``IN (?, ?)``).
    array_parameters: bool
    #: How many values one statement lists (SQLite takes at most 32,766 parameters).
    list_size: int

    def marks(self, count: int) -> str:
        """``?, ?, ?``: ``count`` positional parameters."""
        return ", ".join([self.mark] * count)

    def param(self, name: str) -> str:
        """The named parameter ``name``."""
        return self.named_mark.format(name)

    def indexed_by(self, index: str) -> str:
        """`` INDEXED BY index`` where the backend takes the hint; nothing elsewhere."""
        return f" INDEXED BY {index}" if self.index_hints else ""

    def lower(self, expression: str) -> str:
        return self.ascii_lower.format(expression)

    def one_of(self, column: str, count: int) -> str:
        """``column`` is one of a list of ``count`` values (given by :meth:`list_parameters`)."""
        if self.array_parameters:
            return f"{column} = ANY({self.mark})"
        return f"{column} IN ({self.marks(count)})"

    def list_parameters(self, values: Sequence[Any]) -> tuple[Any, ...]:
        """The parameters of :meth:`one_of` for ``values``."""
        return (list(values),) if self.array_parameters else tuple(values)


SQLITE = Dialect(
    name="sqlite",
    mark="?",
    named_mark=":{}",
    collate="",
    ascii_lower="lower({})",  # SQLite's lower() changes ASCII letters only
    greatest="max",
    index_hints=True,
    max_integer=2**63 - 1,
    above_any=2**63 - 1,  # sqlite3 cannot send a larger number
    no_limit=-1,
    array_parameters=False,
    list_size=500,
)

POSTGRESQL = Dialect(
    name="postgresql",
    mark="%s",
    named_mark="%({})s",
    collate=' COLLATE "C"',
    ascii_lower=f"translate({{}}, '{_ASCII_UPPER}', '{_ASCII_UPPER.lower()}')",
    greatest="greatest",
    index_hints=False,
    max_integer=2**31 - 1,  # version numbers, revisions and serial ids are INTEGER
    above_any=2**31,  # sent as a BIGINT, compared with INTEGER columns
    no_limit=None,
    array_parameters=True,
    list_size=sys.maxsize,
)
