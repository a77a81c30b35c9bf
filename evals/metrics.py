"""Retrieval metrics over document ids (a hit is any retrieved chunk of an expected source)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["recall_at_k", "reciprocal_rank"]


def recall_at_k(expected: Sequence[str], retrieved: Sequence[str], k: int) -> float | None:
    """Share of expected sources among the first ``k`` retrieved chunks; None if none expected."""
    if not expected:
        return None
    top = set(retrieved[:k])
    return sum(1 for source in set(expected) if source in top) / len(set(expected))


def reciprocal_rank(expected: Sequence[str], retrieved: Sequence[str]) -> float | None:
    """1/rank of the first chunk from an expected source (0 if none); None if none expected."""
    if not expected:
        return None
    wanted = set(expected)
    for rank, source in enumerate(retrieved, start=1):
        if source in wanted:
            return 1.0 / rank
    return 0.0
