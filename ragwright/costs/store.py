"""Stores of model calls: SQLite by default, any SQLAlchemy database by URL.

``CostStore`` is the local file (``.ragwright/costs.db``, WAL mode, several
writer processes at once). ``SqlAlchemyCostStore`` (``sql_store``) takes a URL
(``RAGWRIGHT_COSTS_URL``, e.g. Postgres) so many machines report into one
place. Both share the queries in :class:`BaseCostStore`: each report is one
``GROUP BY`` in SQL (:mod:`ragwright.costs.queries`), percentiles included, on
SQLite and PostgreSQL; other databases are aggregated in Python with the same
results (:func:`ragwright.costs.stats.group_rows`).
"""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from ragwright.costs.queries import (
    SQL_DIALECTS,
    daily_query,
    group_query,
    spend_query,
    stats_of,
)
from ragwright.costs.record import CallRecord
from ragwright.costs.stats import GroupBy, GroupStats, group_rows, percentile, register_percentiles
from ragwright.sqlite import (
    StoreError,
    connect,
    database_errors,
    execute_script,
    migrate,
    transaction,
)

__all__ = [
    "BaseCostStore",
    "CostStore",
    "GroupBy",
    "GroupStats",
    "open_cost_store",
    "percentile",
]

COLUMNS = (
    "ts",
    "provider",
    "model",
    "operation",
    "prompt",
    "prompt_tokens",
    "completion_tokens",
    "estimated",
    "latency_ms",
    "cost_usd",
    "status",
    "error_type",
    "cached",
    "tags",
    "ttft_ms",
)


class Row(NamedTuple):
    ts: str
    provider: str
    model: str
    operation: str
    prompt: str | None
    prompt_tokens: int
    completion_tokens: int
    estimated: int
    latency_ms: float
    cost_usd: float | None
    status: str
    tags: str
    ttft_ms: float | None = None


def _as_dict(record: CallRecord) -> dict[str, Any]:
    return {
        "ts": record.ts,
        "provider": record.provider,
        "model": record.model,
        "operation": record.operation,
        "prompt": record.prompt,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "estimated": int(record.estimated),
        "latency_ms": record.latency_ms,
        "cost_usd": record.cost_usd,
        "status": record.status,
        "error_type": record.error_type,
        "cached": int(record.cached),
        "tags": json.dumps(dict(record.tags), sort_keys=True),
        "ttft_ms": record.ttft_ms,
    }


def _as_row(record: CallRecord) -> tuple[Any, ...]:
    values = _as_dict(record)
    return tuple(values[c] for c in COLUMNS)


class BaseCostStore(ABC):
    """The queries both stores share; ``dialect`` says whether they run as SQL."""

    dialect: str = ""  # "sqlite" and "postgresql" aggregate in SQL; others in Python
    table_name: str = "calls"

    @abstractmethod
    def insert(self, records: Iterable[CallRecord]) -> int: ...

    @abstractmethod
    def rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def _fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """All rows of a read-only query with ``:name`` parameters."""

    def group(
        self, by: GroupBy, *, since: str | None = None, until: str | None = None
    ) -> list[GroupStats]:
        """Figures per group, sorted by key; aggregated by the database where it can."""
        if self.dialect not in SQL_DIALECTS:
            return group_rows(self.rows(since=since, until=until), by)
        sql, params = group_query(by, self.dialect, self.table_name, since=since, until=until)
        return sorted((stats_of(r) for r in self._fetch(sql, params)), key=lambda g: g.key)

    def spend(
        self, *, since: str, model: str | None = None, tag: tuple[str, str] | None = None
    ) -> tuple[float, int]:
        """(known spend in USD, calls with unknown price) since ``since``, optionally filtered."""
        if self.dialect in SQL_DIALECTS:
            sql, params = spend_query(
                self.dialect, self.table_name, since=since, model=model, tag=tag
            )
            ((known, unpriced),) = self._fetch(sql, params)
            return float(known or 0.0), int(unpriced or 0)
        known, unpriced = 0.0, 0
        for row in self.rows(since=since):
            if model and model not in (row.model, f"{row.provider}/{row.model}"):
                continue
            if tag and json.loads(row.tags).get(tag[0]) != tag[1]:
                continue
            if row.cost_usd is None:
                unpriced += 1
            else:
                known += row.cost_usd
        return known, unpriced

    def daily_spend(self, *, since: str | None = None) -> dict[str, dict[str, float]]:
        """day -> model -> known spend, for charts."""
        result: dict[str, dict[str, float]] = {}
        if self.dialect in SQL_DIALECTS:
            for day, model, spent in self._fetch(*daily_query(self.table_name, since=since)):
                result.setdefault(day, {})[model] = float(spent)
            return result
        for row in self.rows(since=since):
            per_day = result.setdefault(row.ts[:10], {})
            key = f"{row.provider}/{row.model}"
            per_day[key] = per_day.get(key, 0.0) + (row.cost_usd or 0.0)
        return result


def _v1(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        CREATE TABLE calls (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
            operation TEXT NOT NULL, prompt TEXT,
            prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
            estimated INTEGER NOT NULL, latency_ms REAL NOT NULL, cost_usd REAL,
            status TEXT NOT NULL, error_type TEXT, cached INTEGER NOT NULL DEFAULT 0,
            tags TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX calls_ts ON calls(ts);
        CREATE INDEX calls_model ON calls(model)
        """,
    )


def _v2_ttft(conn: sqlite3.Connection) -> None:
    """Time to first token of streamed calls; older rows (not streamed) keep NULL."""
    execute_script(conn, "ALTER TABLE calls ADD COLUMN ttft_ms REAL")


MIGRATIONS = [_v1, _v2_ttft]
_SELECT = (
    "SELECT ts, provider, model, operation, prompt, prompt_tokens, completion_tokens,"
    " estimated, latency_ms, cost_usd, status, tags, ttft_ms FROM calls"
)


class CostStore(BaseCostStore):
    """The local SQLite file: WAL mode, safe with several writer processes.

    Every method maps SQLite errors (a damaged page, a full disk, a read-only
    file) to a one-line :class:`~ragwright.sqlite.StoreError` naming the file.
    """

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
        register_percentiles(self.conn)
        try:
            with database_errors(path):
                migrate(self.conn, MIGRATIONS)
        except StoreError:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def insert(self, records: Iterable[CallRecord]) -> int:
        rows = [_as_row(r) for r in records]
        if rows:
            with database_errors(self.path), transaction(self.conn):
                self.conn.executemany(
                    f"INSERT INTO calls ({', '.join(COLUMNS)})"
                    f" VALUES ({', '.join('?' * len(COLUMNS))})",
                    rows,
                )
        return len(rows)

    def rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]:
        clauses, params = [], []
        if since:
            clauses.append("ts >= ?")
            params.append(since)
        if until:
            clauses.append("ts < ?")
            params.append(until)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with database_errors(self.path):  # a damaged page shows up mid-scan
            for raw in self.conn.execute(_SELECT + where, params):
                yield Row(*raw)

    def count(self) -> int:
        with database_errors(self.path):
            return int(self.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def _fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with database_errors(self.path):
            return self.conn.execute(sql, params).fetchall()


def open_cost_store(target: Path | str) -> BaseCostStore:
    """A path opens the SQLite file; a URL (``scheme://...``) opens it with SQLAlchemy."""
    if isinstance(target, str) and "://" in target:
        from ragwright.costs.sql_store import SqlAlchemyCostStore

        return SqlAlchemyCostStore(target)
    return CostStore(Path(target))


def __getattr__(name: str) -> Any:
    if name == "SqlAlchemyCostStore":  # imports SQLAlchemy: load on first use only
        from ragwright.costs.sql_store import SqlAlchemyCostStore

        return SqlAlchemyCostStore
    raise AttributeError(f"module 'ragwright.costs.store' has no attribute {name!r}")
