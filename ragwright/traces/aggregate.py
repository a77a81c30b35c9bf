"""Monitoring figures computed by the trace database: one ``GROUP BY`` per report.

The same figures as :func:`ragwright.traces.report.figures` (its reference, for
rows already in memory), counted by SQL instead of decoding every trace's JSON
in Python: rates as conditional sums, means as sums and counts, latency
percentiles exact (``percentile_cont`` on PostgreSQL, the ``ragwright_percentiles``
aggregate on SQLite). On SQLite every column read is in the
``ragwright_traces_report`` index, so a report never touches the kilobytes of
spans and contexts each trace holds. The SQL is text with ``:name`` parameters,
so the local file answers through ``sqlite3`` alone (:mod:`ragwright.traces.reader`)
and a URL through SQLAlchemy. Databases other than SQLite and PostgreSQL get
the in-memory reference over the selected rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ragwright.costs.stats import percentiles_of, percentiles_sql
from ragwright.traces.reader import TraceSource
from ragwright.traces.report import figures, report

__all__ = ["store_figures", "store_report", "store_retrieval_drop"]

_SQL_DIALECTS = ("sqlite", "postgresql")
_TABLE = "ragwright_traces"
_KEYS = {
    "day": "substr(ts, 1, 10)",
    "prompt": "COALESCE(prompt, '-')",
    "index": "COALESCE(index_version, '-')",
    "day_prompt": "substr(ts, 1, 10) || ' ' || COALESCE(prompt, '-')",
}
_OK = "error IS NULL"
_SCORED = f"{_OK} AND eval_status = 'scored'"


def _count_if(condition: str) -> str:
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _truthy(column: str) -> str:
    return f"{column} IS NOT NULL AND {column} <> 0"


def _sum_and_count(condition: str, column: str) -> str:
    value = f"CASE WHEN {condition} THEN {column} END"
    return f"SUM({value}), COUNT({value})"  # a mean that adds up across groups


def _latency(dialect: str) -> str:
    return percentiles_sql(dialect, f"CASE WHEN {_OK} THEN latency_ms END")


def _figure_columns(dialect: str) -> str:
    """Counts and sums first (the overall row is their total), the percentiles last."""
    return ", ".join(
        [
            "COUNT(*)",
            _count_if(_OK),
            _count_if(f"{_OK} AND {_truthy('answered')}"),
            _count_if(_SCORED),
            _count_if(f"{_SCORED} AND {_truthy('hallucinated')}"),
            _sum_and_count(f"{_SCORED} AND {_truthy('relevance')}", "relevance"),
            _count_if(f"{_OK} AND feedback IS NOT NULL"),
            _count_if(f"{_OK} AND feedback = -1"),
            _sum_and_count(_OK, "top_score"),
            _sum_and_count(_OK, "cost_usd"),
            _count_if(f"{_OK} AND llm_status = 'scored'"),
            _count_if(f"{_OK} AND llm_status = 'budget'"),
            _latency(dialect),
        ]
    )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: Any, count: int) -> float | None:
    return round(float(total) / count, 4) if count else None


def _figures_of(values: Sequence[Any]) -> dict[str, Any]:
    count, ok, answered, scored, hallucinated, rel, rel_n, feedback, negative = (
        int(v or 0) for v in values[:9]
    )
    top, top_n, cost, cost_n = values[9], int(values[10]), values[11], values[12]
    llm_scored, llm_budget = int(values[13] or 0), int(values[14] or 0)
    latency = values[15]
    p = percentiles_of(latency)
    return {
        "traces": count,
        "errors": count - ok,
        "answered_rate": _rate(answered, ok),
        "scored": scored,
        "hallucination_rate": _rate(hallucinated, scored),
        "relevance": _mean(rel, rel_n),
        "negative_feedback_rate": _rate(negative, feedback),
        "retrieval_top_score": _mean(top, top_n),
        "p50_latency_ms": round(p[0], 2) if p else None,
        "p95_latency_ms": round(p[1], 2) if p else None,
        "cost_per_answer_usd": round(float(cost) / answered, 8) if answered and cost_n else None,
        "llm_scored": llm_scored,
        "llm_budget_skipped": llm_budget,
    }


def _total(column: Sequence[Any]) -> Any:
    present = [v for v in column if v is not None]
    return sum(present) if present else None


def _where(since: str | None, *conditions: str) -> tuple[str, dict[str, Any]]:
    clauses = [*conditions, *(["ts >= :since"] if since else [])]
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), {"since": since} if since else {}


def store_figures(store: TraceSource, *, since: str | None = None) -> dict[str, Any]:
    """The monitoring figures of every trace since ``since`` (one group)."""
    if store.dialect not in _SQL_DIALECTS:
        return figures(_rows(store, since))
    where, params = _where(since)
    sql = f"SELECT {_figure_columns(store.dialect)} FROM {_TABLE}{where}"
    return _figures_of(store.fetch_sql(sql, params)[0])


def store_report(
    store: TraceSource, *, by: str = "day", since: str | None = None
) -> dict[str, Any]:
    """What :func:`ragwright.traces.report.report` returns, aggregated by the database.

    The overall row is the total of the groups' counts and sums; only its
    percentiles need a second pass, over the latency column alone.
    """
    if store.dialect not in _SQL_DIALECTS:
        return report(_rows(store, since), by=by)
    where, params = _where(since)
    sql = f"SELECT {_KEYS[by]}, {_figure_columns(store.dialect)} FROM {_TABLE}{where} GROUP BY 1"
    rows = store.fetch_sql(sql, params)
    latency = store.fetch_sql(f"SELECT {_latency(store.dialect)} FROM {_TABLE}{where}", params)
    totals = [_total(column) for column in zip(*(row[1:-1] for row in rows), strict=True)]
    overall = [*(totals or [0] * 15), latency[0][0]]
    return {
        "by": by,
        "overall": _figures_of(overall),
        "groups": sorted(
            ({"key": str(row[0]), **_figures_of(row[1:])} for row in rows), key=lambda g: g["key"]
        ),
    }


def store_retrieval_drop(store: TraceSource, *, since: str | None = None) -> float | None:
    """How far the mean top retrieval score fell from the previous index version to the latest.

    Versions are ordered by their first trace; None with fewer than two versions
    (see :func:`ragwright.traces.check.retrieval_drop`, the in-memory reference).
    """
    where, params = _where(since, "index_version IS NOT NULL", "top_score IS NOT NULL")
    sql = f"SELECT index_version, MIN(ts), AVG(top_score) FROM {_TABLE}{where} GROUP BY 1"
    versions = sorted(store.fetch_sql(sql, params), key=lambda r: (r[1], r[0]))
    if len(versions) < 2:
        return None
    previous, latest = versions[-2:]
    return round(float(previous[2]) - float(latest[2]), 4)


def _rows(store: TraceSource, since: str | None) -> list[dict[str, Any]]:
    from ragwright.traces.store import TraceFilter

    return store.select(TraceFilter(since=since))
