"""Results of an eval run: one record per case, and the run's summary statistics.

Every case yields a :class:`CaseResult`, including cases whose model call
failed (``error``) and cases a judge could not score: its call failed (judge
``error``) or its reply did not parse (``unparseable``). Each kind is counted
apart, per metric for the judge, and shown: a judge failure is scored as the
worst value (conservative for the gate), so a table that hid the count would
pass off a broken judge as a bad answer. No aggregate is NaN.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from statistics import fmean

from pydantic import BaseModel, ConfigDict, model_validator

from ragwright.costs.store import percentile
from ragwright.evals.case_result import CaseResult
from ragwright.evals.metric_info import (
    BUILTIN_INFOS,
    MetricInfo,
    MetricSummary,
    summarize_metric,
    with_builtins,
)
from ragwright.evals.scoring import Score

METRICS = ("hallucination", "relevance", "correctness")  # the judged metrics

__all__ = [
    "BUILTIN_INFOS",
    "METRICS",
    "CaseResult",
    "EvalRun",
    "MetricInfo",
    "MetricSummary",
    "MonitorStats",
    "RunSummary",
    "correctness_value",
    "hallucination_value",
    "relevance_value",
    "summarize",
    "with_builtins",
]


class RunSummary(BaseModel):
    """The run's aggregates. The named fields are the built-in metrics' means under the
    keys they always had (reports, MLflow and ``--json`` keep them); ``metrics`` holds
    every metric's mean and failure counts, built-in and custom, by name."""

    model_config = ConfigDict(frozen=True)

    cases: int
    errors: int  # cases whose answer call failed: no metric could be judged
    unparseable: int  # cases with a judge reply that did not parse, for any metric
    # Answered cases whose judge call failed, per metric (hallucination, relevance,
    # correctness). Scored as the worst value, like errors and unparseable replies.
    judge_errors: dict[str, int] = {}
    hallucination_rate: float  # errors and unparseable count as hallucinated
    mean_relevance: float  # errors and unparseable count as 1
    mean_correctness: float | None = None  # cases with a reference; errors count as 0
    recall_at_k: float | None
    mrr: float | None
    answered_rate: float  # among answerable cases
    abstention_rate: float | None  # among cases tagged unanswerable: share correctly declined
    p50_latency_ms: float
    p95_latency_ms: float
    # the chat model call alone, under the same load (None: no call was timed, older runs)
    p95_model_latency_ms: float | None = None
    total_tokens: int
    tokens_estimated: bool
    cost_usd: float | None  # None when any call had no known price
    metrics: dict[str, MetricSummary] = {}  # every metric, by name

    @property
    def judge_error_count(self) -> int:
        """Judge failures of all metrics together (a case may count once per metric)."""
        return sum(self.judge_errors.values())


class MonitorStats(BaseModel):
    """The run's model calls as the cost monitor recorded them (tag ``eval_run``)."""

    model_config = ConfigDict(frozen=True)

    calls: int
    tokens: int
    estimated_calls: int
    cost_usd: float | None
    p50_ms: float
    p95_ms: float


class EvalRun(BaseModel):
    run_id: str
    started_at: datetime
    finished_at: datetime
    prompt: str
    prompt_hash: str
    golden_set: str
    golden_set_hash: str
    chat_model: str
    chat_model_local: bool
    chat_model_reads_wording: bool = True  # False: local/extractive ignores the template text
    judge: str
    judge_local: bool
    judge_prompts: list[str] = []
    calibration: str | None = None  # the judge's calibration record cited by this run
    judge_balanced_accuracy: float | None = None
    index_version: str
    top_k: int
    # every metric of the run: the built-ins, then [[metrics]] in configuration order
    metrics: list[MetricInfo] = list(BUILTIN_INFOS.values())
    cases: list[CaseResult]
    summary: RunSummary
    mlflow_run_id: str | None = None
    monitor: MonitorStats | None = None
    # Judge calls (LLM judges and rubric metrics) of the whole evaluation this run was part
    # of: versions are judged interleaved, so the spend is shared, not split per version.
    judge_monitor: MonitorStats | None = None

    @model_validator(mode="after")
    def _every_metric_recorded(self) -> EvalRun:
        """Runs stored before the built-ins were metrics list only the custom ones, and
        their failed cases carry no custom score: both read as a new run would."""
        if any(name not in {m.name for m in self.metrics} for name in BUILTIN_INFOS):
            self.metrics = with_builtins(self.metrics)
            self.cases = [_failed_scored(case, self.metrics) for case in self.cases]
        missing = [m for m in self.metrics if m.name not in self.summary.metrics]
        if missing:
            update = {m.name: summarize_metric(m, self.cases) for m in missing}
            self.summary = self.summary.model_copy(
                update={"metrics": {**update, **self.summary.metrics}}
            )
        return self

    @property
    def custom_metrics(self) -> list[MetricInfo]:
        """The project's own metrics ([[metrics]] tables, Metric subclasses)."""
        return [m for m in self.metrics if not m.builtin]


def _failed_scored(case: CaseResult, metrics: list[MetricInfo]) -> CaseResult:
    """A failed case of an old run: custom metrics count it as an error, as they did."""
    if not case.error:
        return case
    failed = Score(value=None, outcome="error", reason="the answer call failed")
    scores = {m.name: failed for m in metrics if not m.builtin and m.name not in case.scores}
    return case.model_copy(update={"scores": {**case.scores, **scores}}) if scores else case


def hallucination_value(case: CaseResult) -> float:
    """Per-case value the gate compares: 1 = hallucinated (or could not be judged)."""
    value = BUILTIN_INFOS["hallucination"].value(case)
    return 1.0 if value is None else value


def relevance_value(case: CaseResult) -> float:
    value = BUILTIN_INFOS["relevance"].value(case)
    return 1.0 if value is None else value


def correctness_value(case: CaseResult) -> float | None:
    """Agreement with the reference (0-1); None without a reference, 0 if not judged."""
    return BUILTIN_INFOS["correctness"].value(case)


def summarize(cases: list[CaseResult], metrics: Iterable[MetricInfo] = ()) -> RunSummary:
    """Every metric's summary (the built-ins' whether listed or not) and the run totals."""
    infos = with_builtins(metrics)
    per_metric = {info.name: summarize_metric(info, cases) for info in infos}

    def mean(name: str) -> float | None:
        return per_metric[name].mean

    answerable = [c for c in cases if c.answerable]
    latencies = [c.latency_ms for c in cases if c.error is None]
    model = [c.model_latency_ms for c in cases if c.model_latency_ms is not None]
    costs = [c.cost_usd for c in cases]
    return RunSummary(
        cases=len(cases),
        errors=sum(1 for c in cases if c.error),
        unparseable=sum(
            1 for c in cases if any(c.outcome(metric) == "unparseable" for metric in METRICS)
        ),
        judge_errors={
            metric: sum(1 for c in cases if c.error is None and c.outcome(metric) == "error")
            for metric in METRICS
        },
        hallucination_rate=mean("hallucination") or 0.0,
        mean_relevance=mean("relevance") or 0.0,
        mean_correctness=mean("correctness"),
        recall_at_k=mean("recall_at_k"),
        mrr=mean("mrr"),
        answered_rate=fmean(1.0 if c.answered else 0.0 for c in answerable) if answerable else 0.0,
        abstention_rate=mean("abstention"),
        p50_latency_ms=percentile(latencies, 0.50),
        p95_latency_ms=percentile(latencies, 0.95),
        p95_model_latency_ms=percentile(model, 0.95) if model else None,
        total_tokens=sum(c.total_tokens for c in cases),
        tokens_estimated=any(c.tokens_estimated for c in cases),
        cost_usd=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        metrics=per_metric,
    )
