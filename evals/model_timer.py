"""Time each case's chat model call, apart from the chain around it.

The gate's latency rule compares the model call, not the chain: retrieval, prompt
rendering and the local judge share the machine with every other open case, so
chain latency on a busy runner measures the runner. :func:`timed_model_calls`
wraps the chain's model for one evaluation; each case collects the latency its
calls report (a call replayed from the cache counts the call that produced it).
Versions run interleaved, so both sides of a comparison meet the same load.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse
from ragwright.rag.chain import RagChain

__all__ = ["case_model_calls", "timed_model_calls"]

_CALLS: ContextVar[list[float] | None] = ContextVar("ragwright_eval_model_calls", default=None)


def _record(response: ChatResponse) -> ChatResponse:
    calls = _CALLS.get()
    if calls is not None:
        replayed = response.replayed_latency_ms if response.cached else None
        calls.append(response.latency_ms if replayed is None else replayed)
    return response


class _TimedChatModel(ChatModel):
    """The chain's model, unchanged but for noting each call's latency for its case."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = inner.model

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def is_local(self) -> bool:
        return self.inner.is_local

    def generate(self, request: ChatRequest) -> ChatResponse:
        return _record(self.inner.generate(request))

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        return _record(await self.inner.agenerate(request))

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextmanager
def timed_model_calls(chain: RagChain) -> Iterator[None]:
    """Wrap ``chain.model`` for the duration of an evaluation; restored afterwards."""
    original = chain.model
    chain.model = _TimedChatModel(original)
    try:
        yield
    finally:
        chain.model = original


@contextmanager
def case_model_calls() -> Iterator[list[float]]:
    """The latencies (ms) of the model calls made inside this block, in this task."""
    calls: list[float] = []
    token = _CALLS.set(calls)
    try:
        yield calls
    finally:
        _CALLS.reset(token)
