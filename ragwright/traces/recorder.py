"""The trace recorder: the request hands its answer over in microseconds, a thread writes.

``answered``/``failed`` append one :class:`PendingTrace` to a bounded buffer (a
lock, an append) and return; no encoding, pricing or I/O happens on the request
path. A daemon thread writes the buffer every ``flush_interval_s`` in one
transaction. Unlike the cost monitor, callers never wait for the store: a trace
is evidence, not a bill, so a store that is locked, full or down costs traces,
never answers. Failed writes keep the batch buffered and are retried each
interval; past ``max_pending`` waiting traces the oldest are dropped. Both are
counted (``failures``, ``dropped``) and reported in one log line per distinct error.

A hard crash (SIGKILL, power loss) loses at most the traces of the last
``flush_interval_s`` (0.5 s by default) plus one write in progress.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragwright.costs.pricing import PriceTable
from ragwright.costs.writer import shown_target
from ragwright.redact import redact
from ragwright.traces.record import PendingTrace, row_of

if TYPE_CHECKING:
    from ragwright.rag.chain import RagAnswer
    from ragwright.settings import Settings
    from ragwright.traces.otel import OtelExporter
    from ragwright.traces.store import TraceStore

__all__ = ["TraceRecorder", "new_request_id", "recorder_for", "spans_of", "traced_failure"]

log = logging.getLogger("ragwright.traces")


def new_request_id() -> str:
    return uuid.uuid4().hex


def spans_of(state: dict[str, Any], end: float) -> dict[str, float]:
    """Per-span milliseconds from the chain's step marks (perf_counter when each step began).

    A span whose marks are missing (a request that failed before it) is left out.
    """
    marks: dict[str, float] = state.get("_marks") or {}
    steps = [
        ("guard_in", "started", "condense"),
        ("retrieve", "condense", "render"),
        ("render", "render", "request"),
        ("generate", "request", "finish"),
    ]
    spans = {
        name: (marks[b] - marks[a]) * 1000 for name, a, b in steps if a in marks and b in marks
    }
    if "finish" in marks:
        spans["guard_out"] = (end - marks["finish"]) * 1000
    return spans


@contextmanager
def traced_failure(recorder: TraceRecorder | None, state: dict[str, Any]) -> Iterator[None]:
    """Record a request that raised (the error's type and message), then let it propagate."""
    try:
        yield
    except Exception as exc:
        if recorder is not None:
            recorder.failed(state, exc)
        raise


class TraceRecorder:
    """Buffered, never-blocking recording of traces into one store (path or URL)."""

    def __init__(
        self,
        target: Path | str,
        prices: PriceTable | None = None,
        *,
        flush_interval_s: float = 0.5,
        max_pending: int = 10_000,
        exporter: OtelExporter | None = None,
    ) -> None:
        self.target = target
        self.exporter = exporter  # OpenTelemetry: the same traces over OTLP (otel_endpoint)
        self.prices = prices or PriceTable()
        self.flush_interval_s = flush_interval_s
        self.max_pending = max_pending
        self.written = 0
        self.failures = 0  # failed writes (each retried)
        self.dropped = 0  # traces given up: the store failed for max_pending traces
        self.duplicates = 0  # traces skipped: their request id was already stored
        self._buffer: list[PendingTrace] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._failure: str | None = None
        self._store: TraceStore | None = None
        self._thread = threading.Thread(target=self._run, name="ragwright-traces", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the request path ---------------------------------------------------------------------
    def answered(self, state: dict[str, Any], answer: RagAnswer) -> None:
        end = time.perf_counter()
        self._append(PendingTrace(answer.request_id, time.time(), spans_of(state, end), answer))

    def failed(self, state: dict[str, Any], exc: BaseException) -> None:
        spans = spans_of(state, time.perf_counter())
        marks = state.get("_marks") or {}
        # With guardrails, only the question as they passed it is kept: a blocked or
        # not-yet-redacted question may hold what they exist to keep out of storage.
        question = marks.get("question", "") if marks.get("guarded") else state.get("question")
        self._append(
            PendingTrace(
                state.get("_request_id") or new_request_id(),
                time.time(),
                spans,
                question=question if isinstance(question, str) else "",
                error=redact(str(exc))[:2000],
                error_type=type(exc).__name__,
            )
        )

    def _append(self, trace: PendingTrace) -> None:
        with self._lock:
            self._buffer.append(trace)
            if len(self._buffer) > self.max_pending:
                del self._buffer[0]
                self.dropped += 1

    # -- writing ------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    @property
    def store(self) -> TraceStore:
        """The open store (opened on first use), shared with readers in this process."""
        from ragwright.traces.store import open_trace_store  # SQLAlchemy: off the import path

        with self._write_lock:
            if self._store is None:
                self._store = open_trace_store(self.target)
            return self._store

    def flush(self) -> int:
        """Write what is buffered; on failure the traces stay buffered and the error rises."""
        store = self.store
        with self._write_lock:
            with self._lock:
                batch, self._buffer = self._buffer, []
            if not batch:
                return 0
            try:
                written = store.insert([row_of(t, self.prices) for t in batch])
            except BaseException:
                with self._lock:
                    self._buffer[:0] = batch
                    excess = len(self._buffer) - self.max_pending
                    if excess > 0:
                        del self._buffer[:excess]
                        self.dropped += excess
                self.failures += 1
                raise
        self.written += written
        self.duplicates += len(batch) - written
        if self.exporter is not None:
            try:
                self.exporter.export(batch)
            except Exception as exc:  # the collector is optional: never lose the store write
                log.warning("OpenTelemetry export failed: %s", exc)
        if self._failure is not None:
            log.warning("traces are written to %s again", shown_target(self.target))
            self._failure = None
        return written

    def flush_quietly(self) -> bool:
        try:
            self.flush()
        except Exception as exc:
            message = str(exc)
            if message != self._failure:
                self._failure = message
                log.warning(
                    "traces not yet written (%d waiting, retried every %.1f s): %s",
                    self.pending,
                    self.flush_interval_s,
                    message,
                )
            return False
        return True

    def stats(self) -> dict[str, int]:
        return {
            "written": self.written,
            "pending": self.pending,
            "failures": self.failures,
            "dropped": self.dropped,
            "duplicates": self.duplicates,
        }

    def close(self) -> None:
        atexit.unregister(self.close)
        self._stop.set()
        if not self.flush_quietly() or self.dropped:
            log.error(
                "%d traces could not be written to %s and are lost",
                self.pending + self.dropped,
                shown_target(self.target),
            )
        if self.exporter is not None:
            self.exporter.close()  # sends what it still holds

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            self.flush_quietly()


_recorders: dict[Path | str, TraceRecorder] = {}
_recorders_lock = threading.Lock()


def recorder_for(settings: Settings) -> TraceRecorder:
    """The process-wide recorder of ``settings.traces_target``."""
    target = settings.traces_target
    key = target.resolve() if isinstance(target, Path) else target
    with _recorders_lock:
        if key not in _recorders:
            overrides = {name: price.model_dump() for name, price in settings.pricing.items()}
            exporter = None
            if settings.otel_endpoint:
                from ragwright.traces.otel import OtelExporter

                exporter = OtelExporter(settings.otel_endpoint)
            _recorders[key] = TraceRecorder(key, PriceTable(overrides=overrides), exporter=exporter)
        return _recorders[key]
