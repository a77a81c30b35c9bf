"""Grouped cross-validation for the injection detector: near-duplicate groups, folds, metrics.

Near-duplicates (the same attack reworded, or one text inside another) must
share a fold, or cross-validation would test on what it trained on. numpy only:
scikit-learn is not a dependency.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["METRICS", "binary_metrics", "folds", "near_duplicate_groups", "summarise"]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auroc")
_SHINGLE = 5  # words: rows sharing a 5-word run are near-duplicates


def near_duplicate_groups(texts: Sequence[str]) -> IndexArray:
    """Group ids joining texts that share a 5-word run or contain one another (3+ words)."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    words = [re.findall(r"\w+", t.lower()) for t in texts]
    seen: dict[tuple[str, ...], int] = {}
    for i, w in enumerate(words):
        for j in range(max(1, len(w) - _SHINGLE + 1)):
            parent[root(i)] = root(seen.setdefault(tuple(w[j : j + _SHINGLE]), i))
    joined = [f" {' '.join(w)} " for w in words]
    for i, short in enumerate(joined):
        if len(words[i]) >= 3:
            for j, long in enumerate(joined):
                if i != j and short in long:
                    parent[root(i)] = root(j)
    return np.array([root(i) for i in range(len(texts))], dtype=np.intp)


def folds(labels: BoolArray, groups: IndexArray, *, k: int = 5, seed: int = 0) -> list[IndexArray]:
    """Test-fold indices: whole groups, each label spread evenly (greedy, largest groups first)."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(groups))
    members = {int(g): np.flatnonzero(groups == g) for g in ids}
    order = sorted(members, key=lambda g: -len(members[g]))  # stable: shuffled among equals
    totals = np.array([np.sum(~labels), np.sum(labels)], dtype=np.float64)
    counts = np.zeros((k, 2))
    assigned: list[list[int]] = [[] for _ in range(k)]
    for g in order:
        add = np.array([np.sum(~labels[members[g]]), np.sum(labels[members[g]])])
        cost = (((counts + add) ** 2) / totals).sum(axis=1)
        best = int(np.argmin(cost))
        counts[best] += add
        assigned[best].extend(members[g].tolist())
    return [np.array(sorted(a), dtype=np.intp) for a in assigned]


# -- metrics ----------------------------------------------------------------------------------


def _auroc(y: BoolArray, scores: FloatArray) -> float | None:
    """Mann-Whitney AUROC with average ranks for ties; None when one class is absent."""
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    for end in range(1, len(scores) + 1):
        if end == len(scores) or sorted_scores[end] != sorted_scores[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def binary_metrics(y: BoolArray, predicted: BoolArray, scores: FloatArray) -> dict[str, float]:
    tp, fp = int(np.sum(y & predicted)), int(np.sum(~y & predicted))
    fn, tn = int(np.sum(y & ~predicted)), int(np.sum(~y & ~predicted))
    recall = tp / max(1, tp + fn)
    precision = tp / max(1, tp + fp)
    result = {
        "accuracy": (tp + tn) / max(1, len(y)),
        "balanced_accuracy": (recall + tn / max(1, tn + fp)) / 2,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / max(1e-12, precision + recall),
    }
    auroc = _auroc(y, scores)
    if auroc is not None:
        result["auroc"] = auroc
    return result


def summarise(per_fold: Sequence[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation of each metric over folds (and seeds)."""
    summary: dict[str, dict[str, float]] = {}
    for metric in METRICS:
        values = [fold[metric] for fold in per_fold if metric in fold]
        if values:
            sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
            summary[metric] = {"mean": round(float(np.mean(values)), 4), "sd": round(sd, 4)}
    return summary


# -- the logistic model -----------------------------------------------------------------------
