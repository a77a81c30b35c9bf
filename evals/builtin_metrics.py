"""The built-in metrics, as :class:`Metric` objects like any custom one.

Hallucination, relevance and correctness ask the run's :class:`Judge`; recall@k,
MRR and abstention read the retrieved sources and the answer; cost and latency
read what the answer call measured. Their scores land in ``CaseResult.scores``
next to the custom metrics', and the summary, reports, MLflow and the gate read
them there. :data:`BUILTIN_INFOS` is what a run records about them.
"""

from __future__ import annotations

from ragwright.evals.golden import GoldenCase
from ragwright.evals.judges.base import Judge
from ragwright.evals.metrics import recall_at_k, reciprocal_rank
from ragwright.evals.results import BUILTIN_INFOS
from ragwright.evals.scoring import Answer, Metric, Score

__all__ = ["builtin_metrics"]

_NO_UPPER = BUILTIN_INFOS["cost"].value_range[1]  # cost and latency have no natural bound


class HallucinationMetric(Metric):
    """1 when the judge finds a claim the retrieved sources do not support, else 0."""

    name = "hallucination"
    higher_is_better = False

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        verdict = await self.judge.hallucination(case.question, answer.text, answer.contexts)
        if verdict.outcome != "ok" or verdict.hallucinated is None:
            failed = verdict.outcome if verdict.outcome != "ok" else "error"
            return Score(value=None, outcome=failed, reason=verdict.detail or "not judged")
        return Score(
            value=1.0 if verdict.hallucinated else 0.0,
            raw=verdict.score,
            evidence=verdict.unsupported_claims,
        )


class RelevanceMetric(Metric):
    """The judge's 1-5 relevance of the answer to the question."""

    name = "relevance"
    value_range = (1.0, 5.0)

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        verdict = await self.judge.relevance(case.question, answer.text)
        value = None if verdict.outcome != "ok" or verdict.score is None else float(verdict.score)
        if value is None:
            failed = verdict.outcome if verdict.outcome != "ok" else "error"
            return Score(value=None, outcome=failed, reason=verdict.reason)
        return Score(value=value, reason=verdict.reason)


class CorrectnessMetric(Metric):
    """Agreement (0-1) with the golden case's reference answer; only cases that have one."""

    name = "correctness"

    def __init__(self, judge: Judge) -> None:
        self.judge = judge

    def applies(self, case: GoldenCase) -> bool:
        return case.reference_answer is not None

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        assert case.reference_answer is not None  # applies() keeps the others out
        verdict = await self.judge.correctness(case.question, answer.text, case.reference_answer)
        if verdict.outcome != "ok" or verdict.score is None:
            failed = verdict.outcome if verdict.outcome != "ok" else "error"
            return Score(value=None, outcome=failed, reason=verdict.reason)
        return Score(value=verdict.score, reason=verdict.reason)


class RecallAtK(Metric):
    """Share of the expected sources among the first k retrieved chunks."""

    name = "recall_at_k"
    skip_failed_answers = True

    def __init__(self, k: int) -> None:
        self.k = k

    def applies(self, case: GoldenCase) -> bool:
        return bool(case.expected_sources)

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        return Score(value=recall_at_k(case.expected_sources, answer.sources, self.k))


class MRR(Metric):
    """1/rank of the first chunk from an expected source (0 if none)."""

    name = "mrr"
    skip_failed_answers = True

    def applies(self, case: GoldenCase) -> bool:
        return bool(case.expected_sources)

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        return Score(value=reciprocal_rank(case.expected_sources, answer.sources))


class Abstention(Metric):
    """On a case the sources cannot answer: 1 when the chain declined, 0 when it answered."""

    name = "abstention"

    def applies(self, case: GoldenCase) -> bool:
        return not case.answerable

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        return Score(value=0.0 if answer.answered else 1.0)


class Cost(Metric):
    """USD of the answer call; not applicable when the model has no known price."""

    name = "cost"
    higher_is_better = False
    value_range = (0.0, _NO_UPPER)
    skip_failed_answers = True

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        return Score(value=answer.cost_usd)


class Latency(Metric):
    """Milliseconds of the chain, end to end (``raw``: the model call alone, when timed)."""

    name = "latency"
    higher_is_better = False
    value_range = (0.0, _NO_UPPER)
    skip_failed_answers = True

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        return Score(value=round(answer.latency_ms, 2), raw=answer.model_latency_ms)


def builtin_metrics(judge: Judge, top_k: int) -> list[Metric]:
    """The built-in metrics of a run, in the order reports show them."""
    return [
        HallucinationMetric(judge),
        RelevanceMetric(judge),
        CorrectnessMetric(judge),
        RecallAtK(top_k),
        MRR(),
        Abstention(),
        Cost(),
        Latency(),
    ]
