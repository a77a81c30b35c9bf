"""Record every model call without blocking the caller on disk I/O.

Calls are appended to an in-memory queue (a lock and a list append, a few
microseconds); a daemon thread writes them to SQLite in batches every
``flush_interval_s`` and on normal exit. A hard crash (SIGKILL, power loss)
loses at most the records of the last interval.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ragwright.costs.pricing import PriceTable
from ragwright.costs.record import CallRecord
from ragwright.costs.store import BaseCostStore, open_cost_store
from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse, Embedder
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

log = logging.getLogger(__name__)


class CostMonitor:
    def __init__(
        self, path: Path | str, prices: PriceTable | None = None, *, flush_interval_s: float = 1.0
    ) -> None:
        self.path = path
        self.prices = prices or PriceTable()
        self.flush_interval_s = flush_interval_s
        self._buffer: list[CallRecord] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._store: BaseCostStore | None = None
        self._thread = threading.Thread(target=self._run, name="ragwright-costs", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def record(self, record: CallRecord) -> None:
        with self._lock:
            self._buffer.append(record)

    def record_call(
        self,
        *,
        provider: str,
        model: str,
        operation: str,
        prompt: str | None,
        usage: Usage,
        latency_ms: float,
        status: str = "ok",
        error_type: str | None = None,
        cached: bool = False,
        tags: tuple[tuple[str, str], ...] = (),
    ) -> CallRecord:
        cost = 0.0 if cached else self.prices.cost(provider, model, usage)
        record = CallRecord(
            ts=datetime.now(UTC).isoformat(timespec="milliseconds"),
            provider=provider,
            model=model,
            operation=operation,
            prompt=prompt,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            estimated=usage.estimated,
            latency_ms=latency_ms,
            cost_usd=cost,
            status=status,
            error_type=error_type,
            cached=cached,
            tags=tags,
        )
        self.record(record)
        return record

    def flush(self) -> int:
        """Write buffered records; on failure they go back to the buffer and the error rises."""
        with self._lock:
            pending, self._buffer = self._buffer, []
        if not pending:
            return 0
        try:
            with self._write_lock:
                if self._store is None:
                    self._store = open_cost_store(self.path)
                return self._store.insert(pending)
        except BaseException:
            with self._lock:
                self._buffer[:0] = pending  # keep order; nothing is dropped
            raise

    def close(self) -> None:
        """Stop the writer and flush; at exit a failure is reported, not raised."""
        atexit.unregister(self.close)
        self._stop.set()
        try:
            self.flush()
        except Exception as exc:
            log.error(
                "%d cost records could not be written to %s: %s", len(self._buffer), self.path, exc
            )
        with self._write_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception:  # keep the thread alive; records stay buffered for the next try
                log.warning(
                    "cost records could not be written to %s; will retry", self.path, exc_info=True
                )


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
        except Exception as exc:
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
        except Exception as exc:
            self._failed(request, started, exc)
            raise
        self._succeeded(request, response)
        return response

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
        )

    def _failed(self, request: ChatRequest, started: float, exc: Exception) -> None:
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
        except Exception as exc:
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
