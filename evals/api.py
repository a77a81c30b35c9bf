"""The library entry points: :func:`evaluate` and :func:`compare`, returning a :class:`Comparison`.

Evaluating, gating, writing reports and logging to MLflow happen here, so a
Prefect flow or a notebook gates exactly as CI does without importing the CLI;
the CLI, the demo and ``eval gate --changed`` only print what these return.
Progress is an optional callback: ``progress(prompt_index, cases_done)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ragwright.costs.monitor import monitor_for
from ragwright.costs.store import GroupStats, open_cost_store
from ragwright.evals.calibration_record import cited_calibration
from ragwright.evals.gate import GateResult, evaluate_gate
from ragwright.evals.golden import load_golden_set
from ragwright.evals.report import write_reports
from ragwright.evals.results import EvalRun, MonitorStats
from ragwright.settings import Settings

if TYPE_CHECKING:
    from ragwright.rag.chain import RagChain

__all__ = ["Comparison", "Progress", "compare", "evaluate"]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Comparison:
    """Runs in prompt order; ``gate`` judges the last against the first (None: not gated)."""

    runs: list[EvalRun]
    gate: GateResult | None
    reports: list[Path] = field(default_factory=list)


def evaluate(
    settings: Settings,
    prompts: Sequence[str],
    golden_path: Path | None = None,
    *,
    gate: bool = True,
    log_mlflow: bool = True,
    chain: RagChain | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Evaluate each prompt on the golden set; with ``gate``, prompts[-1] is gated vs prompts[0]."""
    # Imported here: `eval compare` (compare below) needs none of the chain's machinery.
    from ragwright.evals.custom import build_metrics
    from ragwright.evals.judges.registry import judge_from_settings
    from ragwright.evals.runner import metric_info, run_evals_blocking
    from ragwright.rag.chain import RagChain

    golden = load_golden_set(golden_path or settings.golden_set)  # validate before model work
    metrics = build_metrics(settings)  # a broken [[metrics]] table fails before any call
    infos = [
        metric_info(metric, config.kind, (config.floor, config.margin, config.gate))
        for metric, config in zip(metrics, settings.metrics, strict=True)
    ]
    # evaluation renders drafts: a pull request gates a version before it is published
    chain = chain or RagChain.from_settings(settings, cached=settings.eval_cache, allow_drafts=True)
    judge = judge_from_settings(settings)
    try:
        # interleaved: the gate's two versions run under the same conditions
        runs = run_evals_blocking(
            chain,
            golden,
            judge,
            prompts=prompts,
            concurrency=settings.eval_concurrency,
            prices=monitor_for(settings).prices,
            progress=progress,
            metrics=metrics,
            metric_infos=infos,
        )
    except BaseException:
        # An aborted run (a prompt that does not render, Ctrl-C) still paid for the
        # calls it made: write them now, not only if the interpreter exits cleanly.
        monitor_for(settings).flush_quietly()
        raise
    _attach_monitor_stats(settings, runs)
    for run in runs:
        run.calibration, run.judge_balanced_accuracy = cited_calibration(settings, run.judge)
    decision = evaluate_gate(runs[0], runs[-1], settings.gate) if gate and len(runs) > 1 else None
    return _report(settings, f"eval-{runs[-1].run_id}", runs, decision, log_mlflow=log_mlflow)


def compare(settings: Settings, baseline_run: str, candidate_run: str) -> Comparison:
    """Gate one logged run against another from their MLflow records: no model calls."""
    from ragwright.evals.tracking import load_run

    runs = [load_run(settings, baseline_run), load_run(settings, candidate_run)]
    decision = evaluate_gate(runs[0], runs[1], settings.gate)
    stem = f"compare-{baseline_run[:8]}-{candidate_run[:8]}"
    return _report(settings, stem, runs, decision, log_mlflow=False)


def _report(
    settings: Settings,
    stem: str,
    runs: list[EvalRun],
    decision: GateResult | None,
    *,
    log_mlflow: bool,
) -> Comparison:
    reports = list(write_reports(settings.reports_dir, stem, runs, decision))
    if log_mlflow:
        from ragwright.evals.tracking import log_run

        for run in runs:
            last = run is runs[-1]
            run.mlflow_run_id = log_run(
                settings, run, decision if last else None, reports if last else None
            )
        reports = list(write_reports(settings.reports_dir, stem, runs, decision))
    return Comparison(runs, decision, reports)


def _attach_monitor_stats(settings: Settings, runs: list[EvalRun]) -> None:
    """Cost and model latency per run, as the cost monitor recorded them."""
    monitor_for(settings).flush()
    store = open_cost_store(settings.costs_target)
    since = runs[0].started_at.isoformat()
    try:
        by_tag = {g.key: g for g in store.group("tag", since=since)}
        judging = next((g for g in store.group("operation", since=since) if g.key == "judge"), None)
    finally:
        store.close()
    for run in runs:
        if (stats := by_tag.get(f"eval_run={run.run_id}")) is not None:
            run.monitor = _stats(stats)
        run.judge_monitor = _stats(judging) if judging is not None else None


def _stats(group: GroupStats) -> MonitorStats:
    return MonitorStats(
        calls=group.calls,
        tokens=group.prompt_tokens + group.completion_tokens,
        estimated_calls=group.estimated_calls,
        cost_usd=group.cost_usd,
        p50_ms=group.p50_ms,
        p95_ms=group.p95_ms,
    )
