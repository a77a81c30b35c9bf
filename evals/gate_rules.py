"""The gate's rule record and the rules that are not paired means: floors, cost, latency.

:func:`paired_bootstrap_ci` is the interval every non-inferiority rule reads;
:mod:`ragwright.evals.gate` combines the rules into a verdict.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from ragwright.evals.results import CaseResult, EvalRun, MetricInfo
from ragwright.settings import GateSettings

__all__ = [
    "RuleResult",
    "cost_and_latency_rules",
    "floor_rule",
    "margin_rule",
    "paired_bootstrap_ci",
]


class RuleResult(BaseModel):
    id: str = ""  # stable, e.g. metric:hallucination:margin; ``rule`` is the sentence
    rule: str
    passed: bool
    candidate: float
    baseline: float | None = None
    delta: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    threshold: float
    explanation: str


def paired_bootstrap_ci(
    differences: np.ndarray, *, samples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of paired differences (deterministic per seed)."""
    if differences.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, differences.size, size=(samples, differences.size))
    means = differences[picks].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def floor_rule(info: MetricInfo, candidate: EvalRun) -> RuleResult:
    """The candidate's mean may not be on the wrong side of the metric's floor."""
    assert info.floor is not None
    summary = candidate.summary.metrics.get(info.name)
    mean = summary.mean if summary is not None else None
    value = mean if mean is not None else info.worst
    passed = value >= info.floor if info.higher_is_better else value <= info.floor
    sign = ">=" if info.higher_is_better else "<="
    return RuleResult(
        id=f"metric:{info.name}:floor",
        rule=f"{info.mean_label or info.label or info.name} {sign} floor",
        passed=passed,
        candidate=value,
        threshold=info.floor,
        explanation=f"candidate mean {value:.3f} {sign} {info.floor:g} ({info.kind} metric;"
        " unscored cases count as the worst value)",
    )


def margin_rule(
    info: MetricInfo, pairs: list[tuple[CaseResult, CaseResult]], config: GateSettings
) -> RuleResult | None:
    """Non-inferiority on the paired per-case values: None when no case has both."""
    assert info.margin is not None
    usable = [(info.value(b), info.value(c)) for b, c in pairs]
    kept = [(b, c) for b, c in usable if b is not None and c is not None]
    if not kept:
        return None
    base = np.array([b for b, _ in kept], dtype=float)
    cand = np.array([c for _, c in kept], dtype=float)
    diff = cand - base
    low, high = paired_bootstrap_ci(
        diff, samples=config.bootstrap_samples, confidence=config.confidence, seed=config.seed
    )
    worst = low if info.higher_is_better else high
    passed = worst >= -info.margin if info.higher_is_better else worst <= info.margin
    direction = "drop" if info.higher_is_better else "rise"
    return RuleResult(
        id=f"metric:{info.name}:margin",
        rule=f"{info.label or info.name}: no {direction} beyond margin",
        passed=passed,
        candidate=float(cand.mean()),
        baseline=float(base.mean()),
        delta=float(diff.mean()),
        ci_low=low,
        ci_high=high,
        threshold=info.margin,
        explanation=(
            f"paired difference over {len(kept)} cases; worst end of the"
            f" {config.confidence:.0%} CI is {worst:+.3f}"
        ),
    )


def _latencies(pairs: list[tuple[CaseResult, CaseResult]]) -> tuple[list[tuple[float, float]], str]:
    """Paired latencies of the cases both sides answered: the model call's when every such
    case timed it (evaluations since model calls are timed), else the chain's."""
    answered = [(b, c) for b, c in pairs if not (b.error or c.error)]
    model = [(b.model_latency_ms, c.model_latency_ms) for b, c in answered]
    if answered and all(b is not None and c is not None for b, c in model):
        return [(float(b or 0.0), float(c or 0.0)) for b, c in model], "model call"
    return [(b.latency_ms, c.latency_ms) for b, c in answered], "chain"


def cost_and_latency_rules(
    pairs: list[tuple[CaseResult, CaseResult]], config: GateSettings, *, latency: bool = True
) -> list[RuleResult]:
    """Cost per case (paired) and p95 latency may not rise beyond their relative margins."""
    rules: list[RuleResult] = []
    priced = [
        (b.cost_usd, c.cost_usd)
        for b, c in pairs
        if b.cost_usd is not None and c.cost_usd is not None
    ]
    base_cost = float(np.mean([b for b, _ in priced])) if priced else 0.0
    if priced and base_cost > 0:
        diff = np.array([c - b for b, c in priced])
        low, high = paired_bootstrap_ci(
            diff, samples=config.bootstrap_samples, confidence=config.confidence, seed=config.seed
        )
        allowed = config.cost_margin * base_cost
        rules.append(
            RuleResult(
                id="metric:cost:margin",
                rule="cost per case: no rise beyond margin",
                passed=high <= allowed,
                candidate=base_cost + float(diff.mean()),
                baseline=base_cost,
                delta=float(diff.mean()),
                ci_low=low,
                ci_high=high,
                threshold=allowed,
                explanation=(
                    f"USD per case over {len(priced)} priced cases; worst end {high:+.6f}"
                    f" vs allowed +{allowed:.6f} ({config.cost_margin:.0%})"
                ),
            )
        )
    timed, measure = _latencies(pairs)
    if latency and len(timed) >= 2:
        base = np.array([b for b, _ in timed])
        cand = np.array([c for _, c in timed])
        rng = np.random.default_rng(config.seed)
        picks = rng.integers(0, len(timed), size=(config.bootstrap_samples, len(timed)))
        rises = np.quantile(cand[picks], 0.95, axis=1) - np.quantile(base[picks], 0.95, axis=1)
        alpha = (1.0 - config.confidence) / 2
        low, high = float(np.quantile(rises, alpha)), float(np.quantile(rises, 1 - alpha))
        base_p95 = float(np.quantile(base, 0.95))
        allowed = max(config.latency_margin * base_p95, config.latency_slack_ms)
        rules.append(
            RuleResult(
                id="metric:latency:margin",
                rule="p95 latency: no rise beyond margin",
                passed=high <= allowed,
                candidate=float(np.quantile(cand, 0.95)),
                baseline=base_p95,
                delta=float(np.quantile(cand, 0.95)) - base_p95,
                ci_low=low,
                ci_high=high,
                threshold=allowed,
                explanation=(
                    f"{measure} p95 ms, paired bootstrap; worst end {high:+.0f} ms vs allowed"
                    f" +{allowed:.0f} ms ({config.latency_margin:.0%} or"
                    f" {config.latency_slack_ms:.0f} ms)"
                ),
            )
        )
    return rules
