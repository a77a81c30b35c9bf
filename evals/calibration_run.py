"""Calibration runs: score a judge on labelled rows and compare with the labels.

Judge failures are never dropped: a verdict whose outcome is not ``ok`` counts
as an error, is reported with its line number, and the metrics say over how
many rows they were computed. Also the constructed negatives that check the
local relevance score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ragwright.evals.judges.base import HallucinationVerdict, Judge
from ragwright.evals.judges.local import (
    content_word_share,
    default_weights,
)
from ragwright.metrics import (  # the calibration report's metrics, shared with guardrails
    binary_metrics,
)
from ragwright.providers.limits import request_slots

if TYPE_CHECKING:
    pass

from ragwright.evals.calibration_labels import LabelledExample, Labels

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# -- calibration runs and records -------------------------------------------------------------


async def judge_examples(
    judge: Judge, examples: Sequence[LabelledExample], *, concurrency: int = 8
) -> list[HallucinationVerdict]:
    """One verdict per example, in order; an exception becomes an ``error`` verdict.

    ``concurrency`` bounds the judge's requests in flight (see
    :mod:`ragwright.providers.limits`); twice as many examples are open so that
    preparing the next ones overlaps the requests.
    """
    semaphore = asyncio.Semaphore(2 * concurrency)

    async def one(example: LabelledExample) -> HallucinationVerdict:
        async with semaphore:
            try:
                return await judge.hallucination(
                    example.question, example.answer, list(example.contexts)
                )
            except Exception as exc:  # a failed judgement is counted, not dropped
                return HallucinationVerdict(
                    None, None, outcome="error", detail=f"{type(exc).__name__}: {exc}"
                )

    with request_slots(concurrency):
        return list(await asyncio.gather(*(one(e) for e in examples)))


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    n: int
    judged: int
    errors: int
    error_lines: list[int]
    positives: int
    metrics: dict[str, float | None]
    baseline_threshold: float
    baseline_metrics: dict[str, float | None]
    # The score cut that maximises balanced accuracy on these labels, and the metrics
    # there (in-sample: optimistic). ``eval calibrate --write`` makes the local judge
    # use it, so a threshold learned on dialogue does not silently gate another domain.
    fitted_threshold: float | None = None
    fitted_metrics: dict[str, float | None] | None = None


def run_calibration(
    judge: Judge,
    labels: Labels,
    *,
    baseline_threshold: float | None = None,
    concurrency: int = 8,
) -> CalibrationResult:
    """Judge every labelled example and compare with the human labels.

    Metrics are computed over the examples the judge scored; the rest are
    reported as errors (with line numbers). The content-word baseline (flag an
    answer when fewer than ``baseline_threshold`` of its content words occur in
    the context) is computed on the same rows, so the judge is always read
    beside the simplest detector that could replace it.
    """
    examples = labels.examples
    prefetch = getattr(judge, "prefetch", None)
    if callable(prefetch):
        prefetch((e.answer, e.contexts) for e in examples)
    verdicts = asyncio.run(judge_examples(judge, examples, concurrency=concurrency))
    ok, failed = [], []
    for example, verdict in zip(examples, verdicts, strict=True):
        if verdict.outcome == "ok" and verdict.hallucinated is not None:
            ok.append((example, verdict))
        else:
            failed.append(example.line)
    truth = [e.hallucinated for e, _ in ok]
    predicted = [bool(v.hallucinated) for _, v in ok]
    scores = [float(v.score) if v.score is not None else float(bool(v.hallucinated)) for _, v in ok]
    if baseline_threshold is None:
        baseline_threshold = float(default_weights().raw["baselines"]["content_word_share"])
    shares = np.array([content_word_share(e.answer, "\n\n".join(e.contexts)) for e in examples])
    fitted: float | None = None
    if len(set(truth)) == 2:
        from ragwright.evals.calibration_fit import best_threshold

        fitted = round(best_threshold(scores, truth, above=True), 6)
    return CalibrationResult(
        fitted_threshold=fitted,
        fitted_metrics=None
        if fitted is None
        else binary_metrics(truth, [v >= fitted for v in scores], scores),
        n=len(examples),
        judged=len(ok),
        errors=len(failed),
        error_lines=failed,
        positives=sum(e.hallucinated for e in examples),
        metrics=binary_metrics(truth, predicted, scores),
        baseline_threshold=baseline_threshold,
        baseline_metrics=binary_metrics(
            [e.hallucinated for e in examples], shares < baseline_threshold, 1.0 - shares
        ),
    )


# -- relevance: constructed negatives ---------------------------------------------------------


def constructed_relevance_pairs(
    pairs: Sequence[tuple[str, str]], *, seed: int = 0
) -> list[tuple[str, str, str]]:
    """Each true (question, answer) plus the answer paired with another question.

    Returns ``(question, answer, label)`` with label ``"true"`` or
    ``"constructed"``; the shuffle is a derangement (no answer keeps its own
    question), fixed by ``seed``.
    """
    n = len(pairs)
    if n < 2:
        raise ValueError("need at least two pairs to construct negatives")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    shift = np.roll(order, 1)  # question i gets the answer of the previous element in a cycle
    mapping = dict(zip(order.tolist(), shift.tolist(), strict=True))
    result = [(q, a, "true") for q, a in pairs]
    result += [(pairs[i][0], pairs[mapping[i]][1], "constructed") for i in range(n)]
    return result
