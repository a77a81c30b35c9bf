"""Report figures per group, and the exact percentiles both stores compute the same way.

Percentiles are linearly interpolated (``position = q * (n - 1)``), which is what
PostgreSQL's ``percentile_cont`` computes. SQLite has no percentile function,
so :func:`register_percentiles` adds one to a connection: an aggregate that
keeps only the group's non-null values, sorts them once and returns p50, p95
and p99 together. A report then reads every group's figures, percentiles
included, in one ``GROUP BY`` pass, with no row crossing into Python.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "QUANTILES",
    "GroupBy",
    "GroupStats",
    "group_rows",
    "percentile",
    "percentiles_of",
    "percentiles_sql",
    "register_percentiles",
]

GroupBy = Literal["model", "day", "prompt", "operation", "tag"]
QUANTILES = (0.50, 0.95, 0.99)
PERCENTILES_FUNCTION = "ragwright_percentiles"


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
    return _sorted_percentile(ordered, q)


def _sorted_percentile(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class _Percentiles:
    """SQLite aggregate ``ragwright_percentiles(x)``: JSON ``[p50, p95, p99]`` of non-null x."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def step(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> str | None:
        if not self.values:
            return None
        self.values.sort()
        return json.dumps([_sorted_percentile(self.values, q) for q in QUANTILES])


def register_percentiles(conn: sqlite3.Connection) -> None:
    """Add ``ragwright_percentiles`` to a SQLite connection (once per connection)."""
    conn.create_aggregate(PERCENTILES_FUNCTION, 1, _Percentiles)  # type: ignore[arg-type]


def percentiles_sql(dialect: str, column: str) -> str:
    """The SQL of p50, p95 and p99 of ``column`` (NULLs ignored; NULL when none is left)."""
    if dialect == "postgresql":
        return f"percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY {column})"
    return f"{PERCENTILES_FUNCTION}({column})"


def percentiles_of(value: Any) -> list[float] | None:
    """What the percentile column holds: JSON text (SQLite), an array (PostgreSQL), or NULL."""
    if value is None:
        return None
    return [float(v) for v in (json.loads(value) if isinstance(value, str) else value)]


class CallRow(Protocol):
    """The columns of a stored call that a report reads."""

    @property
    def ts(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def operation(self) -> str: ...
    @property
    def prompt(self) -> str | None: ...
    @property
    def prompt_tokens(self) -> int: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def estimated(self) -> int: ...
    @property
    def latency_ms(self) -> float: ...
    @property
    def cost_usd(self) -> float | None: ...
    @property
    def status(self) -> str: ...
    @property
    def tags(self) -> str: ...
    @property
    def ttft_ms(self) -> float | None: ...


def _keys(by: GroupBy) -> Callable[[CallRow], Iterator[str]]:
    def keys(row: CallRow) -> Iterator[str]:
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


def group_rows(rows: Iterable[CallRow], by: GroupBy) -> list[GroupStats]:
    """The report computed in Python, for databases without a SQL plan (and as its reference)."""
    keys = _keys(by)
    groups: dict[str, list[CallRow]] = {}
    for row in rows:
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
