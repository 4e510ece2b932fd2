"""Where the data lives: SQL, drivers and schema migrations behind one interface (``base.py``).

:func:`open_store` picks the implementation from the target: a path or a
``sqlite:///`` URL is a SQLite file (``sqlite.py``); a ``postgresql://`` URL is
a PostgreSQL database (``postgres.py``, which alone imports psycopg). The two
share their statements (``statements.py``, ``labels.py``, written once for a
``dialect.py``) and schema (``models.py``, ``ddl.py``); neither imports the
other.
"""

from __future__ import annotations

import os

from kaizen_tui.store.base import Store, Transaction


def open_store(target: str | os.PathLike[str] | None = None, *, read_only: bool = False, create: bool = True) -> Store:
    """Open the database at ``target`` (the per-user SQLite file when None).

    ``create=False`` opens only a database that exists: where there is none,
    a :class:`~kaizen_tui.core.errors.DatabaseError` names the target and
    nothing is created (for commands that only read).
    """
    if target is not None and _is_postgres_url(os.fspath(target)):
        try:
            from kaizen_tui.store.postgres import open_postgres
        except ImportError as error:
            from kaizen_tui.core.errors import DatabaseError

            raise DatabaseError(
                f"PostgreSQL support needs psycopg, which is not installed ({error.name}): "
                "pip install 'psycopg[binary,pool]'"
            ) from None
        from kaizen_tui.store.sqlite import empty_stand_in

        # An empty database that may not get our schema now reads as an empty schema in memory.
        return open_postgres(os.fspath(target), stand_in=empty_stand_in, read_only=read_only, create=create)
    from kaizen_tui.store.sqlite import open_sqlite

    return open_sqlite(target, read_only=read_only, create=create)


def _is_postgres_url(target: str) -> bool:
    scheme, separator, _ = target.partition("://")
    return bool(separator) and scheme.lower().split("+", 1)[0] in ("postgresql", "postgres")


__all__ = ["Store", "Transaction", "open_store"]
