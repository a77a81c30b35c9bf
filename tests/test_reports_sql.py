"""Cost and monitoring reports aggregated in SQL give what the Python reference gives.

The reference (``costs.stats.group_rows``, ``traces.report``) computes the figures
from rows in memory; the stores now compute them with one ``GROUP BY``. Every
grouping, window and filter is compared on mixed data: unpriced and failed calls,
calls with two tags or none, streamed and not, scored and unscored traces.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ragwright.costs.record import CallRecord
from ragwright.costs.sql_store import SqlAlchemyCostStore
from ragwright.costs.stats import GroupStats, group_rows
from ragwright.costs.store import BaseCostStore, CostStore
from ragwright.migrations import migrate, versions_table
from ragwright.settings import MonitorSettings
from ragwright.traces.aggregate import store_figures, store_report, store_retrieval_drop
from ragwright.traces.check import check, check_store, retrieval_drop
from ragwright.traces.reader import SCHEMA_VERSION, LocalTraceReader, TraceSource, open_trace_reader
from ragwright.traces.report import figures, report
from ragwright.traces.store import MIGRATIONS, REPORT_COLUMNS, TraceFilter, TraceStore, traces
from tests.postgres_server import (
    postgres_cluster_fixture,  # noqa: F401 - provides `postgres_cluster`
    postgres_url_fixture,  # noqa: F401 - provides `postgres_url`
)

GROUPINGS = ("model", "day", "prompt", "operation", "tag")
WINDOWS = [(None, None), ("2026-03-03", None), ("2026-03-02T12:00:00", "2026-03-05")]


def calls(n: int = 300, seed: int = 5) -> list[CallRecord]:
    rng = random.Random(seed)
    models = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("ollama", "llama3.1")]
    records = []
    for i in range(n):
        provider, model = rng.choice(models)
        tags = rng.choice([(), (("team", "a"),), (("env", "prod"), ("team", "b"))])
        records.append(
            CallRecord(
                ts=f"2026-03-0{1 + i * 6 // n}T{i % 24:02d}:00:00.000+00:00",
                provider=provider,
                model=model,
                operation=rng.choice(("generate", "judge", "embed")),
                prompt=rng.choice(("rag_answer@v1", "rag_answer@v2", None)),
                prompt_tokens=rng.randint(1, 500),
                completion_tokens=rng.randint(0, 100),
                estimated=rng.random() < 0.2,
                latency_ms=round(rng.lognormvariate(5, 0.6), 3),
                cost_usd=None if model == "llama3.1" and rng.random() < 0.5 else rng.random() / 100,
                status="ok" if rng.random() > 0.1 else "error",
                tags=tags,
                ttft_ms=round(rng.uniform(10, 90), 3) if rng.random() < 0.4 else None,
            )
        )
    return records


def assert_same(got: list[GroupStats], expected: list[GroupStats]) -> None:
    assert [g.key for g in got] == [e.key for e in expected]
    for g, e in zip(got, expected, strict=True):
        for name, value in asdict(e).items():
            same = value if not isinstance(value, float) else pytest.approx(value, rel=1e-9)
            assert getattr(g, name) == same, (g.key, name)


@pytest.fixture(params=["sqlite3", "sqlalchemy"])
def cost_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCostStore]:
    if request.param == "sqlite3":
        store: BaseCostStore = CostStore(tmp_path / "costs.db")
    else:
        store = SqlAlchemyCostStore(f"sqlite:///{tmp_path / 'costs-sa.db'}")
    store.insert(calls())
    yield store
    store.close()


def check_cost_reports(store: BaseCostStore) -> None:
    """Every grouping and window, spend per model and tag, and the daily chart."""
    assert store.dialect in ("sqlite", "postgresql")  # the SQL path, not the fallback
    for by in GROUPINGS:
        for since, until in WINDOWS:
            expected = group_rows(store.rows(since=since, until=until), by)  # type: ignore[arg-type]
            assert_same(store.group(by, since=since, until=until), expected)  # type: ignore[arg-type]
    rows = list(store.rows(since="2026-03-02"))
    for model, tag in [(None, None), ("gpt-4o", None), ("ollama/llama3.1", ("team", "b"))]:
        chosen = [
            r
            for r in rows
            if (not model or model in (r.model, f"{r.provider}/{r.model}"))
            and (not tag or json.loads(r.tags).get(tag[0]) == tag[1])
        ]
        known = sum(r.cost_usd for r in chosen if r.cost_usd is not None)
        unpriced = sum(1 for r in chosen if r.cost_usd is None)
        spent, unpriced_calls = store.spend(since="2026-03-02", model=model, tag=tag)
        assert (spent, unpriced_calls) == (pytest.approx(known), unpriced)  # type: ignore[comparison-overlap]
    daily = store.daily_spend(since="2026-03-04")
    assert set(daily) == {"2026-03-04", "2026-03-05", "2026-03-06"}
    assert sum(sum(d.values()) for d in daily.values()) == pytest.approx(
        sum(r.cost_usd or 0.0 for r in store.rows(since="2026-03-04"))
    )


def test_cost_reports_in_sql_match_the_python_reference(cost_store: BaseCostStore) -> None:
    check_cost_reports(cost_store)


def test_an_empty_window_has_no_groups_and_no_spend(cost_store: BaseCostStore) -> None:
    assert cost_store.group("tag", since="2030-01-01") == []
    assert cost_store.spend(since="2030-01-01", model="gpt-4o") == (0.0, 0)
    assert cost_store.daily_spend(since="2030-01-01") == {}


def test_a_database_without_a_sql_plan_is_aggregated_in_python(tmp_path: Path) -> None:
    store = CostStore(tmp_path / "costs.db")
    try:
        store.insert(calls(60))
        in_sql = [store.group(by) for by in GROUPINGS]  # type: ignore[arg-type]
        spent = store.spend(since="2026-03-02", model="gpt-4o", tag=("team", "a"))
        daily = store.daily_spend()
        store.dialect = "other"  # what a MySQL URL would be
        for by, expected in zip(GROUPINGS, in_sql, strict=True):
            assert_same(store.group(by), expected)  # type: ignore[arg-type]
        again = store.spend(since="2026-03-02", model="gpt-4o", tag=("team", "a"))
        assert again[0] == pytest.approx(spent[0])
        assert again[1] == spent[1]
        python_daily = store.daily_spend()
        assert python_daily.keys() == daily.keys()
        for day, per_model in daily.items():
            assert python_daily[day] == pytest.approx(per_model)
    finally:
        store.close()


# --- traces -------------------------------------------------------------------------------


def trace_rows(n: int = 240, seed: int = 9) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        failed = rng.random() < 0.1
        scored = not failed and rng.random() < 0.6
        row: dict[str, Any] = dict.fromkeys(c.name for c in traces.columns)
        row |= {
            "request_id": f"r{i}",
            "ts": f"2026-04-0{1 + i * 5 // n}T{i % 24:02d}:00:00.000+00:00",
            "question": f"question {i}",
            "spans": json.dumps({"retrieve": 1.0}),
            "prompt": rng.choice(("rag_answer@v1", "rag_answer@v2", None)),
            "index_version": rng.choice(("idx-1", "idx-2", None)) if i < n // 2 else "idx-3",
        }
        if failed:
            row |= {"error": "provider down", "error_type": "ProviderError"}
        else:
            row |= {
                "answered": int(rng.random() < 0.8),
                "answer": "an answer",
                "latency_ms": round(rng.lognormvariate(6, 0.4), 3),
                "cost_usd": rng.choice((None, rng.random() / 1000)),
                "top_score": rng.choice((None, round(rng.random(), 3))),
                "feedback": rng.choice((None, None, 1, -1)),
            }
        if scored:
            row |= {
                "eval_status": "scored",
                "hallucinated": int(rng.random() < 0.2),
                "hallucination": rng.random(),
                "relevance": rng.choice((None, 1, 3, 4, 5)),
            }
        rows.append(row)
    return rows


@pytest.fixture
def trace_store(tmp_path: Path) -> Iterator[TraceStore]:
    store = TraceStore(f"sqlite:///{tmp_path / 'traces.db'}")
    store.insert(trace_rows())
    yield store
    store.close()


def check_trace_reports(store: TraceStore, source: TraceSource | None = None) -> None:
    """``source`` (default: the store itself) aggregates; the store selects the reference rows."""
    source = source or store
    limits = MonitorSettings(
        max_hallucination_rate=0.1, min_answered_rate=0.9, max_p95_latency_ms=900.0,
        max_retrieval_score_drop=0.0, min_relevance=4.0, max_negative_feedback_rate=0.5,
    )  # fmt: skip
    for since in (None, "2026-04-03", "2026-04-03T10:00:00"):
        rows = store.select(TraceFilter(since=since))
        for by in ("day", "prompt", "index", "day_prompt"):
            assert store_report(source, by=by, since=since) == report(rows, by=by)
        assert store_figures(source, since=since) == figures(rows)
        assert store_retrieval_drop(source, since=since) == retrieval_drop(rows)
        assert check_store(source, limits, since=since or "") == check(rows, limits)
    assert store_figures(source, since="2030-01-01") == figures([])
    assert store_report(source, since="2030-01-01") == report([])


def test_monitor_figures_in_sql_match_the_python_reference(trace_store: TraceStore) -> None:
    check_trace_reports(trace_store)


def test_the_local_file_is_read_without_sqlalchemy_with_the_same_figures(
    trace_store: TraceStore,
) -> None:
    path = Path(str(trace_store.engine.url.database))
    reader = open_trace_reader(path)
    try:
        assert isinstance(reader, LocalTraceReader)
        check_trace_reports(trace_store, reader)
    finally:
        reader.close()
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_a_missing_or_old_file_gets_the_full_store_which_migrates(tmp_path: Path) -> None:
    missing = open_trace_reader(tmp_path / "new.db")
    assert isinstance(missing, TraceStore)  # created and migrated, as recording would
    missing.close()
    old = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{old}")
    versions = versions_table(sa.MetaData(), "ragwright_trace_migrations")
    migrate(engine, MIGRATIONS[:1], versions=versions, lock_id=0)
    engine.dispose()
    source = open_trace_reader(old)
    try:
        assert isinstance(source, TraceStore)
        assert store_figures(source)["traces"] == 0
    finally:
        source.close()
    again = open_trace_reader(old)  # now current: the light reader
    assert isinstance(again, LocalTraceReader)
    again.close()


def test_a_report_reads_the_covering_index_not_the_traces(trace_store: TraceStore) -> None:
    """The kilobytes of spans and contexts stay on disk: SQLite answers from the index."""
    path = str(trace_store.engine.url.database)
    conn = sqlite3.connect(path)
    try:
        conn.execute("ANALYZE")
        plan = " ".join(
            str(row[-1])
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT substr(ts, 1, 10), COUNT(*), AVG(top_score),"
                " SUM(CASE WHEN error IS NULL AND eval_status = 'scored' THEN 1 ELSE 0 END)"
                " FROM ragwright_traces WHERE ts >= '2026-04-02' GROUP BY 1"
            )
        )
    finally:
        conn.close()
    assert "COVERING INDEX ragwright_traces_report" in plan


def test_a_version_1_trace_store_gains_the_report_index_and_keeps_its_rows(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    versions = versions_table(sa.MetaData(), "ragwright_trace_migrations")
    assert migrate(engine, MIGRATIONS[:1], versions=versions, lock_id=0) == 1  # before reports
    with engine.begin() as conn:
        conn.execute(traces.insert(), trace_rows(10))
        assert "ragwright_traces_report" not in {
            i["name"] for i in sa.inspect(conn).get_indexes(traces.name)
        }
    store = TraceStore(url)
    try:
        assert store.count() == 10
        with store.engine.connect() as conn:
            (index,) = [
                i
                for i in sa.inspect(conn).get_indexes(traces.name)
                if i["name"] == "ragwright_traces_report"
            ]
            recorded = conn.execute(sa.select(versions.c.version, versions.c.name)).all()
        assert tuple(index["column_names"]) == REPORT_COLUMNS
        assert [tuple(r) for r in recorded] == [
            (1, "_v1"),
            (2, "_v2_online_scores"),
            (3, "_v3_report_index"),
        ]
        assert store_figures(store)["traces"] == 10
    finally:
        store.close()
        engine.dispose()
    TraceStore(url).close()  # reopening applies nothing twice


def test_the_runner_applies_each_migration_once_in_order(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    versions = versions_table(sa.MetaData(), "demo_migrations")
    applied: list[str] = []

    def _first(conn: sa.Connection) -> None:
        applied.append("first")

    def _second(conn: sa.Connection) -> None:
        applied.append("second")

    assert migrate(engine, [_first], versions=versions, lock_id=1) == 1
    assert migrate(engine, [_first, _second], versions=versions, lock_id=1) == 2
    assert migrate(engine, [_first, _second], versions=versions, lock_id=1) == 2
    assert applied == ["first", "second"]
    engine.dispose()


# --- the same on PostgreSQL (skipped where its binaries are missing) ----------------------


def test_cost_reports_on_postgres_match_the_python_reference(postgres_url: str) -> None:
    store = SqlAlchemyCostStore(postgres_url)
    try:
        store.insert(calls())
        check_cost_reports(store)
    finally:
        store.close()


def test_monitor_figures_on_postgres_match_the_python_reference(postgres_url: str) -> None:
    store = TraceStore(postgres_url)
    try:
        store.insert(trace_rows())
        check_trace_reports(store)
    finally:
        store.close()
