"""Budgets, reports in every format, the LangChain callback handler and metered embedders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragwright.cli.app import app
from ragwright.costs.budgets import BudgetExceededError, BudgetGuard, evaluate_budgets
from ragwright.costs.monitor import CostMonitor, MeteredChatModel, MeteredEmbedder
from ragwright.costs.record import CallRecord
from ragwright.costs.store import CostStore
from ragwright.providers.base import ChatRequest, Message
from ragwright.providers.function import FunctionChatModel
from ragwright.providers.local_embeddings import LocalEmbedder
from ragwright.settings import BudgetSettings, Settings
from ragwright.usage import Usage
from tests.openai_server import Completion, OpenAIServer, openai_server_fixture  # noqa: F401


def record(
    *,
    model: str = "gpt-4o-mini",
    cost: float | None = 0.5,
    ts: datetime | None = None,
    tags: dict[str, str] | None = None,
    latency: float = 100.0,
    status: str = "ok",
) -> CallRecord:
    return CallRecord(
        ts=(ts or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        provider="openai",
        model=model,
        operation="generate",
        prompt="rag_answer@v1",
        prompt_tokens=10,
        completion_tokens=5,
        estimated=False,
        latency_ms=latency,
        cost_usd=cost,
        status=status,
        tags=tuple(sorted((tags or {}).items())),
    )


@pytest.fixture
def settings(isolated_home: Path) -> Settings:
    return Settings()


def test_budget_crossing_warns_then_exceeds(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    store = CostStore(settings.costs_db)
    budget = BudgetSettings(name="mini-daily", limit_usd=2.0, model="gpt-4o-mini")
    store.insert([record(cost=0.9), record(cost=0.8)])
    yesterday = datetime.now(UTC) - timedelta(days=1, hours=1)
    store.insert([record(cost=50.0, ts=yesterday), record(model="gpt-4o", cost=9.0)])
    [status] = evaluate_budgets(store, [budget])
    assert status.state == "warning"  # 1.7 of 2.0, other days and models excluded
    assert status.spent_usd == pytest.approx(1.7)
    assert "mini-daily" in caplog.text
    store.insert([record(cost=0.4)])
    [status] = evaluate_budgets(store, [budget])
    assert status.state == "exceeded"
    monthly = BudgetSettings(name="all-month", period="monthly", limit_usd=100.0)
    [month] = evaluate_budgets(store, [monthly])
    expected = 0.9 + 0.8 + 0.4 + 9.0 + (50.0 if yesterday.month == datetime.now(UTC).month else 0)
    assert month.spent_usd == pytest.approx(expected)


def test_budget_by_tag_and_unpriced_calls(settings: Settings) -> None:
    store = CostStore(settings.costs_db)
    store.insert(
        [
            record(cost=3.0, tags={"team": "search"}),
            record(cost=3.0, tags={"team": "ops"}),
            record(model="mystery", cost=None, tags={"team": "search"}),
        ]
    )
    [status] = evaluate_budgets(store, [BudgetSettings(name="t", limit_usd=5.0, tag="team=search")])
    assert status.spent_usd == pytest.approx(3.0)
    assert status.unpriced_calls == 1
    assert status.state == "ok"


def test_hard_budget_refuses_calls(settings: Settings) -> None:
    store = CostStore(settings.costs_db)
    store.insert([record(cost=5.0, tags={"app": "bot"})])
    guard = BudgetGuard(
        store, [BudgetSettings(name="bot", limit_usd=1.0, tag="app=bot", hard=True)]
    )
    model = MeteredChatModel(
        FunctionChatModel(lambda r: "ok", model="gpt-4o-mini"),
        CostMonitor(settings.costs_db, flush_interval_s=3600),
        guard,
    )
    allowed = ChatRequest(messages=(Message("user", "hi"),), tags=(("app", "other"),))
    assert model.generate(allowed).text == "ok"
    blocked = ChatRequest(messages=(Message("user", "hi"),), tags=(("app", "bot"),))
    with pytest.raises(BudgetExceededError, match="hard budget 'bot'"):
        model.generate(blocked)


def test_report_formats_and_check(settings: Settings, tmp_path: Path) -> None:
    store = CostStore(settings.costs_db)
    store.insert(
        [
            record(latency=100, tags={"team": "a"}),
            record(latency=300, tags={"team": "b"}),
            record(model="mystery", cost=None, status="error"),
        ]
    )
    store.close()
    runner = CliRunner()
    as_json = json.loads(runner.invoke(app, ["costs", "report", "--format", "json"]).stdout)
    by_model = {row["key"]: row for row in as_json}
    assert by_model["openai/gpt-4o-mini"]["calls"] == 2
    assert by_model["openai/gpt-4o-mini"]["p50_ms"] == pytest.approx(200.0)
    assert by_model["openai/mystery"]["cost_usd"] is None
    assert by_model["openai/mystery"]["error_rate"] == 1.0
    csv_text = runner.invoke(app, ["costs", "report", "--by", "tag", "--format", "csv"]).stdout
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("key,calls,prompt_tokens")
    assert {line.split(",")[0] for line in lines[1:]} == {"team=a", "team=b"}
    days = json.loads(
        runner.invoke(app, ["costs", "report", "--by", "day", "--format", "json"]).stdout
    )
    assert [d["key"] for d in days] == [datetime.now(UTC).date().isoformat()]
    assert days[0]["cost_usd"] is None  # one unpriced call makes the day's total unknown
    assert runner.invoke(app, ["costs", "report", "--by", "day"]).exit_code == 0
    bad = runner.invoke(app, ["costs", "report", "--by", "colour"])
    assert bad.exit_code != 0

    assert runner.invoke(app, ["costs", "check"]).exit_code == 0  # no budgets configured
    (tmp_path / "ragwright.toml").write_text(
        '[[budgets]]\nname = "daily"\nlimit_usd = 0.75\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["costs", "check"], terminal_width=200)
    assert result.exit_code == 1
    assert "exceeded" in result.stdout


def test_chart_and_mlflow_export(settings: Settings) -> None:
    import mlflow

    store = CostStore(settings.costs_db)
    store.insert(
        [record(cost=1.25), record(model="gpt-4o", cost=2.5), record(model="mystery", cost=None)]
    )
    store.close()
    runner = CliRunner()
    assert runner.invoke(app, ["costs", "chart"]).exit_code == 0
    html = (settings.reports_dir / "daily-spend.html").read_text()
    assert "openai/gpt-4o-mini: $1.2500" in html
    assert "<svg" in html
    assert runner.invoke(app, ["costs", "export-mlflow"]).exit_code == 0
    mlflow.set_tracking_uri(settings.tracking_uri)
    [run] = mlflow.search_runs(experiment_names=["ragwright-monitoring"], output_format="list")
    metrics = run.data.metrics
    assert metrics["openai/gpt-4o.cost_usd"] == pytest.approx(2.5)
    assert "openai/mystery.cost_usd" not in metrics  # unknown is absent, never 0
    assert metrics["openai/mystery.unpriced_calls"] == 1.0


def test_langchain_callback_records_usage(settings: Settings, openai_server: OpenAIServer) -> None:
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    from ragwright.costs import CostCallbackHandler

    openai_server.enqueue(
        Completion(
            "Paris.", usage={"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
        )
    )
    monitor = CostMonitor(settings.costs_db, flush_interval_s=3600)
    handler = CostCallbackHandler(monitor, prompt="capital@v1", tags={"app": "geo"})
    chain = (
        ChatPromptTemplate.from_messages([("user", "Capital of {country}?")])
        | ChatOpenAI(
            model="gpt-4o-mini", base_url=openai_server.base_url, api_key="k", max_retries=0
        )
        | StrOutputParser()
    )
    assert chain.invoke({"country": "France"}, config={"callbacks": [handler]}) == "Paris."
    monitor.flush()
    [group] = CostStore(settings.costs_db).group("tag")
    assert group.key == "app=geo"
    assert (group.prompt_tokens, group.completion_tokens) == (20, 3)
    assert group.estimated_calls == 0
    assert group.cost_usd == pytest.approx((20 * 0.15 + 3 * 0.60) / 1e6)


def test_metered_embedder_records_batches(settings: Settings) -> None:
    monitor = CostMonitor(settings.costs_db, flush_interval_s=3600)
    embedder = MeteredEmbedder(LocalEmbedder(), monitor)
    vectors = embedder.encode(["one sentence", "another sentence"])
    assert vectors.shape == (2, 384)
    monitor.flush()
    [group] = CostStore(settings.costs_db).group("operation")
    assert (group.key, group.calls, group.cost_usd) == ("embed", 1, 0.0)
    assert group.prompt_tokens > 0
    assert group.estimated_calls == 1
    usage_total = Usage(1, 2) + Usage(3, 4, estimated=True)
    assert usage_total.estimated


def test_sqlalchemy_store_by_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RAGWRIGHT_COSTS_URL sends records to a database by URL (SQLite here, Postgres in prod)."""
    from ragwright.costs.monitor import monitor_for
    from ragwright.costs.sql_store import SqlAlchemyCostStore
    from ragwright.costs.store import open_cost_store

    url = f"sqlite:///{tmp_path / 'shared-costs.db'}"
    monkeypatch.setenv("RAGWRIGHT_COSTS_URL", url)
    settings = Settings()
    assert settings.costs_target == url
    monitor = monitor_for(settings)
    monitor.record_call(
        provider="openai",
        model="gpt-4o-mini",
        operation="generate",
        prompt="p@v1",
        usage=Usage(1000, 100, calls=1),
        latency_ms=50.0,
        tags=(("team", "x"),),
    )
    monitor.flush()
    store = open_cost_store(url)
    assert isinstance(store, SqlAlchemyCostStore)
    assert store.count() == 1
    [group] = store.group("tag")
    assert group.key == "team=x"
    assert group.cost_usd == pytest.approx((1000 * 0.15 + 100 * 0.60) / 1e6)
    assert not settings.costs_db.exists()  # nothing went to the local file
    result = CliRunner().invoke(app, ["costs", "report", "--format", "json"])
    assert json.loads(result.stdout)[0]["calls"] == 1
