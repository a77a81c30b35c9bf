"""The judge interface and its typed verdicts.

A verdict always exists for every case: a judge that cannot produce one returns
an explicit ``unparseable`` or ``error`` outcome, which reports count and show;
nothing is dropped and no aggregate is ever NaN.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ragwright.text import content_words

__all__ = [
    "CorrectnessVerdict",
    "HallucinationVerdict",
    "Judge",
    "Outcome",
    "RelevanceVerdict",
    "reference_recall",
]

Outcome = Literal["ok", "unparseable", "error"]


@dataclass(frozen=True, slots=True)
class HallucinationVerdict:
    hallucinated: bool | None  # None unless outcome == "ok"
    score: float | None  # 0 = fully grounded, 1 = entirely unsupported
    unsupported_claims: list[str] = field(default_factory=list)
    outcome: Outcome = "ok"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RelevanceVerdict:
    score: int | None  # 1-5
    reason: str = ""
    outcome: Outcome = "ok"


@dataclass(frozen=True, slots=True)
class CorrectnessVerdict:
    """Agreement with the golden set's reference answer: 0 = none, 1 = full."""

    score: float | None  # None unless outcome == "ok"
    reason: str = ""
    outcome: Outcome = "ok"


def reference_recall(answer: str, reference: str) -> float:
    """Share of the reference's content words (stemmed, no stop words) found in the answer.

    The offline correctness measure: recall rather than F1, because a good answer
    may say more than a terse reference, and a refusal shares nothing with it.
    """
    wanted = content_words(reference)
    if not wanted:
        return 1.0
    return len(wanted & content_words(answer)) / len(wanted)


class Judge(ABC):
    """Scores one answer; implementations must be safe to call concurrently."""

    name: str
    is_local: bool = False

    @property
    def prompt_refs(self) -> list[str]:
        """Judge prompt versions with hashes, for lineage; none for judges without prompts."""
        return []

    @abstractmethod
    async def hallucination(
        self, question: str, answer: str, contexts: Sequence[str]
    ) -> HallucinationVerdict: ...

    @abstractmethod
    async def relevance(self, question: str, answer: str) -> RelevanceVerdict: ...

    async def correctness(self, question: str, answer: str, reference: str) -> CorrectnessVerdict:
        """Agreement with the reference answer; by default lexical (``reference_recall``).

        Lexical recall needs no model and is deterministic, which suits the local
        judge; an LLM judge overrides this with a versioned judge prompt.
        """
        score = round(reference_recall(answer, reference), 4)
        return CorrectnessVerdict(score, f"{score:.0%} of the reference's content words")

    async def aclose(self) -> None:
        """Release connections bound to the running event loop (see ``ChatModel.aclose``)."""
        return None  # local judges hold no connections
