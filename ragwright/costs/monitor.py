"""Record every model call, success, failure or cancellation, through one monitor per store.

``metered`` wraps a chat model and ``metered_embedder`` an embedder so that each
call becomes a :class:`~ragwright.costs.record.CallRecord`; ``monitor_for`` gives
the process-wide :class:`~ragwright.costs.writer.CostMonitor` of the configured
store, whose buffer and writer bound what a crash can lose (see ``writer``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ragwright.costs.pricing import PriceTable
from ragwright.costs.record import CallRecord
from ragwright.costs.store import open_cost_store
from ragwright.costs.writer import CostMonitor
from ragwright.providers.base import (
    ChatModel,
    ChatRequest,
    ChatResponse,
    Embedder,
    StreamItem,
)
from ragwright.settings import Settings
from ragwright.tokens import count_tokens
from ragwright.usage import Usage

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ragwright.costs.budgets import BudgetGuard

__all__ = [
    "CallRecord",
    "CostMonitor",
    "MeteredChatModel",
    "MeteredEmbedder",
    "metered",
    "metered_embedder",
    "monitor_for",
]

_monitors: dict[Path | str, CostMonitor] = {}
_monitors_lock = threading.Lock()


def monitor_for(settings: Settings) -> CostMonitor:
    """The process-wide monitor writing to ``settings.costs_target`` (URL or local file)."""
    target = settings.costs_target
    path = target.resolve() if isinstance(target, Path) else target
    with _monitors_lock:
        if path not in _monitors:
            overrides = {name: price.model_dump() for name, price in settings.pricing.items()}
            _monitors[path] = CostMonitor(path, PriceTable(overrides=overrides))
        return _monitors[path]


class MeteredChatModel(ChatModel):
    """Wraps any chat model so that each call, success or failure, is recorded."""

    def __init__(
        self, inner: ChatModel, monitor: CostMonitor, guard: BudgetGuard | None = None
    ) -> None:
        self.inner = inner
        self.monitor = monitor
        self.guard = guard
        self.provider = inner.provider
        self.model = inner.model

    def generate(self, request: ChatRequest) -> ChatResponse:
        if self.guard is not None:
            self.guard.check(self.name, request.tags)
        started = time.perf_counter()
        try:
            response = self.inner.generate(request)
        except BaseException as exc:  # cancelled calls too: the provider may have billed them
            self._failed(request, started, exc)
            raise
        self._succeeded(request, response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        if self.guard is not None:
            self.guard.check(self.name, request.tags)
        started = time.perf_counter()
        try:
            response = await self.inner.agenerate(request)
        except BaseException as exc:  # cancelled calls too: the provider may have billed them
            self._failed(request, started, exc)
            raise
        self._succeeded(request, response)
        return response

    def stream(self, request: ChatRequest) -> Iterator[StreamItem]:
        """The inner stream, recorded once it ends (with its time to first token)."""
        if self.guard is not None:
            self.guard.check(self.name, request.tags)
        started, recorded = time.perf_counter(), False
        try:
            for item in self.inner.stream(request):
                if isinstance(item, ChatResponse):
                    self._succeeded(request, item)
                    recorded = True
                yield item
        except BaseException as exc:  # an abandoned stream (GeneratorExit) was billed too
            if not recorded:
                self._failed(request, started, exc)
            raise

    async def astream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        if self.guard is not None:
            self.guard.check(self.name, request.tags)
        started, recorded = time.perf_counter(), False
        try:
            async for item in self.inner.astream(request):
                if isinstance(item, ChatResponse):
                    self._succeeded(request, item)
                    recorded = True
                yield item
        except BaseException as exc:
            if not recorded:
                self._failed(request, started, exc)
            raise

    def _succeeded(self, request: ChatRequest, response: ChatResponse) -> None:
        self.monitor.record_call(
            provider=response.provider,
            model=response.model,
            operation=request.operation,
            prompt=request.prompt,
            usage=response.usage,
            latency_ms=response.latency_ms,
            cached=response.cached,
            tags=request.tags,
            ttft_ms=response.ttft_ms,
        )

    def _failed(self, request: ChatRequest, started: float, exc: BaseException) -> None:
        self.monitor.record_call(
            provider=self.provider,
            model=self.model,
            operation=request.operation,
            prompt=request.prompt,
            usage=Usage(calls=1),
            latency_ms=(time.perf_counter() - started) * 1000,
            status="error",
            error_type=type(exc).__name__,
            tags=request.tags,
        )


class MeteredEmbedder(Embedder):
    """Records each ``encode`` batch as one call (operation ``embed``, or ``judge`` for judges)."""

    def __init__(
        self,
        inner: Embedder,
        monitor: CostMonitor,
        *,
        operation: str = "embed",
        label: str | None = None,
    ) -> None:
        self.inner = inner
        self.monitor = monitor
        self.operation = operation
        self.name = inner.name
        self.dimension = inner.dimension
        provider, _, model = (label or inner.name).partition("/")
        self._provider, self._model = (provider, model) if model else ("local", provider)

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        started = time.perf_counter()
        try:
            vectors = self.inner.encode(texts)
        except BaseException as exc:
            self.monitor.record_call(
                provider=self._provider,
                model=self._model,
                operation=self.operation,
                prompt=None,
                usage=Usage(calls=1),
                latency_ms=(time.perf_counter() - started) * 1000,
                status="error",
                error_type=type(exc).__name__,
            )
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        tokens = sum(count_tokens(t) for t in texts)
        self.monitor.record_call(
            provider=self._provider,
            model=self._model,
            operation=self.operation,
            prompt=None,
            usage=Usage(prompt_tokens=tokens, estimated=True, calls=1),
            latency_ms=latency_ms,
        )
        return vectors


def metered_embedder(
    embedder: Embedder, settings: Settings, *, operation: str = "embed", label: str | None = None
) -> Embedder:
    if isinstance(embedder, MeteredEmbedder):
        return embedder
    return MeteredEmbedder(embedder, monitor_for(settings), operation=operation, label=label)


def metered(model: ChatModel, settings: Settings) -> ChatModel:
    if isinstance(model, MeteredChatModel):
        return model
    guard = None
    if any(budget.hard for budget in settings.budgets):
        from ragwright.costs.budgets import BudgetGuard

        guard = BudgetGuard(open_cost_store(settings.costs_target), settings.budgets)
    return MeteredChatModel(model, monitor_for(settings), guard)
