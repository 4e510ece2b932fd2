"""Where the data lives: SQL, drivers and schema migrations behind one interface (``base.py``).

:func:`open_store` picks the implementation from the target: a path or a
``sqlite:///`` URL is a SQLite file (``sqlite.py``).
"""

from __future__ import annotations

import os

from kaizen_tui.store.base import Store, Transaction


def open_store(target: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Store:
    """Open the database at ``target`` (the per-user SQLite file when None)."""
    from kaizen_tui.store.sqlite import open_sqlite

    return open_sqlite(target, read_only=read_only)


__all__ = ["Store", "Transaction", "open_store"]
