"""``ragwright monitor ...``: production quality from traces, thresholds for cron and CI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ragwright.cli.output import console
from ragwright.cli.traces import Since, open_store, parse_since

if TYPE_CHECKING:
    from ragwright.traces.reader import TraceSource

app = typer.Typer(
    help="Production quality from traces: report, check, evaluate.", no_args_is_help=True
)

COLUMNS = (
    ("traces", 0),
    ("answered_rate", 3),
    ("hallucination_rate", 3),
    ("relevance", 2),
    ("negative_feedback_rate", 3),
    ("retrieval_top_score", 3),
    ("p50_latency_ms", 1),
    ("p95_latency_ms", 1),
    ("cost_per_answer_usd", 6),
)


@contextmanager
def _reader() -> Iterator[TraceSource]:
    """The trace store for reports: the local file without SQLAlchemy when it can be."""
    from ragwright.settings import load_settings
    from ragwright.traces.reader import open_trace_reader

    source = open_trace_reader(load_settings().traces_target)
    try:
        yield source
    finally:
        source.close()


def _fmt(value: Any, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}" if digits else str(value)


@app.command("report")
def report(
    by: Annotated[str, typer.Option(help="day, prompt or index.")] = "day",
    since: Since = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answered rate, hallucination rate, relevance, negative feedback, latency, cost per group."""
    from ragwright.traces.aggregate import store_report

    if by not in ("day", "prompt", "index"):
        raise typer.BadParameter("choose day, prompt or index", param_hint="--by")
    start = parse_since(since)
    with _reader() as source:
        result = store_report(source, by=by, since=start)
    if as_json:
        console.print_json(json.dumps(result))
        return
    table = Table(by, *(name.replace("_", " ") for name, _ in COLUMNS))
    for group in [*result["groups"], {"key": "all", **result["overall"]}]:
        table.add_row(group["key"], *(_fmt(group[name], d) for name, d in COLUMNS))
    console.print(table)
    if skipped := result["overall"]["llm_budget_skipped"]:
        console.print(f"llm judge: budget reached, {skipped} skipped")


@app.command("export-mlflow")
def export_mlflow(
    by: Annotated[str, typer.Option(help="day, prompt or index.")] = "day",
    since: Since = None,
) -> None:
    """Log the report's figures as metrics of an MLflow monitoring run (run name quality)."""
    from ragwright.settings import load_settings
    from ragwright.traces.aggregate import store_report
    from ragwright.traces.mlflow_export import export_report

    if by not in ("day", "prompt", "index"):
        raise typer.BadParameter("choose day, prompt or index", param_hint="--by")
    start = parse_since(since)
    with _reader() as source:
        result = store_report(source, by=by, since=start)
    console.print(f"MLflow run {export_report(load_settings(), result, since=since)}")


@app.command("check")
def check() -> None:
    """The last ``[monitor] window_days`` against the thresholds; exit 1 when one is crossed."""
    from ragwright.settings import load_settings
    from ragwright.traces.check import check_store

    limits = load_settings().monitor
    since = (datetime.now(UTC) - timedelta(days=limits.window_days)).isoformat()
    with _reader() as source:
        findings = check_store(source, limits, since=since)
    if not findings:
        console.print("no thresholds configured ([monitor] in ragwright.toml)")
        return
    table = Table("figure", "value", "limit", "state")
    for f in findings:
        state = "[red]crossed[/]" if f.crossed else "[green]ok[/]"
        table.add_row(f.name, _fmt(f.value, 4), _fmt(f.limit, 4), state)
    console.print(table)
    if any(f.crossed for f in findings):
        raise typer.Exit(1)


@app.command("evaluate")
def evaluate() -> None:
    """Score every trace the online evaluator has not seen yet (catch-up, cron), then exit."""
    from ragwright.evals.online import OnlineEvaluator, local_judge, online_metrics
    from ragwright.settings import load_settings

    settings = load_settings()
    evaluator = OnlineEvaluator(
        open_store(),
        local_judge(settings),
        sample=settings.online_eval.sample,
        metrics=online_metrics(settings),
    )
    try:
        handled = evaluator.run_until_idle()
    finally:
        evaluator.stop()
    console.print(f"{handled} traces handled, {evaluator.scored} scored")
    if evaluator.metrics is not None and evaluator.metrics.budget_skipped:
        console.print(f"llm judge: budget reached, {evaluator.metrics.budget_skipped} skipped")
