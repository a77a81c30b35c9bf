"""The demo's production-loop step: the traces of its answers, scored, and one golden case."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

if TYPE_CHECKING:
    from rich.console import Console

    from ragwright.settings import Settings

__all__ = ["show_production_loop"]


def show_production_loop(
    settings: Settings, console: Console, questions: Sequence[str]
) -> Path | None:
    """Print the traces of ``questions`` with their online scores; write one as a golden case.

    Returns the golden-set file written (None with traces off or nothing traced).
    """
    if not settings.traces:
        return None
    from ragwright.evals.online import OnlineEvaluator, local_judge
    from ragwright.evals.trace_export import golden_case, write_jsonl
    from ragwright.traces.recorder import recorder_for

    recorder = recorder_for(settings)
    recorder.flush()
    asked = set(questions)
    rows = [r for r in recorder.store.select() if r.get("answer") and r["question"] in asked]
    evaluator = OnlineEvaluator(recorder.store, local_judge(settings))
    for row in rows:  # what the server's background worker does with every trace
        scores = evaluator.score(row)
        recorder.store.set_scores(row["request_id"], scores)
        row.update(scores)
    if not rows:
        return None
    table = Table("request id", "question", "ms", "hallucination", "relevance")
    for r in rows:
        table.add_row(
            r["request_id"][:12],
            r["question"][:60],
            f"{r['latency_ms']:.0f}",
            "-" if r["hallucination"] is None else f"{r['hallucination']:.2f}",
            "-" if r["relevance"] is None else str(r["relevance"]),
        )
    console.print(table)
    path = settings.home / "golden_from_traces.jsonl"
    case = golden_case(rows[0])
    write_jsonl(path, [case])
    shown = {k: case[k] for k in ("id", "question", "reference_answer") if k in case}
    console.print(f"one trace as a golden case ({path}):", highlight=False)
    console.print_json(json.dumps(shown))
    return path
