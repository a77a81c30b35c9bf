"""What a run records about each metric, and each metric's summary over a run's cases."""

from __future__ import annotations

from collections.abc import Iterable
from statistics import fmean

from pydantic import BaseModel, ConfigDict

from ragwright.evals.case_result import CaseResult

__all__ = ["BUILTIN_INFOS", "MetricInfo", "MetricSummary", "summarize_metric", "with_builtins"]


class MetricInfo(BaseModel):
    """A metric as a run saw it: enough to aggregate and gate without the code."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str  # builtin, check, python, llm_judge (or a Metric subclass's own)
    higher_is_better: bool = True
    value_range: tuple[float, float] = (0.0, 1.0)
    uncalibrated_judge: bool = False
    floor: float | None = None
    margin: float | None = None
    gate: bool = True
    label: str = ""  # how rules and tables name it (recall@k); the name when empty
    mean_label: str = ""  # how its mean is named (hallucination rate); the label when empty

    @property
    def worst(self) -> float:
        return self.value_range[0] if self.higher_is_better else self.value_range[1]

    @property
    def builtin(self) -> bool:
        return self.kind == "builtin"

    def value(self, case: CaseResult) -> float | None:
        """The case's value for means and the gate: a failed score counts as the worst
        value; a metric that did not apply to the case (no score, or no value) is None."""
        score = case.scores.get(self.name)
        if score is None:
            return None
        if score.outcome != "ok":
            return self.worst
        return score.value


_NO_UPPER = 1e12  # cost and latency have no natural upper bound; JSON has no infinity

BUILTIN_INFOS: dict[str, MetricInfo] = {
    info.name: info
    for info in (
        MetricInfo(
            name="hallucination",
            kind="builtin",
            higher_is_better=False,
            mean_label="hallucination rate",
        ),
        MetricInfo(
            name="relevance", kind="builtin", value_range=(1.0, 5.0), mean_label="mean relevance"
        ),
        MetricInfo(name="correctness", kind="builtin", label="answer correctness"),
        MetricInfo(name="recall_at_k", kind="builtin", label="recall@k"),
        MetricInfo(name="mrr", kind="builtin", gate=False),
        MetricInfo(name="abstention", kind="builtin", gate=False),
        MetricInfo(
            name="cost", kind="builtin", higher_is_better=False, value_range=(0.0, _NO_UPPER)
        ),
        MetricInfo(
            name="latency", kind="builtin", higher_is_better=False, value_range=(0.0, _NO_UPPER)
        ),
    )
}
"""What every run records about the built-in metrics (their gate settings live in [gate])."""


def with_builtins(metrics: Iterable[MetricInfo]) -> list[MetricInfo]:
    """The built-in metrics first (unless recorded already), then the others in order."""
    given = list(metrics)
    names = {m.name for m in given}
    return [i for n, i in BUILTIN_INFOS.items() if n not in names] + given


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


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]
