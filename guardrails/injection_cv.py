"""Grouped cross-validation for the injection detector: near-duplicate groups and folds.

Near-duplicates (the same attack reworded, or one text inside another) must
share a fold, or cross-validation would test on what it trained on. The folds
(and the fit) are :mod:`ragwright.linear`, shared with the local judge; the
metrics are :mod:`ragwright.metrics`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ragwright.linear import BoolArray, FloatArray, IndexArray, grouped_folds

__all__ = ["BoolArray", "FloatArray", "IndexArray", "folds", "near_duplicate_groups"]

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
    """Test-fold indices: whole groups, each label spread evenly (:func:`grouped_folds`)."""
    return grouped_folds(labels, groups, k=k, seed=seed)
