"""Stores of model calls: SQLite by default, any SQLAlchemy database by URL.

``CostStore`` is the local file (``.ragwright/costs.db``, WAL mode, several
writer processes at once). ``SqlAlchemyCostStore`` (``sql_store``) takes a URL
(``RAGWRIGHT_COSTS_URL``, e.g. Postgres) so many machines report into one
place. Both share the queries in :class:`BaseCostStore`, which aggregate the
filtered rows in Python: the same results on every database, tags included.
"""

from __future__ import annotations

import json
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from ragwright.costs.record import CallRecord
from ragwright.sqlite import (
    StoreError,
    connect,
    database_errors,
    execute_script,
    migrate,
    transaction,
)

__all__ = ["BaseCostStore", "CostStore", "GroupStats", "open_cost_store"]

GroupBy = Literal["model", "day", "prompt", "operation", "tag"]
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


@dataclass(frozen=True, slots=True)
class GroupStats:
    key: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    estimated_calls: int
    cost_usd: float | None  # None when any call in the group had an unknown price
    unpriced_calls: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_rate: float
    ttft_p50_ms: float | None = None  # None: no streamed call in the group
    ttft_p95_ms: float | None = None


def percentile(values: Sequence[float], q: float) -> float:
    """Linearly interpolated percentile; 0.0 for an empty sequence."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _keys(by: GroupBy) -> Callable[[Row], Iterator[str]]:
    def keys(row: Row) -> Iterator[str]:
        if by == "model":
            yield f"{row.provider}/{row.model}"
        elif by == "day":
            yield row.ts[:10]
        elif by == "prompt":
            yield row.prompt or "-"
        elif by == "operation":
            yield row.operation
        else:  # a call with two tags counts in both groups
            yield from (f"{k}={v}" for k, v in json.loads(row.tags).items())

    return keys


class BaseCostStore(ABC):
    @abstractmethod
    def insert(self, records: Iterable[CallRecord]) -> int: ...

    @abstractmethod
    def rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]: ...

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    def group(
        self, by: GroupBy, *, since: str | None = None, until: str | None = None
    ) -> list[GroupStats]:
        keys = _keys(by)
        groups: dict[str, list[Row]] = {}
        for row in self.rows(since=since, until=until):
            for key in keys(row):
                groups.setdefault(key, []).append(row)
        result = []
        for key in sorted(groups):
            items = groups[key]
            latencies = [r.latency_ms for r in items]
            ttfts = [r.ttft_ms for r in items if r.ttft_ms is not None]
            unpriced = sum(1 for r in items if r.cost_usd is None)
            result.append(
                GroupStats(
                    key=key,
                    calls=len(items),
                    prompt_tokens=sum(r.prompt_tokens for r in items),
                    completion_tokens=sum(r.completion_tokens for r in items),
                    estimated_calls=sum(r.estimated for r in items),
                    cost_usd=None if unpriced else sum(r.cost_usd or 0.0 for r in items),
                    unpriced_calls=unpriced,
                    p50_ms=percentile(latencies, 0.50),
                    p95_ms=percentile(latencies, 0.95),
                    p99_ms=percentile(latencies, 0.99),
                    error_rate=sum(1 for r in items if r.status != "ok") / len(items),
                    ttft_p50_ms=percentile(ttfts, 0.50) if ttfts else None,
                    ttft_p95_ms=percentile(ttfts, 0.95) if ttfts else None,
                )
            )
        return result

    def spend(
        self, *, since: str, model: str | None = None, tag: tuple[str, str] | None = None
    ) -> tuple[float, int]:
        """(known spend in USD, calls with unknown price) since ``since``, optionally filtered."""
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

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
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
