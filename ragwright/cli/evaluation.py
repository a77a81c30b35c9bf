"""Evaluate prompt versions, gate the candidate, write reports, log to MLflow.

Shared by ``ragwright eval ...`` and ``ragwright demo``, so the demo shows
exactly what CI runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragwright.costs.monitor import monitor_for
from ragwright.costs.store import open_cost_store
from ragwright.evals.gate import GateResult, evaluate_gate
from ragwright.evals.golden import load_golden_set
from ragwright.evals.judges.registry import judge_from_settings
from ragwright.evals.report import fmt_cost, fmt_opt, write_reports
from ragwright.evals.results import EvalRun, MonitorStats
from ragwright.evals.runner import run_evals_blocking
from ragwright.rag.chain import RagChain
from ragwright.settings import Settings

__all__ = ["Comparison", "evaluate_prompts", "judge_failure_note", "print_runs"]


@dataclass
class Comparison:
    runs: list[EvalRun]
    gate: GateResult | None
    reports: list[Path] = field(default_factory=list)


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
    """Evaluate each prompt on the golden set; with ``gate``, prompts[-1] is gated vs prompts[0]."""
    golden = load_golden_set(golden_path)  # validate before any model work
    # evaluation renders drafts: a pull request gates a version before it is published
    chain = chain or RagChain.from_settings(settings, cached=settings.eval_cache, allow_drafts=True)
    judge = judge_from_settings(settings)
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        bars = [progress.add_task(f"eval {p}", total=len(golden.cases)) for p in prompts]
        try:
            # interleaved: the gate's two versions run under the same conditions
            runs = run_evals_blocking(
                chain,
                golden,
                judge,
                prompts=prompts,
                concurrency=settings.eval_concurrency,
                prices=monitor_for(settings).prices,
                progress=lambda index, n: progress.advance(bars[index], n),
            )
        except BaseException:
            # An aborted run (a prompt that does not render, Ctrl-C) still paid for the
            # calls it made: write them now, not only if the interpreter exits cleanly.
            monitor_for(settings).flush_quietly()
            raise
    _attach_monitor_stats(settings, runs)
    _cite_calibration(settings, runs)
    decision = evaluate_gate(runs[0], runs[-1], settings.gate) if gate and len(runs) > 1 else None
    stem = f"eval-{runs[-1].run_id}"
    reports = list(write_reports(settings.reports_dir, stem, runs, decision))
    if log_mlflow:
        from ragwright.evals.tracking import log_run

        for run in runs:
            run.mlflow_run_id = log_run(
                settings,
                run,
                decision if run is runs[-1] else None,
                reports if run is runs[-1] else None,
            )
        reports = list(write_reports(settings.reports_dir, stem, runs, decision))
    return Comparison(runs, decision, reports)


def _cite_calibration(settings: Settings, runs: list[EvalRun]) -> None:
    """Each run cites the newest calibration record of its judge (ragwright eval calibrate)."""
    from ragwright.evals.calibration import latest_calibration

    for run in runs:
        record = latest_calibration(settings, run.judge)
        if record is None:
            continue
        run.calibration = Path(str(record["record_path"])).name
        accuracy = record.get("metrics", {}).get("balanced_accuracy")
        run.judge_balanced_accuracy = float(accuracy) if accuracy is not None else None


def _attach_monitor_stats(settings: Settings, runs: list[EvalRun]) -> None:
    """Cost and model latency per run, as the cost monitor recorded them."""
    monitor_for(settings).flush()
    store = open_cost_store(settings.costs_target)
    try:
        by_tag = {g.key: g for g in store.group("tag", since=runs[0].started_at.isoformat())}
    finally:
        store.close()
    for run in runs:
        stats = by_tag.get(f"eval_run={run.run_id}")
        if stats is not None:
            run.monitor = MonitorStats(
                calls=stats.calls,
                tokens=stats.prompt_tokens + stats.completion_tokens,
                estimated_calls=stats.estimated_calls,
                cost_usd=stats.cost_usd,
                p50_ms=stats.p50_ms,
                p95_ms=stats.p95_ms,
            )


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
            "errors (answer / judge)",
            [f"{r.summary.errors} / {r.summary.judge_error_count}" for r in runs],
        ),
        ("judge replies unparseable", [str(r.summary.unparseable) for r in runs]),
    ]
    if gate is not None:
        verdicts = ["baseline"] + ["[green]PASS[/]" if gate.passed else "[red]FAIL[/]"] * (
            len(runs) - 1
        )
        rows.append(("gate verdict", verdicts))
    for label, values in rows:
        table.add_row(label, *values)
    console.print(table)
    labels = {
        f"model {r.chat_model}{' (local)' if r.chat_model_local else ''}"
        f" · judge {r.judge}{' (local)' if r.judge_local else ''}"
        for r in runs
    }
    console.print(f"[dim]{'; '.join(sorted(labels))}[/dim]")
    for run in runs:
        if note := judge_failure_note(run):
            console.print(f"[yellow]{run.prompt}: {note}[/yellow]", highlight=False)
    if gate is not None:
        for rule in gate.rules:
            mark = "[green]pass[/]" if rule.passed else "[red]FAIL[/]"
            console.print(f"  {mark} {rule.rule}: {rule.explanation}", highlight=False)
