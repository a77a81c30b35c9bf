"""SQLite store of model calls (``.ragwright/costs.db``), WAL mode, migrated in order."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ragwright.costs.record import CallRecord
from ragwright.sqlite import connect, execute_script, migrate, transaction

__all__ = ["CostStore", "GroupStats"]

GroupBy = Literal["model", "day", "prompt", "operation", "tag"]


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


MIGRATIONS = [_v1]


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


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank-interpolated percentile; 0.0 for an empty sequence."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


class CostStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
        migrate(self.conn, MIGRATIONS)

    def close(self) -> None:
        self.conn.close()

    def insert(self, records: Iterable[CallRecord]) -> int:
        rows = [
            (
                r.ts,
                r.provider,
                r.model,
                r.operation,
                r.prompt,
                r.prompt_tokens,
                r.completion_tokens,
                int(r.estimated),
                r.latency_ms,
                r.cost_usd,
                r.status,
                r.error_type,
                int(r.cached),
                json.dumps(dict(r.tags), sort_keys=True),
            )
            for r in records
        ]
        if rows:
            with transaction(self.conn):
                self.conn.executemany(
                    "INSERT INTO calls (ts, provider, model, operation, prompt, prompt_tokens,"
                    " completion_tokens, estimated, latency_ms, cost_usd, status, error_type,"
                    " cached, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        return len(rows)

    def spend(
        self, *, since: str, model: str | None = None, tag: tuple[str, str] | None = None
    ) -> tuple[float, int]:
        """(known spend in USD, calls with unknown price) since ``since``, optionally filtered."""
        clauses, params = ["ts >= ?"], [since]
        if model:
            clauses.append("(model = ? OR provider || '/' || model = ?)")
            params += [model, model]
        if tag:
            clauses.append("json_extract(tags, ?) = ?")
            params += [f'$."{tag[0]}"', tag[1]]
        row = self.conn.execute(
            "SELECT COALESCE(SUM(cost_usd), 0), SUM(cost_usd IS NULL) FROM calls"
            f" WHERE {' AND '.join(clauses)}",
            params,
        ).fetchone()
        return float(row[0]), int(row[1] or 0)

    def daily_spend(self, *, since: str | None = None) -> dict[str, dict[str, float]]:
        """day -> model -> known spend, for charts."""
        where, params = ("WHERE ts >= ?", [since]) if since else ("", [])
        rows = self.conn.execute(
            "SELECT substr(ts, 1, 10), provider || '/' || model, COALESCE(SUM(cost_usd), 0)"
            f" FROM calls {where} GROUP BY 1, 2 ORDER BY 1, 2",
            params,
        ).fetchall()
        result: dict[str, dict[str, float]] = {}
        for day, model, spend in rows:
            result.setdefault(day, {})[model] = float(spend)
        return result

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def group(
        self,
        by: GroupBy,
        *,
        since: str | None = None,
        until: str | None = None,
        where_prompt: str | None = None,
    ) -> list[GroupStats]:
        key_sql = {
            "model": "provider || '/' || model",
            "day": "substr(ts, 1, 10)",
            "prompt": "COALESCE(prompt, '-')",
            "operation": "operation",
            "tag": "tag.key || '=' || tag.value",  # a call with two tags counts in both groups
        }[by]
        source = "calls, json_each(calls.tags) AS tag" if by == "tag" else "calls"
        clauses, params = [], []
        if since:
            clauses.append("ts >= ?")
            params.append(since)
        if until:
            clauses.append("ts < ?")
            params.append(until)
        if where_prompt:
            clauses.append("prompt = ?")
            params.append(where_prompt)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(
            f"SELECT {key_sql}, latency_ms, prompt_tokens, completion_tokens, estimated,"
            f" cost_usd, status FROM {source} {where}",
            params,
        ).fetchall()
        groups: dict[str, list[tuple[float, int, int, int, float | None, str]]] = {}
        for key, *rest in rows:
            groups.setdefault(str(key), []).append(tuple(rest))
        result = []
        for key in sorted(groups):
            items = groups[key]
            latencies = [i[0] for i in items]
            unpriced = sum(1 for i in items if i[4] is None)
            result.append(
                GroupStats(
                    key=key,
                    calls=len(items),
                    prompt_tokens=sum(i[1] for i in items),
                    completion_tokens=sum(i[2] for i in items),
                    estimated_calls=sum(i[3] for i in items),
                    cost_usd=None if unpriced else sum(i[4] or 0.0 for i in items),
                    unpriced_calls=unpriced,
                    p50_ms=percentile(latencies, 0.50),
                    p95_ms=percentile(latencies, 0.95),
                    p99_ms=percentile(latencies, 0.99),
                    error_rate=sum(1 for i in items if i[5] != "ok") / len(items),
                )
            )
        return result
