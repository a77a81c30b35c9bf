"""Fitting ``local_weights.json``: features, the logistic fit, grouped cross-validation.

``python -m ragwright.evals.calibration fit --labels BEGIN.jsonl`` refits the
shipped coefficients. The fit and the folds are :mod:`ragwright.linear`, shared
with the prompt-injection detector; every threshold and coefficient quoted for
the judge is fitted on training folds only.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ragwright.evals.judges.local import (
    FEATURES,
    WEIGHTS_PATH,
    LocalJudge,
    LogisticWeights,
    content_word_share,
)
from ragwright.linear import fit_logistic as linear_fit
from ragwright.linear import grouped_folds, model_document, standardise
from ragwright.metrics import (  # the calibration report's metrics, shared with guardrails
    balanced_accuracy,
    binary_metrics,
    summarise,
)
from ragwright.text import words

if TYPE_CHECKING:
    pass

from ragwright.evals.calibration_labels import LabelledExample, Labels, load_labels

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


def folds(
    examples: Sequence[LabelledExample], *, k: int = 5, seed: int = 0
) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """Stratified (source x label) folds that keep rows sharing a context in one fold.

    BEGIN has up to four responses per dialogue turn; splitting them across
    folds would let the model see the test knowledge while training.
    """
    strata = [f"{e.source}:{int(e.hallucinated)}" for e in examples]
    groups = np.unique([e.group for e in examples], return_inverse=True)[1].reshape(-1)
    everything = np.arange(len(examples))
    return [
        (np.setdiff1d(everything, test), test)
        for test in grouped_folds(strata, groups.astype(np.intp), k=k, seed=seed)
    ]


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Test-fold metrics per method, and each row's out-of-fold prediction."""

    per_fold: dict[str, list[dict[str, float | None]]]
    predicted: dict[str, BoolArray]


Detector = Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp]], tuple[BoolArray, FloatArray]]


def cross_validate(
    judge: LocalJudge,
    examples: Sequence[LabelledExample],
    x: npt.NDArray[np.float64],
    *,
    k: int = 5,
    seed: int = 0,
    c: float = 1.0,
) -> CrossValidation:
    """Per-fold test metrics of the detector and the two one-feature baselines.

    Everything that is fitted (coefficients, baseline thresholds) is fitted on
    the training folds only; the test fold is scored once.
    """
    y = np.array([e.hallucinated for e in examples], dtype=bool)
    shares = np.array(
        [content_word_share(e.answer, "\n\n".join(e.contexts)) for e in examples], dtype=np.float64
    )
    lengths = answer_lengths(examples)

    def detector(
        train: npt.NDArray[np.intp], test: npt.NDArray[np.intp]
    ) -> tuple[BoolArray, FloatArray]:
        weights = weights_from_model(fit_logistic(x[train], y[train], c=c))
        scores = verdict_scores(judge, [examples[i] for i in test], weights)
        return scores >= weights.threshold, scores

    def content_words_baseline(
        train: npt.NDArray[np.intp], test: npt.NDArray[np.intp]
    ) -> tuple[BoolArray, FloatArray]:
        cut = best_threshold(shares[train], y[train], above=False)
        return shares[test] < cut, 1.0 - shares[test]

    def length_baseline(
        train: npt.NDArray[np.intp], test: npt.NDArray[np.intp]
    ) -> tuple[BoolArray, FloatArray]:
        up = best_threshold(lengths[train], y[train], above=True)
        down = best_threshold(lengths[train], y[train], above=False)
        if balanced_accuracy(y[train], lengths[train] >= up) >= balanced_accuracy(
            y[train], lengths[train] < down
        ):
            return lengths[test] >= up, lengths[test]
        return lengths[test] < down, -lengths[test]

    detectors: dict[str, Detector] = {
        "detector": detector,
        "content_word_baseline": content_words_baseline,
        "length_baseline": length_baseline,
    }
    result = CrossValidation(
        per_fold={name: [] for name in detectors},
        predicted={name: np.zeros(len(y), dtype=bool) for name in detectors},
    )
    for train, test in folds(examples, k=k, seed=seed):
        for name, run in detectors.items():
            predicted, scores = run(train, test)
            result.per_fold[name].append(binary_metrics(y[test], predicted, scores))
            result.predicted[name][test] = predicted
    return result


def weights_document(
    judge: LocalJudge, labels: Labels, *, k: int = 5, seed: int = 0, c: float = 1.0
) -> dict[str, Any]:
    """Fit on every row of ``labels``, cross-validate, and describe it all for the JSON file."""
    examples = labels.examples
    x = feature_matrix(judge, examples)
    y = np.array([e.hallucinated for e in examples], dtype=bool)
    cv = cross_validate(judge, examples, x, k=k, seed=seed, c=c)
    shares = np.array([content_word_share(e.answer, "\n\n".join(e.contexts)) for e in examples])
    return {
        "description": (
            "Coefficients of the local judge's hallucination model: logistic regression on "
            "standardised answer-level features (see FEATURES in evals/judges/local.py). "
            "Refit with: python -m ragwright.evals.calibration fit --labels <BEGIN dev JSONL>."
        ),
        "model": fit_logistic(x, y, c=c),
        "baselines": {
            "content_word_share": round(best_threshold(shares, y, above=False), 6),
        },
        "training": {
            "data": "BEGIN benchmark, dev split (human attribution labels), every row",
            "labels_file": labels.path.name,
            "labels_sha256": labels.sha256,
            "rows": len(examples),
            "hallucinated": int(y.sum()),
            "sources": sorted({e.source for e in examples}),
            "date": date.today().isoformat(),
            "fitter": f"ragwright.linear Newton L2 logistic regression (C={c}), balanced class "
            "weights, features standardised",
            "embedder": judge.embedder.name,
        },
        "cross_validation": {
            "scheme": (
                f"{k}-fold ragwright.linear.grouped_folds (strata: data_source x label; groups:"
                f" identical knowledge), seed {seed}; coefficients and baseline thresholds fitted"
                " on the training folds only; mean and sample sd over folds"
            ),
            **{name: summarise(per_fold) for name, per_fold in cv.per_fold.items()},
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ragwright.evals.calibration fit --labels BEGIN.jsonl [--out PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m ragwright.evals.calibration")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="refit local_weights.json on a labelled JSONL file")
    fit.add_argument("--labels", type=Path, required=True)
    fit.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    fit.add_argument("--folds", type=int, default=5)
    fit.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from ragwright.providers.local_embeddings import LocalEmbedder

    labels = load_labels(args.labels)
    # features do not depend on the coefficients: neutral ones let a first fit run
    # before any weights file exists
    neutral = neutral_weights()
    judge = LocalJudge(LocalEmbedder(batch_size=32), weights=neutral)
    document = weights_document(judge, labels, k=args.folds, seed=args.seed)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    detector = document["cross_validation"]["detector"]["balanced_accuracy"]
    baseline = document["cross_validation"]["content_word_baseline"]["balanced_accuracy"]
    print(
        f"wrote {args.out}: CV balanced accuracy {detector['mean']:.3f} ± {detector['sd']:.3f} "
        f"(content-word baseline {baseline['mean']:.3f} ± {baseline['sd']:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
