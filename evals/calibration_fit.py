"""Fitting the local judge: its feature matrix, the logistic fit, scores as at run time.

The fit is :mod:`ragwright.linear`, shared with the prompt-injection detector;
the validation that uses it is :mod:`.calibration_cv`, the committed file
:mod:`.calibration_weights`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ragwright.evals.calibration_labels import LabelledExample
from ragwright.evals.judges.local import (
    FEATURES,
    LocalJudge,
    LogisticWeights,
)
from ragwright.linear import fit_logistic as linear_fit
from ragwright.linear import model_document, standardise
from ragwright.metrics import (  # the calibration report's metrics, shared with guardrails
    balanced_accuracy,
)
from ragwright.text import words

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# -- metrics ----------------------------------------------------------------------------------


def best_threshold(values: npt.ArrayLike, y_true: npt.ArrayLike, *, above: bool) -> float:
    """The cut that maximises balanced accuracy on these rows (fit it on training rows only).

    ``above``: predict positive when value >= cut; otherwise when value < cut.
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(y_true, dtype=bool)
    candidates = np.unique(v)
    cuts = np.concatenate([candidates, [candidates[-1] + 1.0]]) if len(candidates) else [0.0]
    best, best_ba = float(cuts[0]), -1.0
    for cut in cuts:
        pred = v >= cut if above else v < cut
        ba = balanced_accuracy(t, pred)
        if ba > best_ba + 1e-12:
            best, best_ba = float(cut), ba
    return best


# -- fitting the local judge ------------------------------------------------------------------


def feature_matrix(
    judge: LocalJudge, examples: Sequence[LabelledExample]
) -> npt.NDArray[np.float64]:
    """Answer-level FEATURES of every example (the embeddings are prefetched in batches)."""
    judge.prefetch((e.answer, e.contexts) for e in examples)
    rows = [judge.analyse(e.answer, e.contexts).features for e in examples]
    return np.array([[row[f] for f in FEATURES] for row in rows], dtype=np.float64)


def fit_logistic(x: npt.NDArray[np.float64], y: npt.ArrayLike, *, c: float = 1.0) -> dict[str, Any]:
    """L2 logistic regression on standardised features, classes weighted to balance.

    Balanced class weights make 0.5 the threshold that maximises balanced
    accuracy whatever the share of hallucinations in the training set.

    ``entity_probability`` backs the judge's one rule (a claim naming a number
    or a name the context lacks is unsupported with this probability). It is
    estimated, not set: the likelihood ratio of such a gap between
    hallucinated and grounded training rows, Laplace-smoothed, under the same
    balanced prior as the regression.
    """
    truth = np.asarray(y, dtype=bool)
    gap = (x[:, FEATURES.index("missing_names")] > 0) | (
        x[:, FEATURES.index("missing_numbers")] > 0
    )
    rate_hallucinated = (np.sum(gap & truth) + 1) / (np.sum(truth) + 2)
    rate_grounded = (np.sum(gap & ~truth) + 1) / (np.sum(~truth) + 2)

    mean, scale = standardise(x)
    # the intercept is a constant column of 10: its penalty is 100 times weaker
    z = np.hstack([(x - mean) / scale, np.full((len(x), 1), 10.0)])
    w = linear_fit(z, truth, lam=1.0 / c)
    return model_document(
        FEATURES,
        mean,
        scale,
        w[:-1],
        10.0 * float(w[-1]),
        claim_min_content_words=3,
        entity_probability=round(float(rate_hallucinated / (rate_hallucinated + rate_grounded)), 6),
    )


def weights_from_model(model: dict[str, Any]) -> LogisticWeights:
    return LogisticWeights(
        features=tuple(model["features"]),
        mean=tuple(model["mean"]),
        scale=tuple(model["scale"]),
        coef=tuple(model["coef"]),
        intercept=float(model["intercept"]),
        threshold=float(model["threshold"]),
        claim_min_content_words=int(model["claim_min_content_words"]),
        entity_probability=float(model["entity_probability"]),
        sha256="",
        raw={"model": model},
    )


def neutral_weights() -> LogisticWeights:
    """Coefficients that score everything 0.5: enough to compute features before a fit."""
    return weights_from_model(
        {
            "features": list(FEATURES),
            "mean": [0.0] * len(FEATURES),
            "scale": [1.0] * len(FEATURES),
            "coef": [0.0] * len(FEATURES),
            "intercept": 0.0,
            "threshold": 0.5,
            "claim_min_content_words": 3,
            "entity_probability": 0.5,
        }
    )


def verdict_scores(
    judge: LocalJudge, examples: Sequence[LabelledExample], weights: LogisticWeights
) -> FloatArray:
    """The judge's hallucination scores with ``weights``, exactly as at run time."""
    fold_judge = judge.with_weights(weights)
    return np.array(
        [float(fold_judge.verdict(e.answer, e.contexts).score or 0.0) for e in examples],
        dtype=np.float64,
    )


def answer_lengths(examples: Sequence[LabelledExample]) -> FloatArray:
    return np.array([len(words(e.answer)) for e in examples], dtype=np.float64)
