"""The quality gate: is the candidate measurably not worse than the baseline?

Both runs must cover the same cases of the same golden set, so each case gives
a paired difference (candidate - baseline). A paired bootstrap resamples cases
to get a confidence interval for the mean difference; a non-inferiority rule
fails when the *worst* end of the interval crosses the margin. "We could not
see a difference" is therefore not enough to pass: the data must show that any
regression is smaller than the margin. Absolute floors apply to the candidate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ragwright.errors import UserError
from ragwright.evals.gate_rules import (
    RuleResult,
    cost_and_latency_rules,
    floor_rule,
    margin_rule,
    paired_bootstrap_ci,
)
from ragwright.evals.results import CaseResult, EvalRun, MetricInfo
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


def builtin_gate(info: MetricInfo, config: GateSettings) -> MetricInfo:
    """A built-in metric with its floor and margin from ``[gate]`` (custom ones carry theirs)."""
    floors = {"hallucination": config.hallucination_rate_max, "relevance": config.relevance_min}
    margins = {
        "hallucination": config.hallucination_margin,
        "relevance": config.relevance_margin,
        "recall_at_k": config.recall_margin,
        "correctness": config.correctness_margin,
    }
    if not info.builtin:
        return info
    return info.model_copy(
        update={"floor": floors.get(info.name), "margin": margins.get(info.name)}
    )


_RELATIVE = frozenset({"cost", "latency"})  # relative margins: gate_rules.cost_and_latency_rules


def evaluate_gate(baseline: EvalRun, candidate: EvalRun, config: GateSettings) -> GateResult:
    pairs = _paired(baseline, candidate)
    gated = [
        builtin_gate(info, config)
        for info in candidate.metrics
        if info.gate and info.name not in _RELATIVE
    ]
    # the built-ins' floors first, then their margins, then each custom metric's pair
    builtin = [info for info in gated if info.builtin]
    order = [(info, "floor") for info in builtin] + [(info, "margin") for info in builtin]
    order += [(info, rule) for info in gated if not info.builtin for rule in ("floor", "margin")]
    rules: list[RuleResult] = []
    for info, kind in order:
        if kind == "floor" and info.floor is not None:
            rules.append(floor_rule(info, candidate))
        elif kind == "margin" and info.margin is not None:
            rule = margin_rule(info, pairs, config)
            if rule is not None:
                rules.append(rule)
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
        _regressions(pairs, [m for m in candidate.metrics if m.name not in _RELATIVE]),
        key=lambda r: -abs(r.candidate - r.baseline),
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
