"""``local/judge``: an offline judge built from the local embedding model and lexical evidence.

Hallucination: the answer is split into claims (sentences, citations removed).
A claim is supported when its content words appear in the retrieved context
and it is close, in embedding space, to some context sentence; a number or a
capitalised name absent from the context counts against it. The answer's score
is the probability that its worst claim is unsupported.

Relevance: cosine similarity of question and answer, and the share of the
question's content words the answer addresses, mapped onto 1-5. A refusal
scores 1: it does not answer the question (whether refusing was right is
measured separately, on cases tagged ``unanswerable``).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ragwright.evals.judges.base import HallucinationVerdict, Judge, RelevanceVerdict
from ragwright.providers.base import Embedder
from ragwright.rag.chain import is_refusal
from ragwright.text import content_words, numbers, sentences

__all__ = ["ClaimEvidence", "LocalJudge", "claim_evidence"]

_CITATION = re.compile(r"\s*\[[^\[\]\n]{1,200}\]")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+(?:\s+[A-Z][a-z]+)*)")


@dataclass(frozen=True, slots=True)
class ClaimEvidence:
    claim: str
    coverage: float  # share of the claim's content words found in the context
    max_similarity: float  # best cosine to a context sentence
    missing_numbers: int
    missing_names: int


def split_claims(answer: str) -> list[str]:
    return [s for s in sentences(_CITATION.sub("", answer)) if content_words(s)]


def claim_evidence(
    claims: Sequence[str], contexts: Sequence[str], embedder: Embedder
) -> list[ClaimEvidence]:
    context_text = "\n\n".join(contexts)
    context_words = content_words(context_text)
    context_numbers = numbers(context_text)
    context_lower = context_text.lower()
    context_sentences = sentences(context_text) or [context_text]
    vectors = embedder.encode([*claims, *context_sentences])
    similarity = vectors[: len(claims)] @ vectors[len(claims) :].T
    evidence = []
    for index, claim in enumerate(claims):
        words = content_words(claim)
        names = {n for n in _NAME.findall(claim) if n.lower() not in context_lower}
        evidence.append(
            ClaimEvidence(
                claim=claim,
                coverage=len(words & context_words) / max(1, len(words)),
                max_similarity=float(similarity[index].max()) if similarity.size else 0.0,
                missing_numbers=len(numbers(claim) - context_numbers),
                missing_names=len(names),
            )
        )
    return evidence


class LocalJudge(Judge):
    name = "local/judge"
    is_local = True

    # Hand-set logistic weights (first version). The eval calibration replaces them
    # with coefficients fitted on human-labelled data.
    weights: ClassVar[dict[str, float]] = {
        "bias": 6.0,
        "coverage": -6.5,
        "max_similarity": -4.0,
        "missing_numbers": 2.5,
        "missing_names": 1.0,
    }

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def unsupported_probability(self, evidence: ClaimEvidence) -> float:
        w = self.weights
        z = (
            w["bias"]
            + w["coverage"] * evidence.coverage
            + w["max_similarity"] * evidence.max_similarity
            + w["missing_numbers"] * evidence.missing_numbers
            + w["missing_names"] * evidence.missing_names
        )
        return 1.0 / (1.0 + math.exp(-z))

    def _hallucination(self, answer: str, contexts: Sequence[str]) -> HallucinationVerdict:
        if is_refusal(answer):
            return HallucinationVerdict(False, 0.0, [], detail="the answer declines")
        claims = split_claims(answer)
        if not claims:
            return HallucinationVerdict(False, 0.0, [], detail="no factual claims")
        if not any(c.strip() for c in contexts):
            return HallucinationVerdict(True, 1.0, claims, detail="no context retrieved")
        evidence = claim_evidence(claims, contexts, self.embedder)
        probabilities = [self.unsupported_probability(e) for e in evidence]
        unsupported = [e.claim for e, p in zip(evidence, probabilities, strict=True) if p >= 0.5]
        score = max(probabilities)
        return HallucinationVerdict(
            score >= 0.5,
            round(score, 4),
            unsupported,
            detail=f"{len(unsupported)}/{len(claims)} claims unsupported",
        )

    def _relevance(self, question: str, answer: str) -> RelevanceVerdict:
        if is_refusal(answer):
            return RelevanceVerdict(1, "the answer declines to answer")
        text = _CITATION.sub("", answer)
        vectors = self.embedder.encode([question, text])
        cosine = float(vectors[0] @ vectors[1])
        q_words = content_words(question)
        addressed = len(q_words & content_words(text)) / max(1, len(q_words))
        strength = float(np.clip(0.7 * (cosine - 0.15) / 0.5 + 0.3 * addressed, 0.0, 1.0))
        score = 1 + round(4 * strength)
        return RelevanceVerdict(
            score,
            f"similarity {cosine:.2f}; {addressed:.0%} of the question's content words addressed",
        )

    async def hallucination(
        self, question: str, answer: str, contexts: Sequence[str]
    ) -> HallucinationVerdict:
        return await asyncio.to_thread(self._hallucination, answer, contexts)

    async def relevance(self, question: str, answer: str) -> RelevanceVerdict:
        return await asyncio.to_thread(self._relevance, question, answer)
