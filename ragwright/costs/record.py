"""One model call, as recorded by the monitor."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CallRecord"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    ts: str  # ISO-8601 UTC
    provider: str
    model: str
    operation: str  # generate, judge, embed
    prompt: str | None
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    latency_ms: float
    cost_usd: float | None  # None = unknown price, never a silent 0
    status: str  # ok | error
    error_type: str | None = None
    cached: bool = False
    tags: tuple[tuple[str, str], ...] = ()
    ttft_ms: float | None = None  # streamed calls: time to the first token
