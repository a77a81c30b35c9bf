"""Agreement metrics of a binary detector with human labels, and their summary over folds.

Judges and guardrails are both calibrated against labelled data and reported
the same way, so the definitions live here once: numpy only, never NaN (a
metric that is undefined for the data is 0 or ``None``, as each docstring says).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS",
    "METRIC_LABELS",
    "accuracy",
    "auroc",
    "balanced_accuracy",
    "binary_metrics",
    "cohen_kappa",
    "f1",
    "precision",
    "recall",
    "summarise",
]

METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auroc", "kappa")
METRIC_LABELS = {  # short column headings for tables
    "accuracy": "acc",
    "balanced_accuracy": "bal.acc",
    "precision": "prec",
    "recall": "recall",
    "f1": "F1",
    "auroc": "AUROC",
    "kappa": "kappa",
}

BoolArray = npt.NDArray[np.bool_]


def _arrays(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[BoolArray, BoolArray]:
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape:
        raise ValueError(f"labels and predictions differ in length: {t.shape} vs {p.shape}")
    return t, p


def _confusion(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> tuple[int, int, int, int]:
    t, p = _arrays(y_true, y_pred)
    return (
        int(np.sum(t & p)),  # true positives
        int(np.sum(~t & p)),  # false positives
        int(np.sum(t & ~p)),  # false negatives
        int(np.sum(~t & ~p)),  # true negatives
    )


def accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    return (tp + tn) / max(1, tp + fp + fn + tn)


def recall(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Of the answers people flag, the share the judge flags (0 when people flag none)."""
    tp, _, fn, _ = _confusion(y_true, y_pred)
    return tp / (tp + fn) if tp + fn else 0.0


def precision(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Of the answers the judge flags, the share people flag (0 when it flags none)."""
    tp, fp, _, _ = _confusion(y_true, y_pred)
    return tp / (tp + fp) if tp + fp else 0.0


def f1(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    p, r = precision(y_true, y_pred), recall(y_true, y_pred)
    return 2 * p * r / (p + r) if p + r else 0.0


def balanced_accuracy(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Mean recall of the two classes; a class absent from ``y_true`` is left out."""
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    recalls = [tp / (tp + fn)] if tp + fn else []
    recalls += [tn / (tn + fp)] if tn + fp else []
    return float(np.mean(recalls)) if recalls else 0.0


def cohen_kappa(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """Agreement beyond chance: (p_o - p_e) / (1 - p_e); 1.0 when both raters are constant."""
    tp, fp, fn, tn = _confusion(y_true, y_pred)
    n = tp + fp + fn + tn
    if not n:
        return 0.0
    observed = (tp + tn) / n
    expected = ((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn)) / (n * n)
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return (observed - expected) / (1.0 - expected)


def auroc(y_true: npt.ArrayLike, scores: npt.ArrayLike) -> float | None:
    """P(score of a random positive > score of a random negative), ties counting half.

    ``None`` (never NaN) when one class is missing: the ranking is then undefined.
    """
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    positives, negatives = int(t.sum()), int((~t).sum())
    if not positives or not negatives:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    start = 0
    while start < len(s):  # average ranks over ties (Mann-Whitney U)
        end = start
        while end + 1 < len(s) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    u = ranks[t].sum() - positives * (positives + 1) / 2
    return float(u / (positives * negatives))


def binary_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    scores: npt.ArrayLike | None = None,
) -> dict[str, float | None]:
    """All of METRICS; AUROC needs ``scores`` (higher = more likely positive)."""
    return {
        "accuracy": accuracy(y_true, y_pred),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "precision": precision(y_true, y_pred),
        "recall": recall(y_true, y_pred),
        "f1": f1(y_true, y_pred),
        "auroc": auroc(y_true, scores) if scores is not None else None,
        "kappa": cohen_kappa(y_true, y_pred),
    }


def summarise(per_fold: Sequence[dict[str, float | None]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation of each metric over folds."""
    summary: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        values = [v for fold in per_fold if (v := fold[metric]) is not None]
        if values:
            summary[metric] = {
                "mean": round(float(np.mean(values)), 4),
                "sd": round(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, 4),
            }
    return summary
