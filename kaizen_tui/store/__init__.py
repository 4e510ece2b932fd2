"""Where the data lives: SQL, drivers and schema migrations behind one interface (``base.py``).

:func:`open_store` picks the implementation from the target: a path or a
``sqlite:///`` URL is a SQLite file (``sqlite.py``).
"""

from __future__ import annotations

import os

from kaizen_tui.store.base import Store, Transaction


def open_store(
    target: str | os.PathLike[str] | None = None, *, read_only: bool = False, create: bool = True
) -> Store:
    """Open the database at ``target`` (the per-user SQLite file when None).

    ``create=False`` opens only a database that exists: where there is none,
    a :class:`~kaizen_tui.core.errors.DatabaseError` names the target and
    nothing is created (for commands that only read).
    """
    from kaizen_tui.store.sqlite import open_sqlite

    return open_sqlite(target, read_only=read_only, create=create)


__all__ = ["Store", "Transaction", "open_store"]
