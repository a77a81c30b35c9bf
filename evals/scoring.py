"""The one metric interface: a name, a direction, a value range, ``score(case, answer)``.

Modelled on pydantic_evals' ``Evaluator`` and inspect_ai's scorers. A metric
returns a :class:`Score` for every case; a metric that raises is turned into an
explicit ``error`` outcome by :func:`score_safely`, so a broken metric shows up
as a counted failure and never as a dropped row. Unscored cases count as the
metric's worst value wherever a mean or a gate needs a number (conservative).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from ragwright.errors import UserError
from ragwright.evals.golden import GoldenCase
from ragwright.redact import redact

__all__ = ["Answer", "Metric", "Score", "score_safely", "worst"]

ScoreOutcome = Literal["ok", "unparseable", "error"]


class Score(BaseModel):
    """One metric's verdict on one case: ``value`` is None unless ``outcome`` is ok."""

    model_config = ConfigDict(frozen=True)

    value: float | None
    outcome: ScoreOutcome = "ok"
    reason: str = ""
    raw: float | None = None  # the measure behind a thresholded value (a judge's probability)
    evidence: list[str] = []  # the parts of the answer the metric objects to (claims)

    @field_validator("reason")
    @classmethod
    def _no_secrets(cls, value: str) -> str:
        """A reason may quote a provider's reply: redacted before any report shows it."""
        return redact(value)[:500]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the chain produced for a case: all a metric may look at besides the case."""

    text: str
    answered: bool
    citations: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # retrieved chunk sources, in rank order
    contexts: list[str] = field(default_factory=list)  # retrieved chunk texts, same order
    latency_ms: float = 0.0  # the chain, end to end
    model_latency_ms: float | None = None  # the chat model call alone, when it was timed
    cost_usd: float | None = None  # the answer call's price; None when the model is unpriced


class Metric(ABC):
    """Scores one answer to one golden case; must be safe to call concurrently."""

    name: str
    description: str = ""
    higher_is_better: bool = True
    value_range: tuple[float, float] = (0.0, 1.0)
    uncalibrated_judge: bool = False  # an LLM rubric nobody measured against labels
    # True: when the answer call failed nothing was measured (retrieval, latency), so the
    # case is not applicable; False: it counts as this metric's worst value (an error).
    skip_failed_answers: bool = False

    def applies(self, case: GoldenCase) -> bool:
        """Whether the metric scores this case at all (correctness needs a reference)."""
        return True

    @abstractmethod
    async def score(self, case: GoldenCase, answer: Answer) -> Score: ...

    async def aclose(self) -> None:
        """Release connections bound to the running event loop."""
        return None


def worst(metric: Metric) -> float:
    """The value an unscored case counts as: the bad end of the range."""
    low, high = metric.value_range
    return low if metric.higher_is_better else high


async def score_safely(metric: Metric, case: GoldenCase, answer: Answer) -> Score:
    """``metric.score``, with any exception but a user error turned into an error outcome."""
    try:
        result = await metric.score(case, answer)
    except UserError:
        raise  # a broken configuration would fail every case the same way
    except Exception as exc:
        return Score(value=None, outcome="error", reason=f"{type(exc).__name__}: {exc}"[:300])
    low, high = metric.value_range
    if result.value is not None and not low <= result.value <= high:
        return Score(
            value=None,
            outcome="error",
            reason=f"value {result.value} outside the declared range [{low}, {high}]",
        )
    return result
