"""One trace: what a served answer did, flattened into a store row off the request path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ragwright.costs.pricing import PriceTable

if TYPE_CHECKING:
    from ragwright.rag.chain import RagAnswer

__all__ = ["SPANS", "PendingTrace", "row_of"]

SPANS = ("guard_in", "retrieve", "render", "generate", "guard_out")
"""Per-span latency keys, in request order (``retrieve`` includes condensing a follow-up)."""


@dataclass(frozen=True, slots=True)
class PendingTrace:
    """What the request path hands over: the answer object and a few floats, nothing encoded.

    JSON encoding, pricing and the timestamp's formatting happen in the writer
    thread, so recording costs the request an append (see ``recorder``).
    """

    request_id: str
    ts: float  # time.time() at the end of the request
    spans: dict[str, float]
    answer: RagAnswer | None = None
    question: str = ""  # failed requests: the answer is missing
    error: str | None = None
    error_type: str | None = None


_ANSWER_COLUMNS = (
    "prompt", "prompt_hash", "index_version", "model", "prompt_tokens", "completion_tokens",
    "cost_usd", "latency_ms", "answered", "answer", "citations", "contexts", "top_score",
    "findings", "blocked_by",
)  # fmt: skip


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def row_of(trace: PendingTrace, prices: PriceTable) -> dict[str, Any]:
    """The store row of ``trace`` (JSON columns encoded, cost priced)."""
    # every row has every column the recorder writes: a batch mixing answered and
    # failed requests is one executemany, which needs the same keys in each row
    row: dict[str, Any] = dict.fromkeys(_ANSWER_COLUMNS)
    row |= {
        "request_id": trace.request_id,
        "ts": _iso(trace.ts),
        "spans": json.dumps({k: round(v, 3) for k, v in trace.spans.items()}),
        "question": trace.question,
        "error": trace.error,
        "error_type": trace.error_type,
    }
    answer = trace.answer
    if answer is None:
        return row
    provider, _, model = answer.model.partition("/")
    cost = 0.0 if answer.cached else prices.cost(provider, model or provider, answer.usage)
    contexts = [
        {"chunk_id": c.chunk_id, "source": c.source, "score": c.score, "text": c.text}
        for c in answer.contexts
    ]
    row.update(
        question=answer.question,
        prompt=answer.prompt,
        prompt_hash=answer.prompt_hash,
        index_version=answer.index_version,
        model=answer.model,
        prompt_tokens=answer.usage.prompt_tokens,
        completion_tokens=answer.usage.completion_tokens,
        cost_usd=cost,
        latency_ms=round(answer.latency_ms, 3),
        answered=int(answer.answered),
        answer=answer.answer,
        citations=json.dumps(answer.citations),
        contexts=json.dumps(contexts),
        top_score=max((c.score for c in answer.contexts), default=None),
        findings=json.dumps([f.model_dump(mode="json") for f in answer.findings]),
        blocked_by=answer.blocked_by,
    )
    return row
