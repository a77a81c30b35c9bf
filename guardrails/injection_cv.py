"""Grouped cross-validation for the injection detector: near-duplicate groups and folds.

Near-duplicates (the same attack reworded, or one text inside another) must
share a fold, or cross-validation would test on what it trained on. numpy only:
scikit-learn is not a dependency. The metrics are :mod:`ragwright.metrics`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["folds", "near_duplicate_groups"]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

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
