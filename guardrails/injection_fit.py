"""Fitting and cross-validating the prompt-injection detector (numpy only).

    python -m ragwright.guardrails.injection_fit --labels prompt_injection_dev.jsonl [--write]

The labelled set is small (a few hundred rows), so every number quoted for the
detector comes from grouped, stratified k-fold cross-validation repeated over
seeds, never from the in-sample fit. Rows that share text are kept in one fold:
the deepset data builds many injections by appending an attack to a benign
question that is itself a row ("Is X unfair? Ignore all previous
instructions..."), and splitting those would let the model see the test text.

Inside each training set, the regularisation strength and the threshold are
chosen by an inner grouped CV (out-of-fold scores), so the outer test fold is
scored once, by a model that never saw it. The shipped weights are fitted on
every row the same way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.errors import InputFileError
from ragwright.guardrails.injection import (
    DENSE_FEATURES,
    WEIGHTS_PATH,
    InjectionWeights,
    TextFeatures,
    text_features,
)
from ragwright.guardrails.injection_cv import (
    BoolArray,
    FloatArray,
    IndexArray,
    folds,
    near_duplicate_groups,
)
from ragwright.jsonl import read_jsonl
from ragwright.linear import fit_logistic as linear_fit
from ragwright.linear import model_document, standardise
from ragwright.metrics import binary_metrics, summarise

__all__ = [
    "BASELINE",
    "BUCKETS",
    "C_GRID",
    "HASHED_VALUE",
    "METHODS",
    "Dataset",
    "FittedDetector",
    "cross_validate",
    "fit_detector",
    "fit_logistic",
    "folds",
    "load_dataset",
    "main",
    "near_duplicate_groups",
    "weights_document",
]

METHODS = ("keyword 'ignore' (baseline)", "cue patterns alone", "learned detector")
BASELINE = re.compile(r"\bignor", re.IGNORECASE)
"""The trivial baseline: the text contains "ignore" (or German "ignorieren")."""
BUCKETS = 256
HASHED_VALUE = 0.3
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)


@dataclass(frozen=True, slots=True)
class Dataset:
    """Labelled texts with their features (computed once) and near-duplicate groups."""

    path: Path
    sha256: str
    texts: list[str]
    labels: BoolArray
    features: list[TextFeatures]
    groups: IndexArray


def load_dataset(path: Path, buckets: int = BUCKETS) -> Dataset:
    """Rows ``{"text": str, "label": 0|1}``; a bad row raises InputFileError naming its line."""
    jsonl = read_jsonl(path, what="prompt-injection labels")
    texts: list[str] = []
    labels: list[bool] = []
    for number, record in jsonl.records():
        text, label = record.get("text"), record.get("label")
        if not isinstance(text, str):
            raise InputFileError("must be a string", path=path, line=number, field="text")
        if label not in (0, 1) or isinstance(label, float):
            raise InputFileError("must be 0 or 1", path=path, line=number, field="label")
        texts.append(text)
        labels.append(bool(label))
    if not texts or all(labels) or not any(labels):
        raise InputFileError("needs rows of both labels", path=path)
    return Dataset(
        path=path,
        sha256=hashlib.sha256(jsonl.data).hexdigest(),
        texts=texts,
        labels=np.array(labels, dtype=bool),
        features=[text_features(t, buckets) for t in texts],
        groups=near_duplicate_groups(texts),
    )


def _matrix(features: Sequence[TextFeatures], buckets: int) -> FloatArray:
    x = np.zeros((len(features), len(DENSE_FEATURES) + buckets))
    for i, f in enumerate(features):
        x[i, : len(DENSE_FEATURES)] = f.dense
        x[i, [len(DENSE_FEATURES) + b for b in f.buckets]] = 1.0
    return x


def fit_logistic(x: FloatArray, y: BoolArray, *, c: float, buckets: int) -> dict[str, Any]:
    """L2 logistic regression, classes weighted to balance.

    Dense features are standardised. Hashed n-gram indicators are not (a rare
    n-gram would become a huge value and dominate): they enter as 0 or
    HASHED_VALUE, which penalises them about 11 times more than a standardised
    feature, so the cue and style features lead and the n-grams only adjust.
    Newton's method; each step is solved through the Woodbury identity in the
    n x n space, since there are more columns than rows. The intercept is a
    constant column of 10, so its penalty is 100 times weaker.
    """
    d = len(DENSE_FEATURES)
    mean, scale = standardise(x[:, :d])
    z = np.hstack([(x[:, :d] - mean) / scale, HASHED_VALUE * x[:, d:], np.full((len(x), 1), 10.0)])
    w = linear_fit(z, y, lam=1.0 / c, dual=True)
    hashed = HASHED_VALUE * w[d:-1]
    return model_document(
        DENSE_FEATURES,
        mean,
        scale,
        w[:d],
        10.0 * float(w[-1]),
        buckets=buckets,
        bucket_coef={str(b): round(float(v), 6) for b, v in enumerate(hashed) if v != 0},
    )


def _scores(model: dict[str, Any], features: Sequence[TextFeatures]) -> FloatArray:
    weights = InjectionWeights.from_model(model)  # exactly the run-time scoring path
    return np.array([weights.probability(f) for f in features])


def _best_threshold(scores: FloatArray, y: BoolArray) -> float:
    """The cut maximising balanced accuracy; the middle of the best range when tied."""
    values = np.unique(scores)
    cuts = np.concatenate([[values[0] - 1e-9], (values[1:] + values[:-1]) / 2])
    flagged = scores[None, :] >= cuts[:, None]
    quality = (flagged[:, y].mean(axis=1) + (~flagged[:, ~y]).mean(axis=1)) / 2
    best = cuts[np.isclose(quality, max(quality))]
    return float(np.clip((best.min() + best.max()) / 2, 0.0, 1.0))


@dataclass(frozen=True, slots=True)
class FittedDetector:
    """A ``model`` section for the weights file and the C the inner CV chose for it."""

    model: dict[str, Any]
    c: float


def fit_detector(
    data: Dataset, rows: IndexArray, *, seed: int = 0, k: int = 5, buckets: int = BUCKETS
) -> FittedDetector:
    """Fit on ``rows``: C and the threshold from inner grouped CV, then a fit on all ``rows``.

    C minimises the out-of-fold log loss (classes weighted equally); the
    threshold is the best out-of-fold balanced accuracy cut for that C.
    """
    x = _matrix([data.features[i] for i in rows], buckets)
    y = data.labels[rows]
    inner = folds(y, data.groups[rows], k=k, seed=seed + 1000)
    best = (np.inf, C_GRID[0], 0.5)  # (log loss, C, threshold)
    for c in C_GRID:
        oof = np.zeros(len(rows))
        for test in inner:
            train = np.setdiff1d(np.arange(len(rows)), test)
            model = fit_logistic(x[train], y[train], c=c, buckets=buckets)
            oof[test] = _scores(model, [data.features[rows[i]] for i in test])
        p = np.clip(oof, 1e-6, 1 - 1e-6)
        loss = -(np.mean(np.log(p[y])) + np.mean(np.log(1 - p[~y]))) / 2
        if loss < best[0]:
            best = (float(loss), c, _best_threshold(oof, y))
    model = fit_logistic(x, y, c=best[1], buckets=buckets)
    model["threshold"] = round(best[2], 6)
    return FittedDetector(model, best[1])


# -- cross-validation -------------------------------------------------------------------------

Method = Callable[[IndexArray, IndexArray, int], tuple[BoolArray, FloatArray]]


def cross_validate(
    data: Dataset, *, k: int = 5, seeds: Sequence[int] = (0, 1, 2)
) -> dict[str, list[dict[str, float | None]]]:
    """Test-fold metrics of each of METHODS, for every fold of every seed."""

    def keyword(_train: IndexArray, test: IndexArray, _seed: int) -> tuple[BoolArray, FloatArray]:
        hit = np.array([BASELINE.search(data.texts[i]) is not None for i in test])
        return hit, hit.astype(np.float64)

    def cues(_train: IndexArray, test: IndexArray, _seed: int) -> tuple[BoolArray, FloatArray]:
        count = np.array([sum(map(len, data.features[i].cues.values())) for i in test], float)
        return count > 0, count

    def learned(train: IndexArray, test: IndexArray, seed: int) -> tuple[BoolArray, FloatArray]:
        fitted = fit_detector(data, train, seed=seed, k=k)
        scores = _scores(fitted.model, [data.features[i] for i in test])
        return scores >= fitted.model["threshold"], scores

    methods: dict[str, Method] = dict(zip(METHODS, (keyword, cues, learned), strict=True))
    result: dict[str, list[dict[str, float | None]]] = {name: [] for name in METHODS}
    everything = np.arange(len(data.texts))
    for seed in seeds:
        for test in folds(data.labels, data.groups, k=k, seed=seed):
            train = np.setdiff1d(everything, test)
            for name, run in methods.items():
                predicted, scores = run(train, test, seed)
                result[name].append(binary_metrics(data.labels[test], predicted, scores))
    return result


def weights_document(
    data: Dataset, *, k: int = 5, seeds: Sequence[int] = (0, 1, 2)
) -> dict[str, Any]:
    """Fit on every row, cross-validate, and describe both for ``injection_weights.json``."""
    fitted = fit_detector(data, np.arange(len(data.texts)), seed=0, k=k)
    cv = cross_validate(data, k=k, seeds=seeds)
    return {
        "description": (
            "Coefficients of the prompt-injection detector (guardrails/injection.py): L2 "
            "logistic regression on standardised DENSE_FEATURES plus hashed word uni/bigram "
            f"indicators (valued {HASHED_VALUE} while fitting; bucket_coef includes that factor). "
            "Refit with: python -m ragwright.guardrails.injection_fit --labels <JSONL> --write"
        ),
        "model": fitted.model,
        "training": {
            "data": "deepset/prompt-injections (English and German), dev rows, every row",
            "labels_file": data.path.name,
            "labels_sha256": data.sha256,
            "rows": len(data.texts),
            "injections": int(data.labels.sum()),
            "near_duplicate_groups": len(np.unique(data.groups)),
            "date": date.today().isoformat(),
            "fitter": f"numpy Newton L2 logistic regression, balanced class weights, C={fitted.c} "
            f"chosen from {list(C_GRID)} by inner {k}-fold grouped CV (balanced log loss); "
            "threshold: best out-of-fold balanced accuracy",
        },
        "cross_validation": {
            "scheme": f"{k}-fold stratified, near-duplicate rows grouped, seeds {list(seeds)}; "
            "C and threshold chosen inside each training set; mean and sample sd over all folds",
            **{name: summarise(per_fold) for name, per_fold in cv.items()},
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ragwright.guardrails.injection_fit")
    parser.add_argument("--labels", type=Path, required=True, help="JSONL rows {text, label}")
    parser.add_argument("--write", action="store_true", help=f"rewrite {WEIGHTS_PATH.name}")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    document = weights_document(load_dataset(args.labels), k=args.folds)
    for name in METHODS:
        ba = document["cross_validation"][name]["balanced_accuracy"]
        print(f"{name:28s} CV balanced accuracy {ba['mean']:.3f} ± {ba['sd']:.3f}")
    if args.write:
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print("(dry run: pass --write to rewrite the weights file)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
