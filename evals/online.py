"""Online evaluation: a background worker scores served answers with the local judge.

It never runs on the request path: it reads traces the recorder already wrote
(``eval_status`` NULL), scores a deterministic share of them (``[online_eval]
sample``, by request id, so a restart makes the same choices), and writes the
hallucination and relevance scores onto each trace. The store is the queue: a
worker that crashes leaves its unscored traces unscored, and the next one (a
restarted server, or ``ragwright monitor evaluate``) picks them up.

The judge is the calibrated local one, built on MiniLM whatever the index's
embedder, so scoring every answer costs CPU time and no money. This is the one
place the traces package reaches the judge. The other offline metrics the project
asks for (``[online_eval] metrics``: checks, Python metrics, LLM judges under a
daily budget) ride along through :class:`~ragwright.evals.online_llm.OnlineMetrics`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ragwright.evals.online_llm import OnlineMetrics, in_sample, online_metrics
from ragwright.traces.store import TraceStore

if TYPE_CHECKING:
    from ragwright.evals.judges.local import LocalJudge
    from ragwright.settings import Settings

__all__ = [
    "OnlineEvaluator",
    "OnlineMetrics",
    "in_sample",
    "local_judge",
    "online_metrics",
    "start_online_eval",
]

log = logging.getLogger("ragwright.evals.online")


def local_judge(settings: Settings) -> LocalJudge:
    """The calibrated local judge, on the MiniLM it was calibrated with."""
    from ragwright.evals.judges.local import LocalJudge
    from ragwright.providers.registry import local_embedder

    return LocalJudge(local_embedder(settings))


class OnlineEvaluator:
    """Scores unscored traces in ``store`` with ``judge``; ``run_once`` or a thread."""

    def __init__(
        self,
        store: TraceStore,
        judge: LocalJudge,
        *,
        sample: float = 1.0,
        interval_s: float = 2.0,
        batch: int = 64,
        metrics: OnlineMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.judge = judge
        self.sample = sample
        self.interval_s = interval_s
        self.batch = batch
        self.scored = 0
        self.handled = 0  # traces the local judge saw (scored, skipped or failed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._llm_thread: threading.Thread | None = None

    def score(self, row: dict[str, Any]) -> dict[str, Any]:
        """The values written onto one trace."""
        if not in_sample(row["request_id"], self.sample):
            return {"eval_status": "skipped"}
        contexts = [c["text"] for c in row.get("contexts") or []]
        try:
            grounding = self.judge.verdict(row["answer"], contexts)
            relevance = self.judge.relevance_verdict(row["question"], row["answer"])
        except Exception as exc:  # one bad trace must not stall the queue
            log.warning("online evaluation of %s failed: %s", row["request_id"], exc)
            return {"eval_status": "failed"}
        return {
            "eval_status": "scored",
            "hallucination": grounding.score,
            "hallucinated": None if grounding.hallucinated is None else int(grounding.hallucinated),
            "relevance": relevance.score,
            "judge": self.judge.name,
        }

    def run_once(self) -> int:
        """Score one batch of waiting traces; the number handled (0: none waiting)."""
        rows = self.store.unscored(self.batch)
        # one large encode for the whole batch: several times faster than one per trace
        self.judge.prefetch(
            (r["answer"], [c["text"] for c in r.get("contexts") or []])
            for r in rows
            if in_sample(r["request_id"], self.sample)
        )
        scored = {r["request_id"]: self.score(r) for r in rows}
        if self.metrics is not None:  # checks, Python metrics; which traces LLM judges skip
            ids = [i for i, values in scored.items() if values["eval_status"] == "scored"]
            for request_id, extra in self.metrics.first_pass(self.store, ids).items():
                scored[request_id].update(extra)
        for request_id, values in scored.items():
            self.store.set_scores(request_id, values)
            self.scored += values["eval_status"] == "scored"
        self.handled += len(rows)
        llm = 0
        if self.metrics is not None and self._llm_thread is None:  # else its own thread does it
            llm = self.metrics.llm_pass(self.store)
        return len(rows) + llm

    def run_until_idle(self) -> int:
        """Run until nothing waits (LLM judging included); the traces the local judge saw."""
        before = self.handled
        while self.run_once():
            pass
        return self.handled - before

    def start(self) -> None:
        """Score in the background: the local judge in one thread, LLM judges in another.

        LLM calls take seconds; in their own thread they never hold back the local
        judge, which has to keep up with every answer the server gives.
        """
        if self.metrics is not None and self.metrics.llm:
            metrics = self.metrics
            self._llm_thread = threading.Thread(
                target=self._loop,
                args=(lambda: metrics.llm_pass(self.store) >= metrics.batch,),
                name="ragwright-online-llm-eval",
                daemon=True,
            )
            self._llm_thread.start()
        self._thread = threading.Thread(
            target=self._loop,
            args=(lambda: self.run_once() >= self.batch,),
            name="ragwright-online-eval",
            daemon=True,
        )
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        threads = [t for t in (self._thread, self._llm_thread) if t is not None]
        for thread in threads:
            thread.join(timeout_s)
        if self.metrics is not None and not any(t.is_alive() for t in threads):
            self.metrics.close()

    def _loop(self, step: Callable[[], bool]) -> None:
        """Run ``step`` (True: more is waiting) until stopped, pausing when idle."""
        while not self._stop.is_set():
            try:
                busy = step()
            except Exception as exc:  # the store is down: try again next interval
                log.warning("online evaluation paused: %s", exc)
                busy = False
            if not busy:
                self._stop.wait(self.interval_s)


def start_online_eval(settings: Settings) -> OnlineEvaluator | None:
    """Start the worker for ``serve`` when traces and ``[online_eval]`` are on."""
    if not (settings.traces and settings.online_eval.enabled and settings.online_eval.sample > 0):
        return None
    from ragwright.traces.recorder import recorder_for

    evaluator = OnlineEvaluator(
        recorder_for(settings).store,
        local_judge(settings),
        sample=settings.online_eval.sample,
        interval_s=settings.online_eval.interval_s,
        metrics=online_metrics(settings),  # a misconfigured metric fails serve's start
    )
    evaluator.start()
    return evaluator
