"""``ragwright monitor check``: the ``[monitor]`` thresholds against recent traces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from ragwright.settings import MonitorSettings
from ragwright.traces.aggregate import store_figures, store_retrieval_drop
from ragwright.traces.reader import TraceSource
from ragwright.traces.report import figures

__all__ = ["Finding", "check", "check_store", "findings", "retrieval_drop"]


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    value: float | None
    limit: float
    crossed: bool


def retrieval_drop(rows: Sequence[dict[str, Any]]) -> float | None:
    """How far the mean top retrieval score fell from the previous index version to the latest.

    Versions are ordered by their first trace; None with fewer than two versions.
    """
    first_seen: dict[str, str] = {}
    scores: dict[str, list[float]] = {}
    for row in rows:
        version, score = row.get("index_version"), row.get("top_score")
        if version is None or score is None:
            continue
        first_seen[version] = min(first_seen.get(version, row["ts"]), row["ts"])
        scores.setdefault(version, []).append(float(score))
    if len(scores) < 2:
        return None
    previous, latest = sorted(scores, key=lambda v: first_seen[v])[-2:]
    return round(fmean(scores[previous]) - fmean(scores[latest]), 4)


def check(rows: Sequence[dict[str, Any]], limits: MonitorSettings) -> list[Finding]:
    """The thresholds against traces already in memory."""
    return findings(figures(rows), retrieval_drop(rows), limits)


def check_store(store: TraceSource, limits: MonitorSettings, *, since: str) -> list[Finding]:
    """The thresholds against the traces since ``since``, aggregated by the database."""
    got = store_figures(store, since=since)
    return findings(got, store_retrieval_drop(store, since=since), limits)


def findings(got: dict[str, Any], drop: float | None, limits: MonitorSettings) -> list[Finding]:
    """One finding per configured threshold; a figure with no data never crosses."""
    found: list[Finding] = []

    def above(name: str, value: float | None, limit: float | None) -> None:
        if limit is not None:
            found.append(Finding(name, value, limit, value is not None and value > limit))

    def below(name: str, value: float | None, limit: float | None) -> None:
        if limit is not None:
            found.append(Finding(name, value, limit, value is not None and value < limit))

    above("hallucination_rate", got["hallucination_rate"], limits.max_hallucination_rate)
    above(
        "negative_feedback_rate", got["negative_feedback_rate"], limits.max_negative_feedback_rate
    )
    below("answered_rate", got["answered_rate"], limits.min_answered_rate)
    below("relevance", got["relevance"], limits.min_relevance)
    above("p95_latency_ms", got["p95_latency_ms"], limits.max_p95_latency_ms)
    above("retrieval_score_drop", drop, limits.max_retrieval_score_drop)
    return found
