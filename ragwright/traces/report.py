"""Monitoring figures from traces, grouped by day, prompt version or index version.

These functions work on rows already in memory and define the figures;
:mod:`ragwright.traces.aggregate` computes the same ones in SQL for the CLI
(``monitor report``/``check``), without loading every trace.

Rates are over the traces that have the underlying signal: the hallucination
rate over scored traces, the negative feedback rate over traces with feedback;
``None`` when none has it, never a silent 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from statistics import fmean
from typing import Any, Literal

from ragwright.costs.stats import percentile

__all__ = ["GroupBy", "figures", "report"]

GroupBy = Literal["day", "prompt", "index"]

_KEYS: dict[str, Callable[[dict[str, Any]], str]] = {
    "day": lambda r: str(r["ts"])[:10],
    "prompt": lambda r: str(r.get("prompt") or "-"),
    "index": lambda r: str(r.get("index_version") or "-"),
    # the dashboard's series: one line per prompt version over days ("<day> <prompt>")
    "day_prompt": lambda r: f"{str(r['ts'])[:10]} {r.get('prompt') or '-'}",
}


def _rate(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return round(fmean(values), 4) if values else None


def figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The monitoring figures of ``rows`` (one group)."""
    ok = [r for r in rows if r.get("error") is None]
    scored = [r for r in ok if r.get("eval_status") == "scored"]
    with_feedback = [r for r in ok if r.get("feedback") is not None]
    latencies = [float(r["latency_ms"]) for r in ok if r.get("latency_ms") is not None]
    costs = [float(r["cost_usd"]) for r in ok if r.get("cost_usd") is not None]
    answered = [r for r in ok if r.get("answered")]
    return {
        "traces": len(rows),
        "errors": len(rows) - len(ok),
        "answered_rate": _rate([bool(r.get("answered")) for r in ok]),
        "scored": len(scored),
        "hallucination_rate": _rate([bool(r.get("hallucinated")) for r in scored]),
        "relevance": _mean([float(r["relevance"]) for r in scored if r.get("relevance")]),
        "negative_feedback_rate": _rate([r["feedback"] == -1 for r in with_feedback]),
        "retrieval_top_score": _mean(
            [float(r["top_score"]) for r in ok if r.get("top_score") is not None]
        ),
        "p50_latency_ms": round(percentile(latencies, 0.5), 2) if latencies else None,
        "p95_latency_ms": round(percentile(latencies, 0.95), 2) if latencies else None,
        "cost_per_answer_usd": round(sum(costs) / len(answered), 8) if answered and costs else None,
        # [online_eval] LLM judging: scored, and skipped because the day's budget was spent
        "llm_scored": sum(1 for r in ok if r.get("llm_status") == "scored"),
        "llm_budget_skipped": sum(1 for r in ok if r.get("llm_status") == "budget"),
    }


def report(rows: Iterable[dict[str, Any]], *, by: GroupBy | str = "day") -> dict[str, Any]:
    """Overall figures and one entry per group (sorted by key)."""
    rows = list(rows)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[_KEYS[by](row)].append(row)
    return {
        "by": by,
        "overall": figures(rows),
        "groups": [{"key": key, **figures(groups[key])} for key in sorted(groups)],
    }
