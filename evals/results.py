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

from pydantic import BaseModel, ConfigDict, field_validator

from ragwright.costs.store import percentile
from ragwright.evals.scoring import Score
from ragwright.redact import redact

METRICS = ("hallucination", "relevance", "correctness")  # the judged metrics

__all__ = [
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
]


class CaseResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    question: str
    tags: list[str]
    answerable: bool
    answer: str = ""
    answered: bool = False
    citations: list[str] = []
    retrieved_sources: list[str] = []
    contexts: list[str] = []
    expected_sources: list[str] = []
    recall_at_k: float | None = None
    reciprocal_rank: float | None = None
    hallucinated: bool | None = None
    hallucination_score: float | None = None
    unsupported_claims: list[str] = []
    hallucination_outcome: str = "ok"
    hallucination_detail: str = ""  # why the judge failed, when it did
    relevance: int | None = None
    relevance_reason: str = ""
    relevance_outcome: str = "ok"
    reference_answer: str | None = None
    correctness: float | None = None  # 0-1 agreement with the reference answer
    correctness_reason: str = ""
    correctness_outcome: str | None = None  # None: the case has no reference answer
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float | None = 0.0
    error: str | None = None
    scores: dict[str, Score] = {}  # custom metrics ([[metrics]]), by name

    @field_validator("error", "hallucination_detail", "relevance_reason", "correctness_reason")
    @classmethod
    def _no_secrets(cls, value: str | None) -> str | None:
        """Failure texts may quote a provider's reply: redacted before any report or log
        shows them, and again when an older run record is loaded."""
        return None if value is None else redact(value)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def outcome(self, metric: str) -> str | None:
        """The judge's outcome for ``metric``: ok, unparseable, error; None if not judged."""
        return {
            "hallucination": self.hallucination_outcome,
            "relevance": self.relevance_outcome,
            "correctness": self.correctness_outcome,
        }[metric]


class MetricInfo(BaseModel):
    """A custom metric as a run saw it: enough to aggregate and gate without the code."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    higher_is_better: bool = True
    value_range: tuple[float, float] = (0.0, 1.0)
    uncalibrated_judge: bool = False
    floor: float | None = None
    margin: float | None = None
    gate: bool = True

    @property
    def worst(self) -> float:
        return self.value_range[0] if self.higher_is_better else self.value_range[1]

    def value(self, case: CaseResult) -> float | None:
        """The case's value for means and the gate: unscored counts as worst; n/a is None."""
        score = case.scores.get(self.name)
        if case.error or score is None or score.outcome != "ok":
            return self.worst
        return score.value


class MetricSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    mean: float | None  # None when the metric applied to no case
    scored: int
    errors: int
    unparseable: int


def summarize_metric(info: MetricInfo, cases: list[CaseResult]) -> MetricSummary:
    values = _present(info.value(c) for c in cases)
    outcomes = [c.scores[info.name].outcome for c in cases if info.name in c.scores]
    return MetricSummary(
        mean=fmean(values) if values else None,
        scored=outcomes.count("ok"),
        errors=outcomes.count("error"),
        unparseable=outcomes.count("unparseable"),
    )


class RunSummary(BaseModel):
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
    total_tokens: int
    tokens_estimated: bool
    cost_usd: float | None  # None when any call had no known price
    metrics: dict[str, MetricSummary] = {}  # custom metrics, by name

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
    metrics: list[MetricInfo] = []  # custom metrics, in configuration order
    cases: list[CaseResult]
    summary: RunSummary
    mlflow_run_id: str | None = None
    monitor: MonitorStats | None = None
    # Judge calls (LLM judges and rubric metrics) of the whole evaluation this run was part
    # of: versions are judged interleaved, so the spend is shared, not split per version.
    judge_monitor: MonitorStats | None = None


def hallucination_value(case: CaseResult) -> float:
    """Per-case value the gate compares: 1 = hallucinated (or could not be judged)."""
    if case.error or case.hallucination_outcome != "ok" or case.hallucinated is None:
        return 1.0
    return 1.0 if case.hallucinated else 0.0


def relevance_value(case: CaseResult) -> float:
    if case.error or case.relevance_outcome != "ok" or case.relevance is None:
        return 1.0
    return float(case.relevance)


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def correctness_value(case: CaseResult) -> float | None:
    """Agreement with the reference (0-1); None without a reference, 0 if not judged."""
    if case.reference_answer is None:
        return None
    if case.error or case.correctness_outcome != "ok" or case.correctness is None:
        return 0.0
    return case.correctness


def summarize(cases: list[CaseResult], metrics: Iterable[MetricInfo] = ()) -> RunSummary:
    recalls = [c.recall_at_k for c in cases if c.recall_at_k is not None]
    ranks = [c.reciprocal_rank for c in cases if c.reciprocal_rank is not None]
    answerable = [c for c in cases if c.answerable]
    unanswerable = [c for c in cases if not c.answerable]
    latencies = [c.latency_ms for c in cases if c.error is None]
    costs = [c.cost_usd for c in cases]
    correct = _present(map(correctness_value, cases))
    return RunSummary(
        cases=len(cases),
        errors=sum(1 for c in cases if c.error),
        unparseable=sum(
            1
            for c in cases
            if "unparseable"
            in (c.hallucination_outcome, c.relevance_outcome, c.correctness_outcome)
        ),
        judge_errors={
            metric: sum(1 for c in cases if c.error is None and c.outcome(metric) == "error")
            for metric in METRICS
        },
        hallucination_rate=fmean(hallucination_value(c) for c in cases) if cases else 0.0,
        mean_relevance=fmean(relevance_value(c) for c in cases) if cases else 0.0,
        mean_correctness=fmean(correct)
        if (correct := _present(map(correctness_value, cases)))
        else None,
        recall_at_k=fmean(recalls) if recalls else None,
        mrr=fmean(ranks) if ranks else None,
        answered_rate=fmean(1.0 if c.answered else 0.0 for c in answerable) if answerable else 0.0,
        abstention_rate=(
            fmean(0.0 if c.answered else 1.0 for c in unanswerable) if unanswerable else None
        ),
        p50_latency_ms=percentile(latencies, 0.50),
        p95_latency_ms=percentile(latencies, 0.95),
        total_tokens=sum(c.total_tokens for c in cases),
        tokens_estimated=any(c.tokens_estimated for c in cases),
        cost_usd=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        metrics={info.name: summarize_metric(info, cases) for info in metrics},
    )
