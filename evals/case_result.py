"""One case of an eval run: what the chain answered and every metric's :class:`Score`.

Runs stored before the built-in metrics moved into ``scores`` kept them in flat
fields (``hallucinated``, ``relevance_outcome``, ...): :class:`CaseResult` reads
those too, so ``eval compare`` re-gates old MLflow runs, and offers the old names
as read-only views of the scores.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ragwright.evals.scoring import Score
from ragwright.redact import redact

__all__ = ["CaseResult"]


_LEGACY_KEYS = (
    "recall_at_k",
    "reciprocal_rank",
    "hallucinated",
    "hallucination_score",
    "unsupported_claims",
    "hallucination_outcome",
    "hallucination_detail",
    "relevance",
    "relevance_reason",
    "relevance_outcome",
    "correctness",
    "correctness_reason",
    "correctness_outcome",
)


def _legacy_scores(data: dict[str, Any]) -> dict[str, Score]:
    """Built-in scores from the flat fields runs were stored with before ``scores`` held them.

    Old ``run.json`` artifacts in MLflow (``eval compare``) and hand-built cases read
    the same as new ones: an unjudged or failed judge is an error (the worst value).
    """
    flat = {key: data.pop(key) for key in _LEGACY_KEYS if key in data}
    scores: dict[str, Score] = {}

    def judged(value: float | None, outcome: str | None, reason: str) -> Score:
        if outcome in ("unparseable", "error") or value is None:
            return Score(value=None, outcome=outcome if outcome != "ok" else "error", reason=reason)
        return Score(value=value, reason=reason)

    hallucinated = flat.get("hallucinated")
    scores["hallucination"] = judged(
        None if hallucinated is None else float(hallucinated),
        flat.get("hallucination_outcome", "ok"),
        flat.get("hallucination_detail") or "",
    ).model_copy(
        update={
            "raw": flat.get("hallucination_score"),
            "evidence": list(flat.get("unsupported_claims") or []),
        }
    )
    relevance = flat.get("relevance")
    scores["relevance"] = judged(
        None if relevance is None else float(relevance),
        flat.get("relevance_outcome", "ok"),
        flat.get("relevance_reason") or "",
    )
    if data.get("reference_answer") is not None:
        scores["correctness"] = judged(
            flat.get("correctness"),
            flat.get("correctness_outcome") or "error",
            flat.get("correctness_reason") or "",
        )
    if flat.get("recall_at_k") is not None:
        scores["recall_at_k"] = Score(value=flat["recall_at_k"])
    if flat.get("reciprocal_rank") is not None:
        scores["mrr"] = Score(value=flat["reciprocal_rank"])
    if not data.get("error") and not data.get("answerable", True):
        scores["abstention"] = Score(value=0.0 if data.get("answered") else 1.0)
    return scores


class CaseResult(BaseModel):
    """One case of a run: what the chain answered and every metric's :class:`Score`."""

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
    reference_answer: str | None = None
    latency_ms: float = 0.0  # the chain, end to end
    model_latency_ms: float | None = None  # the chat model call alone, when it was timed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tokens_estimated: bool = False
    cost_usd: float | None = 0.0
    error: str | None = None
    # every metric, built-in (hallucination, relevance, ...) and [[metrics]], by name; a
    # metric that does not apply to the case (correctness without a reference) is absent
    scores: dict[str, Score] = {}

    @model_validator(mode="before")
    @classmethod
    def _from_flat_fields(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        scores = dict(data.get("scores") or {})
        if any(key in data for key in _LEGACY_KEYS):
            scores = {**_legacy_scores(data), **scores}
        if not data.get("error"):  # runs stored before cost and latency were metrics
            scores.setdefault("latency", Score(value=data.get("latency_ms", 0.0)))
            scores.setdefault("cost", Score(value=data.get("cost_usd", 0.0)))
        data["scores"] = scores
        return data

    @field_validator("error")
    @classmethod
    def _no_secrets(cls, value: str | None) -> str | None:
        """Failure texts may quote a provider's reply: redacted before any report or log
        shows them, and again when an older run record is loaded."""
        return None if value is None else redact(value)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def _value(self, metric: str) -> float | None:
        score = self.scores.get(metric)
        return None if score is None else score.value

    def outcome(self, metric: str) -> str | None:
        """The metric's outcome: ok, unparseable, error; None if it did not apply."""
        score = self.scores.get(metric)
        return None if score is None else score.outcome

    # Read-only views of the built-in scores, under the names the flat fields had.
    @property
    def hallucinated(self) -> bool | None:
        value = self._value("hallucination")
        return None if value is None else value >= 0.5

    @property
    def hallucination_score(self) -> float | None:
        score = self.scores.get("hallucination")
        return None if score is None else score.raw

    @property
    def unsupported_claims(self) -> list[str]:
        score = self.scores.get("hallucination")
        return [] if score is None else score.evidence

    @property
    def hallucination_outcome(self) -> str:
        return self.outcome("hallucination") or "error"

    @property
    def hallucination_detail(self) -> str:
        score = self.scores.get("hallucination")
        return score.reason if score is not None and score.outcome != "ok" else ""

    @property
    def relevance(self) -> int | None:
        value = self._value("relevance")
        return None if value is None else round(value)

    @property
    def relevance_reason(self) -> str:
        score = self.scores.get("relevance")
        return "" if score is None else score.reason

    @property
    def relevance_outcome(self) -> str:
        return self.outcome("relevance") or "error"

    @property
    def correctness(self) -> float | None:
        return self._value("correctness")

    @property
    def correctness_reason(self) -> str:
        score = self.scores.get("correctness")
        return "" if score is None else score.reason

    @property
    def correctness_outcome(self) -> str | None:
        return self.outcome("correctness")

    @property
    def recall_at_k(self) -> float | None:
        return self._value("recall_at_k")

    @property
    def reciprocal_rank(self) -> float | None:
        return self._value("mrr")
