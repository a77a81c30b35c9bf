"""Evaluate prompt versions, gate the candidate, write reports, log to MLflow.

Shared by ``ragwright eval ...`` and ``ragwright demo``, so the demo shows
exactly what CI runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragwright.evals.api import Comparison, evaluate
from ragwright.evals.golden import load_golden_set
from ragwright.evals.report import fmt_cost, fmt_opt
from ragwright.evals.results import EvalRun
from ragwright.settings import Settings

if TYPE_CHECKING:
    from ragwright.rag.chain import RagChain

__all__ = ["Comparison", "evaluate_prompts", "judge_failure_note", "print_runs", "verdict_text"]


def evaluate_prompts(
    settings: Settings,
    prompts: list[str],
    golden_path: Path,
    console: Console,
    *,
    gate: bool = True,
    log_mlflow: bool = True,
    chain: RagChain | None = None,
) -> Comparison:
    """:func:`ragwright.evals.evaluate` with a progress bar per prompt on ``console``."""
    cases = len(load_golden_set(golden_path).cases)  # validate before drawing bars
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bars = [progress.add_task(f"eval {p}", total=cases) for p in prompts]
        return evaluate(
            settings,
            prompts,
            golden_path,
            gate=gate,
            log_mlflow=log_mlflow,
            chain=chain,
            progress=lambda index, n: progress.advance(bars[index], n),
        )


def verdict_text(comparison: Comparison) -> str | None:
    """The gate's verdict in words, rich markup included; None when nothing was gated."""
    gate = comparison.gate
    if gate is None:
        return None
    return {
        "pass": "[green]PASS[/]",
        "fail": "[red]FAIL[/]",
        "not_informative": "[yellow]NOT INFORMATIVE[/]",
    }[gate.verdict]


def judge_failure_note(run: EvalRun) -> str | None:
    """Which metrics' judges failed and how they were scored; None when none did."""
    summary = run.summary
    failed = [f"{metric} {n}" for metric, n in summary.judge_errors.items() if n]
    if not failed and not summary.unparseable:
        return None
    parts = []
    if failed:
        parts.append(f"judge errors: {', '.join(failed)}")
    if summary.unparseable:
        parts.append(f"{summary.unparseable} case(s) with an unparseable judge reply")
    return (
        f"{'; '.join(parts)}. These count as the worst score (hallucinated, relevance 1,"
        " correctness 0) in the metrics above and in the gate"
    )


def print_runs(console: Console, comparison: Comparison) -> None:
    """One column per prompt version, one row per metric: readable at 80 columns."""
    gate = comparison.gate
    runs = comparison.runs
    table = Table(title=f"eval · golden set {runs[0].golden_set} ({runs[0].summary.cases} cases)")
    table.add_column("metric")
    for run in runs:
        table.add_column(run.prompt, justify="right")

    if gate is not None and gate.not_informative:  # first: the rules below saw no change
        console.print(
            f"[yellow]gate not informative for this change:[/] {gate.not_informative}",
            highlight=False,
        )
    rows: list[tuple[str, list[str]]] = [
        ("hallucination rate", [f"{r.summary.hallucination_rate:.3f}" for r in runs]),
        ("mean relevance (1-5)", [f"{r.summary.mean_relevance:.2f}" for r in runs]),
        ("answer correctness (0-1)", [fmt_opt(r.summary.mean_correctness, ".3f") for r in runs]),
        (
            f"retrieval recall@{runs[0].top_k}",
            [fmt_opt(r.summary.recall_at_k, ".3f") for r in runs],
        ),
        ("retrieval MRR", [fmt_opt(r.summary.mrr, ".3f") for r in runs]),
        ("answered (answerable)", [f"{r.summary.answered_rate:.2f}" for r in runs]),
        ("abstained (unanswerable)", [fmt_opt(r.summary.abstention_rate, ".2f") for r in runs]),
        (
            "chain latency p50 / p95 ms",
            [f"{r.summary.p50_latency_ms:.0f} / {r.summary.p95_latency_ms:.0f}" for r in runs],
        ),
        ("model calls (monitor)", [str(r.monitor.calls) if r.monitor else "n/a" for r in runs]),
        (
            "model latency p50 / p95 ms",
            [
                f"{r.monitor.p50_ms:.0f} / {r.monitor.p95_ms:.0f}" if r.monitor else "n/a"
                for r in runs
            ],
        ),
        (
            "tokens (monitor)",
            [
                (
                    f"{r.monitor.tokens}{' (est.)' if r.monitor.estimated_calls else ''}"
                    if r.monitor
                    else "n/a"
                )
                for r in runs
            ],
        ),
        ("cost (monitor)", [fmt_cost(r.monitor.cost_usd) if r.monitor else "n/a" for r in runs]),
        (
            "judge calls / cost (all versions)",
            [
                f"{r.judge_monitor.calls} / {fmt_cost(r.judge_monitor.cost_usd)}"
                if r.judge_monitor
                else "n/a"
                for r in runs
            ],
        ),
        (
            "errors (answer / judge)",
            [f"{r.summary.errors} / {r.summary.judge_error_count}" for r in runs],
        ),
        ("judge replies unparseable", [str(r.summary.unparseable) for r in runs]),
    ]
    for info in runs[-1].custom_metrics:
        label = f"{info.name}{' (uncalibrated)' if info.uncalibrated_judge else ''}"
        rows.append(
            (
                label,
                [
                    fmt_opt(m.mean, ".3f") if (m := r.summary.metrics.get(info.name)) else "n/a"
                    for r in runs
                ],
            )
        )
    if (verdict := verdict_text(comparison)) is not None:
        rows.append(("gate verdict", ["baseline"] + [verdict] * (len(runs) - 1)))
    for label, values in rows:
        table.add_row(label, *values)
    console.print(table)
    labels = {
        f"model {r.chat_model}{' (local)' if r.chat_model_local else ''}"
        f" · judge {r.judge}{' (local)' if r.judge_local else ''}"
        f"{'' if r.calibration else ' (uncalibrated)'}"
        for r in runs
    }
    console.print(f"[dim]{'; '.join(sorted(labels))}[/dim]")
    if any(r.judge_local for r in runs):
        console.print(
            "[dim]local relevance is near-binary (1 declined or off-topic, 5 on-topic):"
            " read it as a share, not a graded score[/dim]"
        )
    for run in runs:
        if note := judge_failure_note(run):
            console.print(f"[yellow]{run.prompt}: {note}[/yellow]", highlight=False)
    if gate is not None:
        for rule in gate.rules:
            mark = "[green]pass[/]" if rule.passed else "[red]FAIL[/]"
            console.print(
                f"  {mark} {rule.rule} [dim]({rule.id})[/dim]: {rule.explanation}",
                highlight=False,
            )
        if gate.uncalibrated:
            console.print(
                f"[yellow]uncalibrated LLM-judged metrics: {', '.join(gate.uncalibrated)}"
                " (never measured against human labels)[/yellow]",
                highlight=False,
            )
    for run in runs:
        if run.mlflow_run_id:
            console.print(f"mlflow run {run.prompt}: {run.mlflow_run_id}", highlight=False)
