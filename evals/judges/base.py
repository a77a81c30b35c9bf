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

__all__ = ["HallucinationVerdict", "Judge", "Outcome", "RelevanceVerdict"]

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
