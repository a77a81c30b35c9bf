"""``ragwright costs ...``: what the model calls cost and how fast they were."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer
from rich.table import Table

from ragwright.cli.output import console

app = typer.Typer(help="Cost and latency of recorded model calls.", no_args_is_help=True)

GroupBy = Literal["model", "day", "prompt", "operation"]


@app.command("report")
def report(
    by: Annotated[str, typer.Option(help="Group by: model, day, prompt or operation.")] = "model",
    since: Annotated[str | None, typer.Option(help="ISO date or time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date or time, exclusive.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Calls, tokens, spend and latency percentiles per group."""
    from dataclasses import asdict

    from ragwright.costs.store import CostStore
    from ragwright.settings import load_settings

    if by not in ("model", "day", "prompt", "operation"):
        raise typer.BadParameter("choose model, day, prompt or operation", param_hint="--by")
    store = CostStore(load_settings().costs_db)
    try:
        groups = store.group(by, since=since, until=until)  # type: ignore[arg-type]
    finally:
        store.close()
    if fmt == "json":
        console.print_json(json.dumps([asdict(g) for g in groups]))
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
    )
    for g in groups:
        cost = "unknown" if g.cost_usd is None else f"{g.cost_usd:.4f}"
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
        )
    console.print(table)
