"""Online evaluation with the offline metrics: checks on every sampled trace, LLM judges
on a share under a daily budget, against the local OpenAI-compatible test server.

Traces are written straight into a real trace store (the chain that records them has
its own tests); the local judge is the real calibrated one; every LLM call goes over
HTTP to ``tests/openai_server.py`` and is recorded by the real cost monitor.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ragwright.costs.budgets import tag_spend
from ragwright.costs.monitor import monitor_for
from ragwright.costs.store import open_cost_store
from ragwright.errors import ConfigError
from ragwright.evals.online import OnlineEvaluator, in_sample, local_judge, online_metrics
from ragwright.evals.online_budget import PURPOSE
from ragwright.providers.guard import override_allow_model_requests
from ragwright.settings import MetricSettings, ModelPrice, OnlineEvalSettings, Settings
from ragwright.traces.report import report
from ragwright.traces.store import MIGRATIONS, TraceStore, open_trace_store, traces
from tests.conftest import make_prompt
from tests.openai_server import Error, OpenAIServer
from tests.postgres_server import (
    postgres_cluster_fixture,  # noqa: F401 - provides `postgres_cluster`
    postgres_url_fixture,  # noqa: F401 - provides `postgres_url`
)
from tests.test_custom_metrics import RUBRIC as TONE_RUBRIC

CALL_USD = (11 + 7) * 1000 / 1e6  # the server's usage (11 in, 7 out) at $1000 per M tokens

# the offline tests' tone rubric, judged by the model this test server prices
RUBRIC = TONE_RUBRIC.replace("model: gpt-4o-mini", "model: judge-test")
assert "model: judge-test" in RUBRIC


def judge_reply(body: dict[str, Any]) -> str:
    """The rubric says 4, the built-in relevance judge 5, the hallucination judge 'grounded'."""
    text = json.dumps(body["messages"])
    if "friendly" in text:
        return json.dumps({"score": 4, "reason": "warm"})
    if "addresses a QUESTION" in text:
        return json.dumps({"score": 5, "reason": "answers it"})
    return json.dumps({"hallucinated": False, "score": 0.05, "claims": []})


@pytest.fixture(scope="module")
def judge() -> object:
    return local_judge(Settings())


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(default=judge_reply) as running, override_allow_model_requests(True):
        yield running


def settings_for(server: OpenAIServer, tmp_path: Path, **online: Any) -> Settings:
    make_prompt(tmp_path / "prompts", "tone", {"v1": RUBRIC})
    return Settings(
        openai_base_url=server.base_url,
        openai_max_retries=0,
        pricing={"judge-test": ModelPrice(input=1000, output=1000)},
        metrics=[
            MetricSettings.model_validate(m)
            for m in (
                {"name": "tone", "kind": "llm_judge", "prompt": "tone@v1"}
                | {"model": online.pop("rubric_model", "judge-test"), "scale": [1, 5]},
                {"name": "short", "kind": "check", "check": "max_words", "max_words": 6},
            )
        ],
        judge_model=online.pop("judge_model", "local/judge"),
        online_eval=OnlineEvalSettings.model_validate({"llm_sample": 1.0, **online}),
    )


def add_traces(store: TraceStore, count: int, start: int = 0) -> list[str]:
    ids = [f"req-{i:03d}" for i in range(start, start + count)]
    rows = [
        {
            "request_id": rid,
            "ts": f"{datetime.now(UTC).date().isoformat()}T00:00:{i % 60:02d}.000+00:00",
            "question": "How do I roll back a prompt?",
            "spans": "{}",
            "answered": 1,
            "answer": f"Run ragwright prompts rollback ({i})." + " Really." * (i % 2 * 5),
            "citations": json.dumps(["prompts.md"]),
            "contexts": json.dumps(
                [{"chunk_id": "c1", "source": "prompts.md", "score": 0.8, "text": "Run rollback."}]
            ),
        }
        for i, rid in enumerate(ids, start=start)
    ]
    store.insert(rows)
    return ids


def evaluator(store: TraceStore, judge: object, settings: Settings) -> OnlineEvaluator:
    return OnlineEvaluator(store, judge, metrics=online_metrics(settings))  # type: ignore[arg-type]


def tagged(settings: Settings) -> Any:
    """Today's spend and calls of online judge calls, as the cost store has them."""
    monitor_for(settings).flush()
    store = open_cost_store(settings.costs_target)
    try:
        return tag_spend(store, PURPOSE, datetime.now(UTC).date().isoformat())
    finally:
        store.close()


def test_llm_and_check_metrics_score_their_share_and_land_on_the_trace(
    server: OpenAIServer, judge: object, tmp_path: Path
) -> None:
    settings = settings_for(
        server, tmp_path, llm_sample=0.5, daily_budget_usd=5.0, judge_model="judge-test"
    )
    store = open_trace_store(tmp_path / "traces.db")
    ids = add_traces(store, 8)
    llm_ids = [i for i in ids if in_sample(i, 0.5)]
    assert 0 < len(llm_ids) < len(ids)  # the share is real, and stable by id
    worker = evaluator(store, judge, settings)
    assert worker.run_until_idle() == len(ids)
    worker.stop()
    for row in store.select():
        assert row["eval_status"] == "scored"  # the local judge scores every trace
        assert row["scores"]["short"]["value"] == (
            1.0 if int(row["request_id"][-1]) % 2 == 0 else 0.0
        )
        if row["request_id"] in llm_ids:
            assert row["llm_status"] == "scored"
            assert row["scores"]["tone"] == {
                "value": 4.0,
                "outcome": "ok",
                "reason": "warm",
                "judge": "openai/judge-test",
            }
            assert row["scores"]["relevance"]["value"] == 5.0
            assert row["scores"]["hallucination"]["value"] == 0.0
        else:
            assert row["llm_status"] == "skipped"
            assert set(row["scores"]) == {"short"}
    calls = 3 * len(llm_ids)  # tone, relevance, hallucination per judged trace
    assert len(server.requests) == calls
    spent = tagged(settings)
    assert (spent.calls, spent.unpriced_calls) == (calls, 0)
    assert spent.usd == pytest.approx(calls * CALL_USD)
    assert report(store.select())["overall"]["llm_scored"] == len(llm_ids)


def test_the_daily_budget_stops_llm_calls_and_a_restart_respects_it(
    server: OpenAIServer, judge: object, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from ragwright.cli.app import app

    settings = settings_for(server, tmp_path, metrics=["tone"], daily_budget_usd=2.5 * CALL_USD)
    store = open_trace_store(tmp_path / "traces.db")
    add_traces(store, 6)
    first = evaluator(store, judge, settings)
    first.run_until_idle()
    first.stop()
    assert len(server.requests) == 3  # $0, $1x, $2x are under 2.5x: the third call crosses it
    spent = tagged(settings)
    assert (spent.calls, spent.usd) == (3, pytest.approx(3 * CALL_USD))
    rows = store.select()
    assert {r["eval_status"] for r in rows} == {"scored"}  # the local judge kept scoring
    assert sorted(r["llm_status"] for r in rows) == ["budget"] * 3 + ["scored"] * 3
    assert first.metrics is not None
    assert first.metrics.budget_skipped == 3

    add_traces(store, 2, start=6)  # the server restarts the same day
    restarted = evaluator(store, judge, settings)
    restarted.run_until_idle()
    restarted.stop()
    assert len(server.requests) == 3  # no call: the store says today's budget is spent
    rows = store.select()
    assert {r["eval_status"] for r in rows} == {"scored"}
    assert [r["llm_status"] for r in rows].count("budget") == 5
    shown = CliRunner().invoke(
        app, ["monitor", "report"], env={"RAGWRIGHT_TRACES_URL": store.url}, terminal_width=200
    )
    assert shown.exit_code == 0, shown.output
    assert "llm judge: budget reached, 5 skipped" in shown.output


def test_an_unpriced_judge_counts_calls_against_daily_max_calls(
    server: OpenAIServer, judge: object, tmp_path: Path
) -> None:
    unpriced = {"rubric_model": "mystery-model", "metrics": ["tone"], "daily_budget_usd": 1.0}
    with pytest.raises(ConfigError, match=r"no known price.*daily_max_calls"):
        online_metrics(settings_for(server, tmp_path, **unpriced))
    settings = settings_for(server, tmp_path, daily_max_calls=2, **unpriced)
    store = open_trace_store(tmp_path / "traces.db")
    add_traces(store, 4)
    worker = evaluator(store, judge, settings)
    worker.run_until_idle()
    worker.stop()
    assert len(server.requests) == 2
    assert sorted(r["llm_status"] for r in store.select()) == ["budget"] * 2 + ["scored"] * 2
    spent = tagged(settings)
    assert (spent.calls, spent.unpriced_calls, spent.usd) == (2, 2, 0.0)  # unknown, never $0


def test_a_failing_judge_endpoint_is_retried_then_marked_never_a_crash(
    server: OpenAIServer, judge: object, tmp_path: Path
) -> None:
    settings = settings_for(server, tmp_path, metrics=["tone", "short"], daily_budget_usd=1.0)
    store = open_trace_store(tmp_path / "traces.db")
    [first] = add_traces(store, 1)
    worker = evaluator(store, judge, settings)
    server.enqueue(Error(500))
    worker.run_once()
    row = store.get(first)
    assert (row["eval_status"], row["llm_status"]) == ("scored", None)  # waits for a retry
    assert row["scores"]["short"]["outcome"] == "ok"  # the check did not need the endpoint
    worker.run_once()
    assert store.get(first)["llm_status"] == "scored"

    [second] = add_traces(store, 1, start=1)
    server.default = lambda body: Error(503)
    for attempt in range(3):
        worker.run_once()
        status = store.get(second)["llm_status"]
        assert status == (None if attempt < 2 else "failed")
    worker.stop()
    tone = store.get(second)["scores"]["tone"]
    assert tone["outcome"] == "error"
    assert tone["value"] is None
    assert "503" in tone["reason"]


def test_misconfigured_online_metrics_are_one_line_config_errors(tmp_path: Path) -> None:
    def settings(**online: Any) -> Settings:
        check = {"name": "short", "kind": "check", "check": "max_words", "max_words": 5}
        return Settings(
            metrics=[MetricSettings.model_validate(check)],
            online_eval=OnlineEvalSettings.model_validate(online),
        )

    with pytest.raises(ConfigError, match="unknown 'tone'; choose from short"):
        online_metrics(settings(metrics=["tone"]))
    with pytest.raises(ConfigError, match="unknown 'relevance'"):
        online_metrics(settings(metrics=["relevance"]))  # judge_model is local: no LLM judge
    assert online_metrics(Settings()) is None  # only the local judge: nothing extra to run
    built = online_metrics(settings())
    assert built is not None
    assert [m.name for m in built.deterministic] == ["short"]
    assert built.llm == []  # no budget: nothing that calls a model


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_v1_trace_store_gains_the_online_score_columns(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A database written before online metrics existed migrates in place, rows kept."""
    if backend == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    old = sa.MetaData()
    sa.Table(
        traces.name,
        old,
        *(c.copy() for c in traces.columns if c.name not in ("scores", "llm_status")),  # type: ignore[attr-defined]
    )
    sa.Table(
        "ragwright_trace_migrations",
        old,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("applied_at", sa.String(40), nullable=False),
    )
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO ragwright_trace_migrations VALUES (1, '_v1', 'x')"))
        conn.execute(
            sa.text(
                "INSERT INTO ragwright_traces (request_id, ts, question, spans, answer)"
                " VALUES ('old', '2026-01-01', 'q?', '{}', 'a')"
            )
        )
    engine.dispose()
    store = TraceStore(url)
    store.set_scores(
        "old", {"scores": json.dumps({"short": {"value": 1.0}}), "llm_status": "skipped"}
    )
    row = store.get("old")
    assert (row["question"], row["scores"], row["llm_status"]) == (
        "q?",
        {"short": {"value": 1.0}},
        "skipped",
    )
    store.close()
    TraceStore(url).close()  # opening again applies nothing twice
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        applied = sorted(
            conn.execute(sa.text("SELECT version, name FROM ragwright_trace_migrations"))
        )
        assert applied[:2] == [(1, "_v1"), (2, "_v2_online_scores")]
        assert len(applied) == len(MIGRATIONS)
    engine.dispose()


def test_the_background_worker_judges_in_a_thread_of_its_own(
    server: OpenAIServer, judge: object, tmp_path: Path
) -> None:
    """LLM calls take seconds: they must not hold back the local judge's thread."""
    import threading
    import time

    settings = settings_for(server, tmp_path, metrics=["tone"], daily_budget_usd=1.0)
    store = open_trace_store(tmp_path / "traces.db")
    add_traces(store, 2)
    worker = OnlineEvaluator(
        store,
        judge,  # type: ignore[arg-type]
        interval_s=0.05,
        metrics=online_metrics(settings),
    )
    worker.start()
    try:
        names = {t.name for t in threading.enumerate()}
        assert {"ragwright-online-eval", "ragwright-online-llm-eval"} <= names
        for _ in range(200):
            if all(r["llm_status"] == "scored" for r in store.select()):
                break
            time.sleep(0.05)
    finally:
        worker.stop(10)
    assert [r["llm_status"] for r in store.select()] == ["scored", "scored"]
    assert len(server.requests) == 2


def test_monitor_evaluate_runs_the_configured_metrics_and_says_when_the_budget_cut_in(
    server: OpenAIServer, judge: object, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from ragwright.cli.app import app

    make_prompt(tmp_path / "prompts", "tone", {"v1": RUBRIC})
    (tmp_path / "ragwright.toml").write_text(
        f'openai_base_url = "{server.base_url}"\nopenai_max_retries = 0\n'
        '[pricing."judge-test"]\ninput = 1000\noutput = 1000\n'
        '[[metrics]]\nname = "tone"\nkind = "llm_judge"\nprompt = "tone@v1"\n'
        'model = "judge-test"\nscale = [1, 5]\n'
        f"[online_eval]\nllm_sample = 1.0\ndaily_budget_usd = {1.5 * CALL_USD}\n",
        encoding="utf-8",
    )
    add_traces(open_trace_store(Settings().traces_target), 3)
    result = CliRunner().invoke(app, ["monitor", "evaluate"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "3 traces handled, 3 scored" in result.output
    assert "llm judge: budget reached, 1 skipped" in result.output
    assert len(server.requests) == 2
