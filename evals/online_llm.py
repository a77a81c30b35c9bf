"""Online scoring with the offline metrics: checks on every sampled trace, LLM judges on a share.

``[online_eval] metrics`` picks, by name, among the project's ``[[metrics]]`` (``check``,
``python`` and ``llm_judge`` kinds, built by ``evals.custom.build_metrics`` exactly as
``eval run`` builds them) and the built-in LLM ``hallucination`` and ``relevance``
judges (when ``judge_model`` is an endpoint; the local judge already scores those into
the trace's own columns). Scores are the same :class:`~ragwright.evals.scoring.Score`
objects, stored as JSON in the trace's ``scores`` column, keyed by metric name.

Deterministic metrics cost nothing: they run with the local judge on every trace in
``sample``. LLM-judged ones run in a second pass over traces already scored, for those
in ``llm_sample`` (by request id, as ``sample``), while :class:`DailyBudget` allows. The
trace's ``llm_status`` says what happened: ``scored``, ``skipped`` (outside
``llm_sample``), ``budget`` (the day's budget was spent) or ``failed`` (the judge failed
``max_attempts`` times; the error outcome is in ``scores``). NULL is waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa

from ragwright.errors import ConfigError
from ragwright.evals.golden import GoldenCase
from ragwright.evals.online_budget import BudgetedJudgeModel, DailyBudget, check_priced
from ragwright.evals.scoring import Answer, Metric, Score, score_safely
from ragwright.settings import LOCAL_PREFIX
from ragwright.sqlite import StoreError
from ragwright.traces.store import TraceStore, traces

if TYPE_CHECKING:
    from ragwright.settings import Settings

__all__ = ["LLM_BUILTINS", "OnlineMetrics", "in_sample", "online_metrics"]

log = logging.getLogger("ragwright.evals.online")

LLM_BUILTINS = ("hallucination", "relevance")
"""The built-in metrics an LLM judge scores online (correctness needs a reference)."""

T = TypeVar("T")
_VIEW = (
    *("request_id", "question", "answer", "answered", "citations", "contexts"),
    *("latency_ms", "cost_usd", "scores"),
)


def in_sample(request_id: str, share: float) -> bool:
    """Whether ``request_id`` falls in the scored share (stable across restarts)."""
    if share >= 1:
        return True
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _case_and_answer(row: dict[str, Any]) -> tuple[GoldenCase, Answer]:
    """A trace as the (case, answer) pair every metric scores; it has no reference."""
    contexts = row.get("contexts") or []
    question = row.get("question") or ""
    case = GoldenCase(id=row["request_id"], question=question if question.strip() else "-")
    answer = Answer(
        text=row.get("answer") or "",
        answered=bool(row.get("answered")),
        citations=list(row.get("citations") or []),
        sources=[str(c.get("source")) for c in contexts],
        contexts=[str(c.get("text")) for c in contexts],
        latency_ms=float(row.get("latency_ms") or 0.0),
        cost_usd=row.get("cost_usd"),
    )
    return case, answer


def _stored(score: Score, judge: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"value": score.value, "outcome": score.outcome, "reason": score.reason}
    if score.raw is not None:
        entry["raw"] = score.raw
    if score.evidence:
        entry["evidence"] = score.evidence
    if judge is not None:
        entry["judge"] = judge
    return entry


@dataclass
class OnlineMetrics:
    """The ``[online_eval]`` metrics besides the local judge, and the loop they run on."""

    deterministic: list[Metric]
    llm: list[Metric]
    llm_sample: float = 0.0
    budget: DailyBudget | None = None
    models: list[BudgetedJudgeModel] = field(default_factory=list)
    judges: dict[str, str] = field(default_factory=dict)  # metric name -> judge model
    batch: int = 16
    max_attempts: int = 3
    budget_skipped: int = 0  # traces marked ``budget`` by this process
    _attempts: dict[str, int] = field(default_factory=dict, init=False)
    # one long-lived loop per pass (each pass may run in its own thread): model clients
    # stay bound to the loop they opened their connections on
    _loops: dict[str, asyncio.AbstractEventLoop] = field(default_factory=dict, init=False)

    def _run(self, coroutine: Coroutine[Any, Any, T], which: str) -> T:
        loop = self._loops.get(which)
        if loop is None:
            loop = self._loops[which] = asyncio.new_event_loop()
        return loop.run_until_complete(coroutine)

    # -- the first pass, with the local judge -----------------------------------------------
    def first_pass(
        self, store: TraceStore, request_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Per sampled trace: the deterministic scores, and whether LLM judging skips it."""
        values: dict[str, dict[str, Any]] = {r: {} for r in request_ids}
        if self.llm:
            for request_id in request_ids:
                if not in_sample(request_id, self.llm_sample):
                    values[request_id]["llm_status"] = "skipped"
        if self.deterministic and request_ids:
            rows = _rows(store, traces.c.request_id.in_(list(request_ids)), len(request_ids))
            for row in rows:
                scores = self._run(self._score(self.deterministic, row), "first")
                values[row["request_id"]]["scores"] = json.dumps(
                    {name: _stored(s) for name, s in scores.items()}
                )
        return values

    async def _score(self, metrics: Sequence[Metric], row: dict[str, Any]) -> dict[str, Score]:
        case, answer = _case_and_answer(row)
        scores: dict[str, Score] = {}
        for metric in metrics:
            if self.budget is not None and metric in self.llm and self.budget.reached():
                break  # checked before each metric's calls, not only once per trace
            scores[metric.name] = await score_safely(metric, case, answer)
        return scores

    # -- the second pass, with LLM judges -----------------------------------------------------
    def llm_pass(self, store: TraceStore) -> int:
        """LLM-judge one batch of waiting traces (newest first); the number marked."""
        if not self.llm:
            return 0
        waiting = sa.and_(traces.c.eval_status == "scored", traces.c.llm_status.is_(None))
        handled = 0
        for row in _rows(store, waiting, self.batch, newest_first=True):
            request_id = row["request_id"]
            earlier = row.get("scores") or {}
            assert self.budget is not None  # built together with the LLM metrics
            if not in_sample(request_id, self.llm_sample):  # scored before LLM judging was on
                store.set_scores(request_id, {"llm_status": "skipped"})
                handled += 1
                continue
            if self.budget.reached():
                store.set_scores(request_id, {"llm_status": "budget"})
                self.budget_skipped += 1
                handled += 1
                continue
            for model in self.models:
                model.refused = False
            scores = self._run(self._score(self.llm, row), "llm")
            new = {n: _stored(s, self.judges.get(n)) for n, s in scores.items()}
            if any(m.refused for m in self.models) or len(scores) < len(self.llm):
                status = "budget"  # refused mid-trace: what was paid for is kept
                self.budget_skipped += 1
            elif any(s.outcome == "error" for s in scores.values()):
                attempts = self._attempts.get(request_id, 0) + 1
                self._attempts[request_id] = attempts
                reason = next(s.reason for s in scores.values() if s.outcome == "error")
                if attempts < self.max_attempts:
                    log.warning("online LLM judging of %s failed (%s); retried", request_id, reason)
                    return handled  # the endpoint is likely down: the rest wait for next time
                log.warning(
                    "online LLM judging of %s failed %d times: %s", request_id, attempts, reason
                )
                status = "failed"
            else:
                status = "scored"
            self._attempts.pop(request_id, None)
            store.set_scores(
                request_id, {"scores": json.dumps({**earlier, **new}), "llm_status": status}
            )
            handled += 1
        return handled

    def close(self) -> None:
        passes: dict[str, Sequence[Metric | BudgetedJudgeModel]] = {
            "first": self.deterministic,
            "llm": self.models,
        }
        for which, loop in self._loops.items():  # connections close on the loop they opened on
            for closable in passes[which]:
                loop.run_until_complete(closable.aclose())
            loop.close()
        self._loops.clear()
        if self.budget is not None:
            self.budget.close()


def _rows(
    store: TraceStore, where: Any, limit: int, *, newest_first: bool = False
) -> list[dict[str, Any]]:
    """The trace fields the metrics read; JSON decoded as ``TraceStore.get`` does."""
    order = traces.c.ts.desc() if newest_first else traces.c.ts
    query = sa.select(*(traces.c[n] for n in _VIEW)).where(where).order_by(order).limit(limit)
    try:
        with store.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
    except sa.exc.SQLAlchemyError as exc:
        raise StoreError(f"{store.shown}: cannot read traces ({exc})") from exc
    for row in rows:
        for name in ("citations", "contexts", "scores"):
            if row.get(name) is not None:
                row[name] = json.loads(row[name])
    return rows


def _judge_name(metric: Metric) -> str:
    """The model behind an LLM-judged metric (a rubric's own, or the built-in judge's)."""
    source = getattr(metric, "model", None) or getattr(metric, "judge", None)
    return str(getattr(source, "name", "?"))


def online_metrics(settings: Settings) -> OnlineMetrics | None:
    """The metrics ``[online_eval]`` asks for; None when only the local judge scores.

    LLM-judged metrics need ``daily_budget_usd`` > 0 (spend is opt-in); asking for one
    by name without a budget, or naming an unknown metric, is a configuration error.
    """
    from ragwright.costs.monitor import monitor_for
    from ragwright.costs.store import open_cost_store
    from ragwright.evals.custom import build_metrics

    config = settings.online_eval
    llm_builtins = [] if settings.judge_model.startswith(LOCAL_PREFIX) else list(LLM_BUILTINS)
    known = {m.name for m in settings.metrics} | set(llm_builtins)
    wanted = known if config.metrics is None else set(config.metrics)
    if unknown := sorted(wanted - known):
        raise ConfigError(
            f"[online_eval] metrics: unknown {', '.join(map(repr, unknown))}; choose from"
            f" {', '.join(sorted(known)) or 'nothing ([[metrics]] is empty, judge_model is local)'}"
        )
    paid = config.daily_budget_usd > 0
    named_llm = [m.name for m in settings.metrics if m.kind == "llm_judge"] + llm_builtins
    if not paid and config.metrics is not None and (asked := sorted(wanted & set(named_llm))):
        raise ConfigError(
            f"[online_eval] metrics: {', '.join(asked)} call a model; set daily_budget_usd"
        )
    configs = [m for m in settings.metrics if m.name in wanted and (paid or m.kind != "llm_judge")]
    built = build_metrics(settings, configs)
    deterministic = [m for m, c in zip(built, configs, strict=True) if c.kind != "llm_judge"]
    llm = [m for m, c in zip(built, configs, strict=True) if c.kind == "llm_judge"]
    result = OnlineMetrics(deterministic, [], llm_sample=config.llm_sample)
    if paid and (llm or set(llm_builtins) & wanted):
        from ragwright.evals.builtin_metrics import HallucinationMetric, RelevanceMetric
        from ragwright.evals.judges.llm import LLMJudge
        from ragwright.evals.judges.registry import judge_from_settings

        monitor = monitor_for(settings)
        budget = DailyBudget(
            lambda: open_cost_store(settings.costs_target),
            monitor,
            limit_usd=config.daily_budget_usd,
            max_calls=config.daily_max_calls,
        )
        holders: list[Any] = list(llm)
        if set(llm_builtins) & wanted:
            judge = judge_from_settings(settings)
            assert isinstance(judge, LLMJudge)  # judge_model is not local here
            holders.append(judge)
            builtins = {"hallucination": HallucinationMetric, "relevance": RelevanceMetric}
            llm += [builtins[n](judge) for n in LLM_BUILTINS if n in wanted]
        for holder in holders:  # LLMRubricMetric and LLMJudge both call through .model
            check_priced(holder.model, monitor.prices, config.daily_max_calls)
            holder.model = BudgetedJudgeModel(holder.model, budget, monitor.prices)
            result.models.append(holder.model)
        result.llm, result.budget = llm, budget
        result.judges = {m.name: _judge_name(m) for m in llm}
    if not (result.deterministic or result.llm):
        return None
    return result
