"""Reading the local trace file for reports without SQLAlchemy: ``monitor report`` is one-shot.

Importing SQLAlchemy costs a one-shot command about a quarter of a second, as
much as the report's own query over 100,000 traces. :func:`open_trace_reader`
therefore answers a report on the local SQLite file with ``sqlite3`` alone when
the file is at the current schema, and falls back to the full
:class:`~ragwright.traces.store.TraceStore` (which migrates, and speaks any
URL) otherwise. Both satisfy :class:`TraceSource`, what the aggregates need.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ragwright.costs.stats import register_percentiles
from ragwright.sqlite import database_errors

if TYPE_CHECKING:
    from ragwright.traces.store import TraceFilter

__all__ = ["SCHEMA_VERSION", "LocalTraceReader", "TraceSource", "open_trace_reader"]

SCHEMA_VERSION = 3  # len(ragwright.traces.store.MIGRATIONS); a test keeps them equal
_VERSIONS = "ragwright_trace_migrations"


class TraceSource(Protocol):
    """What the monitoring aggregates read: a dialect name, SQL text, and rows for fallbacks."""

    dialect: str

    def fetch_sql(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]: ...

    def select(self, where: TraceFilter | None = None) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class LocalTraceReader:
    """The local trace file through ``sqlite3``, read only, at the current schema."""

    dialect = "sqlite"

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    def fetch_sql(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with database_errors(self.path):
            return self.conn.execute(sql, params).fetchall()

    def select(self, where: TraceFilter | None = None) -> list[dict[str, Any]]:
        """Whole traces: rare for a report (never on SQLite), so through the full store."""
        from ragwright.traces.store import open_trace_store

        store = open_trace_store(self.path)
        try:
            return store.select(where)
        finally:
            store.close()

    def close(self) -> None:
        self.conn.close()


def _current(path: Path) -> sqlite3.Connection | None:
    """A connection when ``path`` holds traces at the current schema; None otherwise."""
    if not path.is_file():
        return None
    with database_errors(path):
        conn = sqlite3.connect(path, timeout=2.0, isolation_level=None)
        try:
            found = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (_VERSIONS,)
            ).fetchone()
            versions = (
                {v for (v,) in conn.execute(f"SELECT version FROM {_VERSIONS}")} if found else set()
            )
        except BaseException:
            conn.close()
            raise
    if versions >= set(range(1, SCHEMA_VERSION + 1)):
        register_percentiles(conn)
        return conn
    conn.close()
    return None


def open_trace_reader(target: Path | str) -> TraceSource:
    """The light reader for a current local file; the full store for a URL or an old file."""
    if isinstance(target, Path) and (conn := _current(target)) is not None:
        return LocalTraceReader(target, conn)
    from ragwright.traces.store import open_trace_store

    return open_trace_store(target)
