"""The quality gate: is the candidate measurably not worse than the baseline?

Both runs must cover the same cases of the same golden set, so each case gives
a paired difference (candidate - baseline). A paired bootstrap resamples cases
to get a confidence interval for the mean difference; a non-inferiority rule
fails when the *worst* end of the interval crosses the margin. "We could not
see a difference" is therefore not enough to pass: the data must show that any
regression is smaller than the margin. Absolute floors apply to the candidate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel

from ragwright.errors import UserError
from ragwright.evals.gate_rules import (
    RuleResult,
    cost_and_latency_rules,
    floor_rule,
    paired_bootstrap_ci,
)
from ragwright.evals.results import (
    CaseResult,
    EvalRun,
    MetricInfo,
    correctness_value,
    hallucination_value,
    relevance_value,
)
from ragwright.settings import GateSettings

__all__ = [
    "NOT_INFORMATIVE_EXIT",
    "GateResult",
    "RuleResult",
    "Verdict",
    "evaluate_gate",
    "paired_bootstrap_ci",
]

Verdict = Literal["pass", "fail", "not_informative"]
NOT_INFORMATIVE_EXIT = 3
"""Exit code of a gate that could not see the change (0 pass, 1 fail, 2 usage error)."""


class RegressedCase(BaseModel):
    case_id: str
    question: str
    metric: str
    baseline: float
    candidate: float


class GateResult(BaseModel):
    candidate: str
    baseline: str
    passed: bool  # every rule passed
    verdict: Verdict = "pass"  # not_informative replaces a pass the rules could not earn
    not_informative: str | None = None  # why the gate could not see the change
    uncalibrated: list[str] = []  # LLM-judged metrics nobody measured against labels
    rules: list[RuleResult]
    regressions: list[RegressedCase]
    confidence: float
    bootstrap_samples: int


def _paired(baseline: EvalRun, candidate: EvalRun) -> list[tuple[CaseResult, CaseResult]]:
    if baseline.golden_set_hash != candidate.golden_set_hash:
        raise UserError(
            f"cannot compare runs on different golden sets ({baseline.golden_set}"
            f" {baseline.golden_set_hash[:15]} vs {candidate.golden_set}"
            f" {candidate.golden_set_hash[:15]}); re-run both on the same file"
        )
    base_by_id = {c.case_id: c for c in baseline.cases}
    return [(base_by_id[c.case_id], c) for c in candidate.cases if c.case_id in base_by_id]


def evaluate_gate(baseline: EvalRun, candidate: EvalRun, config: GateSettings) -> GateResult:
    pairs = _paired(baseline, candidate)
    cs = candidate.summary
    rules = [
        RuleResult(
            id="metric:hallucination:floor",
            rule="hallucination rate <= floor",
            passed=cs.hallucination_rate <= config.hallucination_rate_max,
            candidate=cs.hallucination_rate,
            threshold=config.hallucination_rate_max,
            explanation="share of cases judged hallucinated (errors count as hallucinated)",
        ),
        RuleResult(
            id="metric:relevance:floor",
            rule="mean relevance >= floor",
            passed=cs.mean_relevance >= config.relevance_min,
            candidate=cs.mean_relevance,
            threshold=config.relevance_min,
            explanation="mean judge relevance on a 1-5 scale (errors count as 1)",
        ),
    ]

    def non_inferiority(
        name: str,
        value: Callable[[CaseResult], float | None],
        margin: float,
        higher_is_better: bool,
        rule_id: str,
    ) -> None:
        usable = [(value(b), value(c)) for b, c in pairs]
        kept = [(b, c) for b, c in usable if b is not None and c is not None]
        if not kept:
            return
        base = np.array([b for b, _ in kept], dtype=float)
        cand = np.array([c for _, c in kept], dtype=float)
        diff = cand - base
        low, high = paired_bootstrap_ci(
            diff, samples=config.bootstrap_samples, confidence=config.confidence, seed=config.seed
        )
        worst = low if higher_is_better else high
        passed = worst >= -margin if higher_is_better else worst <= margin
        direction = "drop" if higher_is_better else "rise"
        rules.append(
            RuleResult(
                id=rule_id,
                rule=f"{name}: no {direction} beyond margin",
                passed=passed,
                candidate=float(cand.mean()),
                baseline=float(base.mean()),
                delta=float(diff.mean()),
                ci_low=low,
                ci_high=high,
                threshold=margin,
                explanation=(
                    f"paired difference over {len(kept)} cases; worst end of the"
                    f" {config.confidence:.0%} CI is {worst:+.3f}"
                ),
            )
        )

    non_inferiority(
        "hallucination",
        hallucination_value,
        config.hallucination_margin,
        False,
        "metric:hallucination:margin",
    )
    non_inferiority(
        "relevance", relevance_value, config.relevance_margin, True, "metric:relevance:margin"
    )
    non_inferiority(
        "recall@k", lambda c: c.recall_at_k, config.recall_margin, True, "metric:recall_at_k:margin"
    )
    non_inferiority(
        "answer correctness",
        correctness_value,
        config.correctness_margin,
        True,
        "metric:correctness:margin",
    )
    for info in candidate.metrics:
        if not info.gate:
            continue
        if info.floor is not None:
            rules.append(floor_rule(info, candidate))
        if info.margin is not None:
            non_inferiority(
                info.name,
                info.value,
                info.margin,
                info.higher_is_better,
                f"metric:{info.name}:margin",
            )
    latency = config.latency_rule == "on" or (
        config.latency_rule == "auto" and not candidate.chat_model_local
    )
    rules.extend(cost_and_latency_rules(pairs, config, latency=latency))
    if config.min_judge_balanced_accuracy is not None:
        measured = candidate.judge_balanced_accuracy
        rules.append(
            RuleResult(
                id="judge:calibrated",
                rule="judge calibrated",
                passed=measured is not None and measured >= config.min_judge_balanced_accuracy,
                candidate=measured if measured is not None else 0.0,
                threshold=config.min_judge_balanced_accuracy,
                explanation=(
                    f"balanced accuracy of {candidate.judge} in {candidate.calibration}"
                    if measured is not None
                    else f"no calibration record for {candidate.judge}: run `ragwright eval"
                    " calibrate --labels FILE --write`; an uncalibrated judge cannot gate"
                ),
            )
        )

    regressions = sorted(
        _regressions(pairs, candidate.metrics), key=lambda r: -abs(r.candidate - r.baseline)
    )[:10]
    passed = all(rule.passed for rule in rules)
    blind = _not_informative(baseline, candidate, pairs)
    return GateResult(
        candidate=candidate.prompt,
        baseline=baseline.prompt,
        passed=passed,
        verdict="fail" if not passed else ("not_informative" if blind else "pass"),
        not_informative=blind,
        uncalibrated=[m.name for m in candidate.metrics if m.uncalibrated_judge],
        rules=rules,
        regressions=regressions,
        confidence=config.confidence,
        bootstrap_samples=config.bootstrap_samples,
    )


def _not_informative(
    baseline: EvalRun, candidate: EvalRun, pairs: list[tuple[CaseResult, CaseResult]]
) -> str | None:
    """Why the gate cannot see this change, or None when it can.

    A chat model that ignores the prompt's wording (``local/extractive``) answers a
    wording-only change exactly as before: every rule then "passes" on identical
    answers, which says nothing about the change. Changes it can read (fewer
    sources shown, a smaller ``max_tokens``) alter its answers and are gated.
    """
    if candidate.chat_model_reads_wording or baseline.prompt_hash == candidate.prompt_hash:
        return None
    if any(b.error or c.error or b.answer != c.answer for b, c in pairs):
        return None
    return (
        f"{candidate.chat_model} does not read prompt wording and gave the same answer on"
        f" all {len(pairs)} cases: this change did not reach the model. Gate it with an"
        " endpoint model (chat_model) to measure it"
    )


def _regressions(
    pairs: list[tuple[CaseResult, CaseResult]], metrics: list[MetricInfo]
) -> list[RegressedCase]:
    """Cases the candidate does worse on, per metric (custom ones included)."""
    found = []
    for b, c in pairs:
        checks = [  # (metric, baseline, candidate, sign: +1 higher is better)
            ("hallucination", hallucination_value(b), hallucination_value(c), -1),
            ("relevance", relevance_value(b), relevance_value(c), 1),
            ("correctness", correctness_value(b), correctness_value(c), 1),
        ]
        checks += [
            (m.name, m.value(b), m.value(c), 1 if m.higher_is_better else -1) for m in metrics
        ]
        for metric, bv, cv, sign in checks:
            if bv is not None and cv is not None and sign * (cv - bv) < 0:
                found.append(
                    RegressedCase(
                        case_id=c.case_id,
                        question=c.question,
                        metric=metric,
                        baseline=bv,
                        candidate=cv,
                    )
                )
    return found
