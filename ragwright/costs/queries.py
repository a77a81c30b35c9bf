"""The cost reports as SQL: one ``GROUP BY`` per report, the same text for both stores.

``CostStore`` runs these with ``sqlite3`` and ``SqlAlchemyCostStore`` with
``sqlalchemy.text`` (both take ``:name`` parameters), so the SQLite file and a
PostgreSQL server answer from one definition. Only three fragments depend on
the dialect: the percentile aggregate (``percentile_cont`` on PostgreSQL, the
registered ``ragwright_percentiles`` on SQLite), how a call's JSON tags become
rows, and how one tag is matched. Other databases fall back to the Python
reference in :mod:`ragwright.costs.stats`.

Indexes: a report with ``--since``/``--until`` reads the ``ts`` index the first
migration made. Indexes on the grouping columns do not pay, measured at 100,000
calls: SQLite walks them and fetches each row by id, no faster than a plain scan
(0.16-0.19 s against 0.13-0.17 s of CPU), and the planner then prefers them to
``ts`` for filtered reports, 4 to 10 times slower; none is created.
"""

from __future__ import annotations

from typing import Any

from ragwright.costs.stats import GroupBy, GroupStats, percentiles_of, percentiles_sql

__all__ = ["SQL_DIALECTS", "daily_query", "group_query", "spend_query", "stats_of"]

SQL_DIALECTS = ("sqlite", "postgresql")
Query = tuple[str, dict[str, Any]]

_KEYS: dict[str, str] = {
    "model": "c.provider || '/' || c.model",
    "day": "substr(c.ts, 1, 10)",
    "prompt": "COALESCE(c.prompt, '-')",
    "operation": "c.operation",
    "tag": "j.key || '=' || j.value",  # a call with two tags counts in both groups
}


def _tags(dialect: str) -> str:
    if dialect == "postgresql":
        return "CROSS JOIN LATERAL json_each_text(CAST(c.tags AS json)) AS j"
    return ", json_each(c.tags) AS j"


def _window(since: str | None, until: str | None) -> tuple[list[str], dict[str, Any]]:
    clauses, params = [], {}
    if since:
        clauses.append("c.ts >= :since")
        params["since"] = since
    if until:
        clauses.append("c.ts < :until")
        params["until"] = until
    return clauses, params


def _where(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def group_query(
    by: GroupBy, dialect: str, table: str, *, since: str | None, until: str | None
) -> Query:
    """Every figure of :class:`GroupStats` per group, percentiles included."""
    clauses, params = _window(since, until)
    source = f"{table} AS c" + (f" {_tags(dialect)}" if by == "tag" else "")
    sql = (
        f"SELECT {_KEYS[by]} AS k, COUNT(*), SUM(c.prompt_tokens), SUM(c.completion_tokens),"
        " SUM(c.estimated), SUM(c.cost_usd), COUNT(*) - COUNT(c.cost_usd),"
        " SUM(CASE WHEN c.status <> 'ok' THEN 1 ELSE 0 END),"
        f" {percentiles_sql(dialect, 'c.latency_ms')}, {percentiles_sql(dialect, 'c.ttft_ms')}"
        f" FROM {source}{_where(clauses)} GROUP BY 1"
    )
    return sql, params


def stats_of(row: tuple[Any, ...] | Any) -> GroupStats:
    """One result row of :func:`group_query` as the report's figures."""
    key, calls, tokens_in, tokens_out, estimated, cost, unpriced, errors, lat, ttft = row
    latency = percentiles_of(lat) or [0.0, 0.0, 0.0]
    first = percentiles_of(ttft)
    return GroupStats(
        key=str(key),
        calls=int(calls),
        prompt_tokens=int(tokens_in or 0),
        completion_tokens=int(tokens_out or 0),
        estimated_calls=int(estimated or 0),
        cost_usd=None if unpriced else float(cost or 0.0),
        unpriced_calls=int(unpriced),
        p50_ms=latency[0],
        p95_ms=latency[1],
        p99_ms=latency[2],
        error_rate=int(errors or 0) / int(calls),
        ttft_p50_ms=first[0] if first else None,
        ttft_p95_ms=first[1] if first else None,
    )


def spend_query(
    dialect: str, table: str, *, since: str, model: str | None, tag: tuple[str, str] | None
) -> Query:
    """Known spend and unpriced calls since ``since``, for one model and/or tag if given."""
    clauses, params = _window(since, None)
    if model:  # "gpt-4o-mini" or "openai/gpt-4o-mini"
        clauses.append("(c.model = :model OR c.provider || '/' || c.model = :model)")
        params["model"] = model
    if tag:
        if dialect == "postgresql":
            clauses.append("CAST(c.tags AS json) ->> :tag_key = :tag_value")
        else:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(c.tags) AS j"
                " WHERE j.key = :tag_key AND j.value = :tag_value)"
            )
        params |= {"tag_key": tag[0], "tag_value": tag[1]}
    sql = f"SELECT SUM(c.cost_usd), COUNT(*) - COUNT(c.cost_usd) FROM {table} AS c"
    return sql + _where(clauses), params


def daily_query(table: str, *, since: str | None) -> Query:
    """(day, provider/model, known spend) rows, for the chart."""
    clauses, params = _window(since, None)
    sql = (
        f"SELECT substr(c.ts, 1, 10), c.provider || '/' || c.model, SUM(COALESCE(c.cost_usd, 0))"
        f" FROM {table} AS c{_where(clauses)} GROUP BY 1, 2"
    )
    return sql, params
