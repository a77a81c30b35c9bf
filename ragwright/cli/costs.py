"""``ragwright costs ...``: what model calls cost, how fast they were, and budgets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ragwright.cli.output import console, print_json, table

app = typer.Typer(help="Cost and latency of recorded model calls; budgets.", no_args_is_help=True)

GROUPS = ("model", "day", "prompt", "operation", "tag")


def _store() -> tuple[Any, Any]:
    from ragwright.costs.store import open_cost_store
    from ragwright.settings import load_settings

    settings = load_settings()
    return settings, open_cost_store(settings.costs_target)


def _when(text: str | None, option: str) -> str | None:
    """An ISO date or time, today, yesterday or Nd; anything else is a usage error."""
    from ragwright.costs.report import parse_when

    if text is None:
        return None
    try:
        return parse_when(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


WHEN = "ISO date or time (UTC), today, yesterday or Nd (N days ago)"


@app.command("report")
def report(
    by: Annotated[str, typer.Option(help="model, day, prompt, operation or tag.")] = "model",
    since: Annotated[str | None, typer.Option(help=f"{WHEN}; inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help=f"{WHEN}; exclusive.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Calls, tokens, spend, p50/p95/p99 latency and error rate per group."""
    from ragwright.costs.budgets import evaluate_budgets
    from ragwright.costs.report import to_csv, to_json, usd

    if by not in GROUPS:
        raise typer.BadParameter(f"choose one of {', '.join(GROUPS)}", param_hint="--by")
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter("choose table, json or csv", param_hint="--format")
    start, end = _when(since, "--since"), _when(until, "--until")
    settings, store = _store()
    try:
        groups = store.group(by, since=start, until=end)
        budgets = evaluate_budgets(store, settings.budgets)
    finally:
        store.close()
    if fmt == "json" or as_json:
        print(to_json(groups))
        return
    if fmt == "csv":
        print(to_csv(groups), end="")
        return
    # time to first token exists only for streamed calls: its column only when there are some
    streamed = any(g.ttft_p50_ms is not None for g in groups)
    headers = ["calls", "tokens in / out", "cost USD", "p50/p95/p99 ms", "errors"]
    rows = table(by, *headers, *(["TTFT p50/p95 ms"] if streamed else []), keys=(by,))
    for g in groups:
        cost = (
            usd(g.cost_usd) if g.unpriced_calls == 0 else f"unknown ({g.unpriced_calls} unpriced)"
        )
        if g.cost_usd is not None and g.unpriced_calls:
            cost = f"{usd(g.cost_usd)} + unknown ({g.unpriced_calls} unpriced)"
        estimated = "*" if g.estimated_calls else ""
        cells = [
            g.key,
            str(g.calls),
            f"{g.prompt_tokens}{estimated} / {g.completion_tokens}",
            cost,
            f"{g.p50_ms:.0f}/{g.p95_ms:.0f}/{g.p99_ms:.0f}",
            f"{g.error_rate:.1%}",
        ]
        if streamed:
            ttft = (g.ttft_p50_ms, g.ttft_p95_ms)
            cells.append("-" if None in ttft else f"{ttft[0]:.0f}/{ttft[1]:.0f}")
        rows.add_row(*cells)
    console.print(rows)
    if any(g.estimated_calls for g in groups):
        console.print("* includes estimated token counts (the model reported none)")
    if not groups:
        console.print("no calls recorded in this period", highlight=False)
    for status in budgets:
        if status.state != "ok":
            console.print(
                f"[yellow]budget {status.budget.name}: {status.state}[/] "
                f"${usd(status.spent_usd)} of ${usd(status.budget.limit_usd)}"
            )


@app.command("check")
def check(
    as_json: Annotated[bool, typer.Option("--json", help="Print the budgets as JSON.")] = False,
) -> None:
    """Compare spend with the configured budgets; exit 1 when any is exceeded (for CI)."""
    from ragwright.costs.budgets import evaluate_budgets
    from ragwright.costs.report import usd

    settings, store = _store()
    try:
        statuses = evaluate_budgets(store, settings.budgets)
    finally:
        store.close()
    exceeded = any(s.state == "exceeded" for s in statuses)
    if as_json:
        print_json(
            [
                {
                    "name": s.budget.name,
                    "period": s.budget.period,
                    "model": s.budget.model,
                    "tag": s.budget.tag,
                    "hard": s.budget.hard,
                    "since": s.since,
                    "spent_usd": s.spent_usd,
                    "unpriced_calls": s.unpriced_calls,
                    "limit_usd": s.budget.limit_usd,
                    "share": s.share,
                    "state": s.state,
                }
                for s in statuses
            ]
        )
        if exceeded:
            raise typer.Exit(1)
        return
    if not statuses:
        console.print("no budgets configured ([[budgets]] in ragwright.toml)")
        return
    rows = table(
        "budget", "period", "scope", "spent USD", "limit USD", "share", "state", keys=("budget",)
    )
    colours = {"ok": "green", "warning": "yellow", "exceeded": "red"}
    for s in statuses:
        scope = ", ".join(x for x in (s.budget.model, s.budget.tag) if x) or "all calls"
        unpriced = f" (+{s.unpriced_calls} unpriced)" if s.unpriced_calls else ""
        rows.add_row(
            s.budget.name,
            s.budget.period,
            scope,
            f"{usd(s.spent_usd)}{unpriced}",
            usd(s.budget.limit_usd),
            f"{s.share:.0%}",
            f"[{colours[s.state]}]{s.state}[/]",
        )
    console.print(rows)
    if exceeded:
        raise typer.Exit(1)


@app.command("chart")
def chart(
    output: Annotated[Path | None, typer.Option(help="HTML file to write.")] = None,
    since: Annotated[str | None, typer.Option(help=f"{WHEN}; inclusive.")] = None,
) -> None:
    """Write an HTML chart of daily spend per model."""
    from ragwright.costs.report import write_daily_chart

    settings, store = _store()
    try:
        daily = store.daily_spend(since=_when(since, "--since"))
    finally:
        store.close()
    path = write_daily_chart(daily, output or settings.reports_dir / "daily-spend.html")
    console.print(f"chart: {path}")


@app.command("export-mlflow")
def export_mlflow(
    since: Annotated[str | None, typer.Option(help=f"{WHEN}; inclusive.")] = None,
) -> None:
    """Log spend, calls and latency per model as metrics of an MLflow monitoring run."""
    from ragwright.costs.export import export_to_mlflow

    settings, store = _store()
    try:
        start = _when(since, "--since")
        run_id = export_to_mlflow(settings, store.group("model", since=start), since=start)
    finally:
        store.close()
    console.print(f"MLflow run {run_id}")
