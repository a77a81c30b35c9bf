"""``ragwright costs ...``: what model calls cost, how fast they were, and budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ragwright.cli.output import console

app = typer.Typer(help="Cost and latency of recorded model calls; budgets.", no_args_is_help=True)

GROUPS = ("model", "day", "prompt", "operation", "tag")


def _store() -> tuple[Any, Any]:
    from ragwright.costs.store import open_cost_store
    from ragwright.settings import load_settings

    settings = load_settings()
    return settings, open_cost_store(settings.costs_target)


@app.command("report")
def report(
    by: Annotated[str, typer.Option(help="model, day, prompt, operation or tag.")] = "model",
    since: Annotated[str | None, typer.Option(help="ISO date or time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date or time, exclusive.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Calls, tokens, spend, p50/p95/p99 latency and error rate per group."""
    from ragwright.costs.budgets import evaluate_budgets
    from ragwright.costs.report import to_csv, to_json

    if by not in GROUPS:
        raise typer.BadParameter(f"choose one of {', '.join(GROUPS)}", param_hint="--by")
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("choose table, json or csv", param_hint="--format")
    settings, store = _store()
    try:
        groups = store.group(by, since=since, until=until)
        budgets = evaluate_budgets(store, settings.budgets)
    finally:
        store.close()
    if fmt == "json":
        print(to_json(groups))
        return
    if fmt == "csv":
        print(to_csv(groups), end="")
        return
    table = Table(
        by,
        "calls",
        "prompt tok",
        "completion tok",
        "cost USD",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "TTFT p50/p95 ms",
    )
    for g in groups:
        cost = (
            f"{g.cost_usd:.4f}"
            if g.cost_usd is not None
            else (f"unknown ({g.unpriced_calls} unpriced)")
        )
        estimated = f" ({g.estimated_calls} est.)" if g.estimated_calls else ""
        table.add_row(
            g.key,
            str(g.calls),
            f"{g.prompt_tokens}{estimated}",
            str(g.completion_tokens),
            cost,
            f"{g.p50_ms:.0f}",
            f"{g.p95_ms:.0f}",
            f"{g.p99_ms:.0f}",
            f"{g.error_rate:.1%}",
            "-"
            if g.ttft_p50_ms is None or g.ttft_p95_ms is None
            else f"{g.ttft_p50_ms:.0f}/{g.ttft_p95_ms:.0f}",
        )
    console.print(table)
    for status in budgets:
        if status.state != "ok":
            console.print(
                f"[yellow]budget {status.budget.name}: {status.state}[/] "
                f"${status.spent_usd:.4f} of ${status.budget.limit_usd:.2f}"
            )


@app.command("check")
def check() -> None:
    """Compare spend with the configured budgets; exit 1 when any is exceeded (for CI)."""
    from ragwright.costs.budgets import evaluate_budgets

    settings, store = _store()
    try:
        statuses = evaluate_budgets(store, settings.budgets)
    finally:
        store.close()
    if not statuses:
        console.print("no budgets configured ([[budgets]] in ragwright.toml)")
        return
    table = Table("budget", "period", "scope", "spent USD", "limit USD", "share", "state")
    colours = {"ok": "green", "warning": "yellow", "exceeded": "red"}
    for s in statuses:
        scope = ", ".join(x for x in (s.budget.model, s.budget.tag) if x) or "all calls"
        unpriced = f" (+{s.unpriced_calls} unpriced)" if s.unpriced_calls else ""
        table.add_row(
            s.budget.name,
            s.budget.period,
            scope,
            f"{s.spent_usd:.4f}{unpriced}",
            f"{s.budget.limit_usd:.2f}",
            f"{s.share:.0%}",
            f"[{colours[s.state]}]{s.state}[/]",
        )
    console.print(table)
    if any(s.state == "exceeded" for s in statuses):
        raise typer.Exit(1)


@app.command("chart")
def chart(
    output: Annotated[Path | None, typer.Option(help="HTML file to write.")] = None,
    since: Annotated[str | None, typer.Option(help="ISO date, inclusive.")] = None,
) -> None:
    """Write an HTML chart of daily spend per model."""
    from ragwright.costs.report import write_daily_chart

    settings, store = _store()
    try:
        daily = store.daily_spend(since=since)
    finally:
        store.close()
    path = write_daily_chart(daily, output or settings.reports_dir / "daily-spend.html")
    console.print(f"chart: {path}")


@app.command("export-mlflow")
def export_mlflow(
    since: Annotated[str | None, typer.Option(help="ISO date, inclusive.")] = None,
) -> None:
    """Log spend, calls and latency per model as metrics of an MLflow monitoring run."""
    from ragwright.costs.export import export_to_mlflow

    settings, store = _store()
    try:
        run_id = export_to_mlflow(settings, store.group("model", since=since), since=since)
    finally:
        store.close()
    console.print(f"MLflow run {run_id}")
