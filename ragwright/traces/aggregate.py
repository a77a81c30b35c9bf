"""Monitoring figures computed by the trace database: one ``GROUP BY`` per report.

The same figures as :func:`ragwright.traces.report.figures` (its reference, for
rows already in memory), counted by SQL instead of decoding every trace's JSON
in Python: rates as conditional sums, means as ``AVG``, latency percentiles
exact (``percentile_cont`` on PostgreSQL, the ``ragwright_percentiles``
aggregate on SQLite). On SQLite the columns read are all in the
``ragwright_traces_report`` index, so a report never touches the kilobytes of
spans and contexts each trace holds. Databases other than SQLite and
PostgreSQL get the in-memory reference over the selected rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ragwright.costs.stats import PERCENTILES_FUNCTION, percentiles_of
from ragwright.traces.report import figures, report
from ragwright.traces.store import TraceFilter, TraceStore, traces

__all__ = ["store_figures", "store_report", "store_retrieval_drop"]

_SQL_DIALECTS = ("sqlite", "postgresql")
_t = traces.c
_DAY = sa.func.substr(_t.ts, 1, 10)
_KEYS: dict[str, sa.ColumnElement[Any]] = {
    "day": _DAY,
    "prompt": sa.func.coalesce(_t.prompt, "-"),
    "index": sa.func.coalesce(_t.index_version, "-"),
    "day_prompt": _DAY + " " + sa.func.coalesce(_t.prompt, "-"),
}


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _truthy(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.and_(column.is_not(None), column != 0)


def _percentiles(dialect: str, value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        quantiles: sa.ColumnElement[Any] = sa.literal_column("ARRAY[0.5, 0.95, 0.99]")
        return sa.func.percentile_cont(quantiles).within_group(value)
    function: sa.ColumnElement[Any] = getattr(sa.func, PERCENTILES_FUNCTION)(value)
    return function


def _sum_and_count(value: sa.ColumnElement[Any]) -> list[sa.ColumnElement[Any]]:
    return [sa.func.sum(value), sa.func.count(value)]  # a mean that adds up across groups


def _figure_columns(dialect: str) -> list[sa.ColumnElement[Any]]:
    """Counts and sums first (the overall row is their total), the percentiles last."""
    ok = _t.error.is_(None)
    scored = sa.and_(ok, _t.eval_status == "scored")
    return [
        sa.func.count(),
        _count_if(ok),
        _count_if(sa.and_(ok, _truthy(_t.answered))),
        _count_if(scored),
        _count_if(sa.and_(scored, _truthy(_t.hallucinated))),
        *_sum_and_count(sa.case((sa.and_(scored, _truthy(_t.relevance)), _t.relevance))),
        _count_if(sa.and_(ok, _t.feedback.is_not(None))),
        _count_if(sa.and_(ok, _t.feedback == -1)),
        *_sum_and_count(sa.case((ok, _t.top_score))),
        *_sum_and_count(sa.case((ok, _t.cost_usd))),
        _latency(dialect),
    ]


def _latency(dialect: str) -> sa.ColumnElement[Any]:
    return _percentiles(dialect, sa.case((_t.error.is_(None), _t.latency_ms)))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: Any, count: int) -> float | None:
    return round(float(total) / count, 4) if count else None


def _figures_of(values: Sequence[Any]) -> dict[str, Any]:
    count, ok, answered, scored, hallucinated, rel, rel_n, feedback, negative = (
        int(v or 0) for v in values[:9]
    )
    top, top_n, cost, cost_n, latency = (
        values[9],
        int(values[10]),
        values[11],
        values[12],
        values[13],
    )
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
    }


def _total(column: Sequence[Any]) -> Any:
    present = [v for v in column if v is not None]
    return sum(present) if present else None


def _since(query: sa.Select[Any], since: str | None) -> sa.Select[Any]:
    return query.where(_t.ts >= since) if since else query


def store_figures(store: TraceStore, *, since: str | None = None) -> dict[str, Any]:
    """The monitoring figures of every trace since ``since`` (one group)."""
    if store.dialect not in _SQL_DIALECTS:
        return figures(store.select(TraceFilter(since=since)))
    query = _since(sa.select(*_figure_columns(store.dialect)).select_from(traces), since)
    return _figures_of(store.fetch(query)[0])


def store_report(store: TraceStore, *, by: str = "day", since: str | None = None) -> dict[str, Any]:
    """What :func:`ragwright.traces.report.report` returns, aggregated by the database.

    The overall row is the total of the groups' counts and sums; only its
    percentiles need a second pass, over the latency column alone.
    """
    if store.dialect not in _SQL_DIALECTS:
        return report(store.select(TraceFilter(since=since)), by=by)
    key = _KEYS[by].label("k")
    query = _since(sa.select(key, *_figure_columns(store.dialect)), since).group_by(key)
    rows = store.fetch(query)
    latency = _since(sa.select(_latency(store.dialect)).select_from(traces), since)
    totals = [_total(column) for column in zip(*(row[1:-1] for row in rows), strict=True)]
    overall = [*(totals or [0] * 13), store.fetch(latency)[0][0]]
    return {
        "by": by,
        "overall": _figures_of(overall),
        "groups": sorted(
            ({"key": str(row[0]), **_figures_of(row[1:])} for row in rows), key=lambda g: g["key"]
        ),
    }


def store_retrieval_drop(store: TraceStore, *, since: str | None = None) -> float | None:
    """How far the mean top retrieval score fell from the previous index version to the latest.

    Versions are ordered by their first trace; None with fewer than two versions
    (see :func:`ragwright.traces.check.retrieval_drop`, the in-memory reference).
    """
    query = (
        sa.select(_t.index_version, sa.func.min(_t.ts), sa.func.avg(_t.top_score))
        .where(_t.index_version.is_not(None), _t.top_score.is_not(None))
        .group_by(_t.index_version)
    )
    versions = sorted(store.fetch(_since(query, since)), key=lambda r: (r[1], r[0]))
    if len(versions) < 2:
        return None
    previous, latest = versions[-2:]
    return round(float(previous[2]) - float(latest[2]), 4)
