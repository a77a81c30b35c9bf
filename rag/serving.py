"""What keeps ``ragwright serve`` responsive when its model provider is not.

Answer requests block a thread for as long as retrieval and the model call
take: with a provider that hangs, that is the provider's whole timeout. Run on
Starlette's shared thread pool, sixty such requests used all its threads, and
``/healthz`` (a sync route on the same pool) waited 40 s for one. So:

* :class:`AnswerPool` runs answer work in threads of its own and admits at most
  ``max_in_flight`` requests (running or queued) at once; the server answers
  the rest with 503 and ``Retry-After`` at once instead of queueing them forever.
* :class:`ServedChain` holds the chain being served and a health snapshot that a
  watcher thread keeps current, so ``/healthz`` reads a value and does no I/O.
* :class:`Conversations` keeps the turns of each ``conversation_id`` in memory,
  bounded per conversation and in number of conversations, so a client may send
  only its id instead of the whole history.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ragwright.rag.chain import RagAnswer, RagChain

__all__ = ["AnswerPool", "Conversations", "ServedChain"]

log = logging.getLogger(__name__)

T = TypeVar("T")

MIN_WATCH_INTERVAL_S = 0.1
"""The watcher's floor, so ``refresh_s=0`` (tests: check on every request) does not spin."""


class AnswerPool:
    """A bounded pool of answer threads, with admission control.

    ``submit`` refuses (returns None) once ``max_in_flight`` calls are running or
    queued, so a hung provider costs a fixed number of threads and a fixed queue,
    never the event loop's or other routes' capacity.

    The threads are its own, fed by a queue, rather than a ``ThreadPoolExecutor``:
    every executor's ``submit`` takes one process-wide lock, which executors
    starting threads elsewhere hold while each new thread gets scheduled (the
    chain's LangChain steps start several per request). On the event loop that
    was 12 ms per request on average and up to 190 ms at concurrency 32, with
    every connection waiting; here ``submit`` is an append to a queue.
    """

    def __init__(self, workers: int, max_in_flight: int) -> None:
        if workers < 1 or max_in_flight < 1:
            raise ValueError(
                f"workers ({workers}) and max_in_flight ({max_in_flight}) must be >= 1"
            )
        self.workers = workers
        self.max_in_flight = max_in_flight
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self._closed = False

    @property
    def in_flight(self) -> int:
        """Calls admitted and not yet finished (running or waiting for a thread)."""
        return self._in_flight

    def start(self) -> None:
        """Start the threads now (the server's start-up), not on the first request."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the answer pool is shut down")
            while len(self._threads) < self.workers:
                name = f"ragwright-answer-{len(self._threads)}"
                thread = threading.Thread(target=self._work, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T] | None:
        """Run ``fn(*args)`` on a pool thread, or return None when the pool is full."""
        if len(self._threads) < self.workers:
            self.start()  # once; an application run without its lifespan (tests) starts here
        with self._lock:
            if self._closed:
                raise RuntimeError("the answer pool is shut down")
            if self._in_flight >= self.max_in_flight:
                return None
            self._in_flight += 1
        future: Future[T] = Future()
        # The slot frees when the work ends, not when its waiter goes away: a client
        # that disconnects does not free the thread its request still occupies.
        future.add_done_callback(self._release)
        # like run_in_threadpool: the caller's context variables carry over
        self._queue.put(_Work(future, contextvars.copy_context(), fn, args))
        return future

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._in_flight -= 1

    def _work(self) -> None:
        while (work := self._queue.get()) is not None:
            if not work.future.set_running_or_notify_cancel():
                continue  # cancelled while queued (shutdown)
            try:
                result = work.context.run(work.fn, *work.args)
            except BaseException as exc:
                work.future.set_exception(exc)
            else:
                work.future.set_result(result)
            del work  # drop the answer before waiting for the next: it may be large

    def shutdown(self) -> None:
        """Drop queued work; running calls finish on their own (their timeouts bound them)."""
        with self._lock:
            self._closed = True
            threads = len(self._threads)
        while True:
            try:
                work = self._queue.get_nowait()
            except queue.Empty:
                break
            if work is not None:
                work.future.cancel()
        for _ in range(threads):
            self._queue.put(None)


@dataclass(frozen=True, slots=True)
class _Work:
    future: Future[Any]
    context: contextvars.Context
    fn: Callable[..., Any]
    args: tuple[Any, ...]


class ServedChain:
    """The chain being served, swapped for one on the new index after an ingest.

    Every ``refresh_s`` seconds the watcher thread (:meth:`start_watching`)
    checks whether an ingest finished or the alias switched since the chain's
    retriever opened the index, so the ``health`` snapshot follows the index
    even on an idle or saturated server; requests already running keep the
    chain they started with. Without the watcher, or with it late, a request
    makes the check itself.
    """

    def __init__(self, chain: RagChain, refresh_s: float) -> None:
        self.chain = chain
        self.refresh_s = refresh_s
        self.checked = time.monotonic()
        self.health = _health(chain)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def current(self) -> RagChain:
        """The chain to answer with; checks the index first when a check is due.

        While the watcher runs, the checks are its job (a database read, and after
        an ingest a new retriever): a request checks only when the watcher is a
        whole interval late, stuck on a locked index database, say.
        """
        due = self.refresh_s * (2 if self._watcher is not None else 1)
        if time.monotonic() - self.checked >= due:
            self.refresh()
        return self.chain

    def answer(self, payload: dict[str, Any]) -> RagAnswer:
        """Answer one request, blocking (a pool thread): what ``POST /v1/answer`` runs.

        The serving benchmark calls this too, so its in-process figure is the
        server's own work without HTTP.
        """
        return self.current().answer(payload)

    def refresh(self) -> None:
        """Follow the index if it moved on; returns at once if another thread is checking."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self.checked = time.monotonic()
            chain = self.chain
            if not chain.retriever.is_current():
                chain = chain.with_retriever(chain.retriever.reopen())
                self.chain, self.health = chain, _health(chain)
                log.info("index changed: now serving %s", chain.retriever.version.version)
        finally:
            self._lock.release()

    def start_watching(self) -> None:
        """Check the index every ``refresh_s`` seconds from a thread of its own."""
        if self._watcher is not None:
            return
        self._stop.clear()
        self._watcher = threading.Thread(
            target=self._watch, name="ragwright-index-watch", daemon=True
        )
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _watch(self) -> None:
        interval = max(self.refresh_s, MIN_WATCH_INTERVAL_S)
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception:
                # The watcher must outlive a bad moment (an ingest holding the index
                # database, a half-written version): requests repeat the check and
                # report such errors to their clients; here the log says what happened.
                log.exception("index check failed; still serving %s", self.health["index_version"])


def _health(chain: RagChain) -> dict[str, str]:
    """What ``/healthz`` reports about a chain: attributes only, no I/O."""
    return {
        "index_version": chain.retriever.version.version,
        "prompt": chain.prompt,
        "model": chain.model.name,
    }


class Conversations:
    """Turns per conversation id, in this process's memory (a restart forgets them).

    At most ``max_turns`` turns per conversation (the oldest dropped first) and
    ``max_count`` conversations (the least recently used dropped first), so a
    client inventing ids cannot grow the server without bound. Several workers
    (``uvicorn --workers``) do not share them: pin a conversation to one worker,
    or send ``history`` instead.
    """

    def __init__(self, max_turns: int, max_count: int) -> None:
        self.max_turns = max_turns
        self.max_count = max_count
        self._turns: OrderedDict[str, list[dict[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._turns)

    def history(self, conversation_id: str) -> list[dict[str, str]]:
        """The turns so far, oldest first (none for an id not seen, or forgotten)."""
        with self._lock:
            turns = self._turns.get(conversation_id)
            if turns is None:
                return []
            self._turns.move_to_end(conversation_id)
            return [dict(t) for t in turns]

    def add(self, conversation_id: str, question: str, answer: str) -> None:
        """Record one exchange: the user's question and the answer given."""
        with self._lock:
            turns = self._turns.setdefault(conversation_id, [])
            self._turns.move_to_end(conversation_id)
            turns.append({"role": "user", "content": question})
            turns.append({"role": "assistant", "content": answer})
            del turns[: max(0, len(turns) - self.max_turns)]
            while len(self._turns) > self.max_count:
                self._turns.popitem(last=False)
