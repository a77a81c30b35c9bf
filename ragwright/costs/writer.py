"""The cost monitor's buffer and writer: records reach the store within about a second.

A model call appends its record to an in-memory buffer (a lock, an append and a
clock read: a few microseconds) and returns. A daemon thread opens the store as
soon as the monitor exists (``wait_open``), then writes the buffer
to the store every ``flush_interval_s``, or as soon as ``batch_size`` records
wait. The buffer is bounded in age and size: when the oldest waiting record is
older than ``max_delay_s``, or ``max_pending`` records wait, the *calling* thread
writes the buffer itself before it returns. So when callers outpace the writer
(many threads, a slow or contended store, a writer thread starved of CPU), the
callers slow down to the store's pace instead of the buffer growing, and a hard
crash (SIGKILL, power loss) loses at most about ``max_delay_s`` plus one write of
records. The store sees one transaction per batch.

A store that keeps failing (disk full, a corrupt file) is reported in one line,
retried every interval, and never raises into a model call; past
``max_pending`` records the oldest are dropped and counted, so memory stays
bounded; ``close`` and ``flush`` say how many.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ragwright.costs.pricing import PriceTable
from ragwright.costs.record import CallRecord
from ragwright.costs.store import BaseCostStore, open_cost_store
from ragwright.usage import Usage

__all__ = ["CostMonitor", "shown_target"]

log = logging.getLogger("ragwright.costs.monitor")


def shown_target(target: Path | str) -> str:
    """The store's path or URL, with any password masked, for messages."""
    text = str(target)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class CostMonitor:
    """Buffered, bounded recording of model calls into one cost store (path or URL)."""

    def __init__(
        self,
        path: Path | str,
        prices: PriceTable | None = None,
        *,
        flush_interval_s: float = 0.5,
        max_delay_s: float | None = None,
        batch_size: int = 500,
        max_pending: int = 5000,
    ) -> None:
        self.path = path
        self.prices = prices or PriceTable()
        self.flush_interval_s = flush_interval_s
        # Past this age the caller writes: 1.5 intervals leaves the writer its turn first.
        self.max_delay_s = 1.5 * flush_interval_s if max_delay_s is None else max_delay_s
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.dropped = 0  # records given up after the store failed for max_pending records
        self._buffer: list[CallRecord] = []
        self._oldest = 0.0  # time.monotonic() when the oldest buffered record arrived
        self._retry_at = 0.0  # after a failed write, callers leave retries to the writer
        self._failure: str | None = None  # the last reported failure, to report each once
        self._lock = threading.Lock()  # guards the buffer: held for microseconds
        self._write_lock = threading.Lock()  # one write at a time; held during I/O
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._store: BaseCostStore | None = None
        self._thread = threading.Thread(target=self._run, name="ragwright-costs", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the hot path --------------------------------------------------------------
    def record(self, record: CallRecord) -> None:
        now = time.monotonic()
        failing = now < self._retry_at  # the last write failed: leave retries to the writer
        with self._lock:
            buffer = self._buffer
            if not buffer:
                self._oldest = now
            buffer.append(record)
            pending = len(buffer)
            late = now - self._oldest >= self.max_delay_s
            if failing and pending > self.max_pending:
                del buffer[0]  # the store is down: keep the newest, count the loss
                self.dropped += 1
        if pending == self.batch_size:
            self._wake.set()
        if (late or pending >= self.max_pending) and not failing:
            self.flush_quietly()  # backpressure: this caller waits for the store

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
        ttft_ms: float | None = None,
    ) -> CallRecord:
        cost = self.prices.cost(provider, model, usage)
        if cached and cost is not None:  # a cache hit is free; an unpriced model stays unknown
            cost = 0.0
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
            ttft_ms=ttft_ms,
        )
        self.record(record)
        return record

    # -- writing -------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Records recorded but not yet written."""
        with self._lock:
            return len(self._buffer)

    def flush(self) -> int:
        """Write buffered records; on failure they stay buffered and the error rises.

        The buffer is taken under the write lock, so records stay visible to the
        age check while another thread writes, and whoever writes next takes all
        that accumulated meanwhile (one transaction for many callers).
        """
        with self._write_lock:
            with self._lock:
                pending, self._buffer = self._buffer, []
            if not pending:
                return 0
            try:
                if self._store is None:
                    self._store = open_cost_store(self.path)
                    self._opened.set()
                written = self._store.insert(pending)
            except BaseException:
                self._restore(pending)
                raise
        if self._failure is not None:
            log.warning("cost records are written to %s again", shown_target(self.path))
            self._failure = None
        self._retry_at = 0.0
        return written

    def flush_quietly(self) -> bool:
        """Flush; on failure report it in one line instead of raising. True if all written."""
        try:
            self.flush()
        except Exception as exc:
            self._report(exc)
            return False
        return True

    def close(self) -> None:
        """Stop the writer and flush; at exit a failure is reported, not raised."""
        atexit.unregister(self.close)
        self._stop.set()
        self._wake.set()
        if not self.flush_quietly() or self.dropped:
            log.error(
                "%d cost records could not be written to %s and are lost",
                self.pending + self.dropped,
                shown_target(self.path),
            )
        with self._write_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
                self._opened.clear()

    def _restore(self, pending: list[CallRecord]) -> None:
        """Put records back in front (order kept); past ``max_pending`` drop the oldest."""
        with self._lock:
            self._buffer[:0] = pending
            self._oldest = time.monotonic() if self._buffer else 0.0
            excess = len(self._buffer) - self.max_pending
            if excess > 0:
                del self._buffer[:excess]
                self.dropped += excess
        self._retry_at = time.monotonic() + self.flush_interval_s

    def _report(self, exc: BaseException) -> None:
        message = str(exc)
        if message != self._failure:  # one line per distinct failure, not one per second
            self._failure = message
            log.warning(
                "cost records not yet written (%d waiting, retried every %.1f s; past %d the"
                " oldest are dropped): %s",
                self.pending,
                self.flush_interval_s,
                self.max_pending,
                message,
            )

    def wait_open(self, timeout_s: float | None = None) -> bool:
        """Block until the store is open (the writer opens it at start); False on timeout.

        A service can call this before taking traffic: opening a remote store
        (importing its driver, connecting, checking migrations) takes seconds on a
        busy machine, and records made before it is open wait in memory.
        """
        return self._opened.wait(timeout_s)

    def _open(self) -> None:
        """Open the store now rather than at the first write, so that write is quick."""
        try:
            with self._write_lock:
                if self._store is None:
                    self._store = open_cost_store(self.path)
        except Exception as exc:
            self._retry_at = time.monotonic() + self.flush_interval_s
            self._report(exc)
            return
        self._opened.set()

    def _run(self) -> None:
        self._open()
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self.flush_quietly()
