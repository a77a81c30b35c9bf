"""``--json`` of ``eval run``, ``eval gate`` and ``eval compare``: one object, stable keys.

The keys are documented in docs/cli-eval.md; add keys, never rename them. Every
metric's mean is there (built-in and custom), and for a gate each rule with its
stable id and interval, so CI can read a verdict without parsing a table.
"""

from __future__ import annotations

import json
from typing import Any

from ragwright.evals.api import Comparison
from ragwright.evals.results import EvalRun

__all__ = ["JSON_VERSION", "comparison_json", "exit_status", "print_json"]

JSON_VERSION = 1


def _run(run: EvalRun) -> dict[str, Any]:
    s = run.summary
    builtin = {
        "hallucination_rate": s.hallucination_rate,
        "mean_relevance": s.mean_relevance,
        "mean_correctness": s.mean_correctness,
        "recall_at_k": s.recall_at_k,
        "mrr": s.mrr,
        "answered_rate": s.answered_rate,
        "abstention_rate": s.abstention_rate,
        "p50_latency_ms": s.p50_latency_ms,
        "p95_latency_ms": s.p95_latency_ms,
        "p95_model_latency_ms": s.p95_model_latency_ms,
        "cost_usd": s.cost_usd,
        "total_tokens": s.total_tokens,
    }
    custom = {
        info.name: {
            **s.metrics[info.name].model_dump(),
            "kind": info.kind,
            "higher_is_better": info.higher_is_better,
            "uncalibrated_judge": info.uncalibrated_judge,
        }
        for info in run.custom_metrics
        if info.name in s.metrics
    }
    return {
        "prompt": run.prompt,
        "prompt_hash": run.prompt_hash,
        "run_id": run.run_id,
        "mlflow_run_id": run.mlflow_run_id,
        "golden_set": run.golden_set,
        "golden_set_hash": run.golden_set_hash,
        "cases": s.cases,
        "errors": s.errors,
        "judge_errors": s.judge_errors,
        "unparseable": s.unparseable,
        "chat_model": run.chat_model,
        "judge": run.judge,
        # the local judge's relevance is near-binary (1 or 5): a share, not a graded score
        "relevance_scale": "near-binary (1 or 5)" if run.judge_local else "1-5",
        "calibration": run.calibration,
        "judge_balanced_accuracy": run.judge_balanced_accuracy,
        "metrics": builtin,
        "custom_metrics": custom,
        # every metric, built-in and custom, through the one Metric interface
        "every_metric": {
            info.name: {
                **s.metrics[info.name].model_dump(),
                "kind": info.kind,
                "higher_is_better": info.higher_is_better,
            }
            for info in run.metrics
            if info.name in s.metrics
        },
        "monitor": run.monitor.model_dump() if run.monitor else None,
        "judge_monitor": run.judge_monitor.model_dump() if run.judge_monitor else None,
    }


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    """The summary as a JSON-ready dict (see docs/cli-eval.md for every key)."""
    gate = comparison.gate
    return {
        "version": JSON_VERSION,
        "verdict": gate.verdict if gate else None,
        "runs": [_run(run) for run in comparison.runs],
        "gate": None
        if gate is None
        else {
            "baseline": gate.baseline,
            "candidate": gate.candidate,
            "verdict": gate.verdict,
            "passed": gate.passed,
            "not_informative": gate.not_informative,
            "uncalibrated": gate.uncalibrated,
            "confidence": gate.confidence,
            "rules": [rule.model_dump() for rule in gate.rules],
        },
        "reports": [str(path) for path in comparison.reports],
    }


def print_json(comparison: Comparison) -> None:
    print(json.dumps(comparison_json(comparison), indent=2, allow_nan=False))


def exit_status(comparison: Comparison) -> int:
    """0 pass (or not gated), 1 fail, 3 not informative for this change."""
    gate = comparison.gate
    if gate is None or gate.verdict == "pass":
        return 0
    return 1 if gate.verdict == "fail" else 3
