"""Online evaluation: a background worker scores served answers with the local judge.

It never runs on the request path: it reads traces the recorder already wrote
(``eval_status`` NULL), scores a deterministic share of them (``[online_eval]
sample``, by request id, so a restart makes the same choices), and writes the
hallucination and relevance scores onto each trace. The store is the queue: a
worker that crashes leaves its unscored traces unscored, and the next one (a
restarted server, or ``ragwright monitor evaluate``) picks them up.

The judge is the calibrated local one, built on MiniLM whatever the index's
embedder, so scoring every answer costs CPU time and no money. This is the one
place the traces package reaches the judge.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from ragwright.traces.store import TraceStore

if TYPE_CHECKING:
    from ragwright.evals.judges.local import LocalJudge
    from ragwright.settings import Settings

__all__ = ["OnlineEvaluator", "in_sample", "local_judge", "start_online_eval"]

log = logging.getLogger("ragwright.evals.online")


def local_judge(settings: Settings) -> LocalJudge:
    """The calibrated local judge, on the MiniLM it was calibrated with."""
    from ragwright.evals.judges.local import LocalJudge
    from ragwright.providers.registry import local_embedder

    return LocalJudge(local_embedder(settings))


def in_sample(request_id: str, share: float) -> bool:
    """Whether ``request_id`` falls in the scored share (stable across restarts)."""
    if share >= 1:
        return True
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


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
    ) -> None:
        self.store = store
        self.judge = judge
        self.sample = sample
        self.interval_s = interval_s
        self.batch = batch
        self.scored = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
        for row in rows:
            values = self.score(row)
            self.store.set_scores(row["request_id"], values)
            self.scored += values["eval_status"] == "scored"
        return len(rows)

    def run_until_idle(self) -> int:
        total = 0
        while handled := self.run_once():
            total += handled
        return total

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ragwright-online-eval", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once() == self.batch
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
    )
    evaluator.start()
    return evaluator
