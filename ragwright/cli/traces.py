"""``ragwright traces ...``: served answers as recorded, and exported as golden cases or labels."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ragwright.cli.output import console

if TYPE_CHECKING:
    from ragwright.traces.store import TraceFilter, TraceStore

app = typer.Typer(help="Traces of served answers: list, show, export.", no_args_is_help=True)

Since = Annotated[str | None, typer.Option(help="ISO date or time (UTC), inclusive.")]
Prompt = Annotated[str | None, typer.Option(help="A prompt name or reference (rag_answer@v2).")]
Feedback = Annotated[str | None, typer.Option(help="up or down: traces with that feedback.")]
ScoreBelow = Annotated[
    float | None, typer.Option(help="Online relevance score (1-5) below this.", min=1, max=5)
]
Hallucinated = Annotated[
    bool | None,
    typer.Option(
        "--hallucinated/--grounded", help="The online judge's verdict.", show_default=False
    ),
]
Limit = Annotated[int | None, typer.Option(help="At most this many, newest first.", min=1)]


def open_store() -> TraceStore:
    from ragwright.settings import load_settings
    from ragwright.traces.store import open_trace_store

    return open_trace_store(load_settings().traces_target)


def parse_since(since: str | None) -> str | None:
    """``--since`` as the store compares it; a malformed date is a usage error (exit 2)."""
    if since is None:
        return None
    try:
        return (datetime if "T" in since else date).fromisoformat(since).isoformat()
    except ValueError:
        raise typer.BadParameter(
            f"{since!r} is not an ISO date or time (e.g. 2026-05-01)", param_hint="--since"
        ) from None


def trace_filter(
    since: str | None,
    prompt: str | None,
    feedback: str | None,
    score_below: float | None,
    hallucinated: bool | None,
    limit: int | None,
) -> TraceFilter:
    """The filter of the options; a malformed one is a usage error (exit 2)."""
    from ragwright.traces.store import TraceFilter

    since = parse_since(since)
    scores = {"up": 1, "down": -1, "1": 1, "-1": -1}
    if feedback is not None and feedback not in scores:
        raise typer.BadParameter("choose up or down", param_hint="--feedback")
    return TraceFilter(
        since=since,
        prompt=prompt,
        feedback=None if feedback is None else scores[feedback],
        score_below=score_below,
        hallucinated=hallucinated,
        limit=limit,
    )


def _cell(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


@app.command("list")
def list_traces(
    since: Since = None,
    prompt: Prompt = None,
    feedback: Feedback = None,
    score_below: ScoreBelow = None,
    hallucinated: Hallucinated = None,
    limit: Limit = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Recent traces, newest first, with their online scores and feedback."""
    where = trace_filter(since, prompt, feedback, score_below, hallucinated, limit)
    rows = open_store().select(where)
    if as_json:
        for row in rows:
            console.print_json(json.dumps(row))
        return
    table = Table("request id", "time", "prompt", "ms", "halluc.", "relev.", "fb", "question")
    for r in rows:
        table.add_row(
            r["request_id"],
            r["ts"][:19],
            _cell(r["prompt"]),
            _cell(r["latency_ms"], 0),
            _cell(r["hallucination"]),
            _cell(r["relevance"]),
            _cell(r["feedback"]),
            (r["error_type"] and f"[red]{r['error_type']}[/]") or r["question"][:60],
        )
    console.print(table)


@app.command("show")
def show(request_id: Annotated[str, typer.Argument(help="The answer's request_id.")]) -> None:
    """One trace in full, as JSON."""
    console.print_json(json.dumps(open_store().get(request_id)))


@app.command("export")
def export(
    since: Since = None,
    prompt: Prompt = None,
    feedback: Feedback = None,
    score_below: ScoreBelow = None,
    hallucinated: Hallucinated = None,
    limit: Limit = None,
    to_golden: Annotated[
        Path | None, typer.Option(help="Write golden-set cases (eval run --golden-set).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Write labelled traces (eval calibrate --labels).")
    ] = None,
) -> None:
    """Selected traces as golden-set cases, labels, or (neither option) JSONL on stdout."""
    from ragwright.evals.trace_export import golden_case, label_row, write_jsonl

    if to_golden is not None and labels is not None:
        raise typer.BadParameter("give --to-golden or --labels, not both", param_hint="--labels")
    rows = open_store().select(
        trace_filter(since, prompt, feedback, score_below, hallucinated, limit)
    )
    if to_golden is not None:
        count = write_jsonl(to_golden, (golden_case(r) for r in rows if r.get("answer")))
        console.print(f"{count} golden cases written to {to_golden}")
    elif labels is not None:
        count = write_jsonl(labels, (row for r in rows if (row := label_row(r)) is not None))
        console.print(f"{count} labelled traces written to {labels}")
    else:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
