"""``local/judge``: an offline judge built from the local embedding model and lexical evidence.

Hallucination: the answer is split into claims (sentences, citations removed)
and described by eleven answer-level FEATURES (``ragwright.grounding_features``):
how much of it is found in the retrieved context (content words, all tokens,
the longest copied run), how much of the context it draws on, how close its
worst claim is to any context sentence (embeddings), and what it adds that no
context can support (tokens, numbers, capitalised names, statements about the
speaker, questions). A logistic model whose coefficients live in
``local_weights.json`` maps them to P(unsupported).

The same model is also applied to every claim alone, so that one invented
sentence inside a long, otherwise grounded answer is not averaged away; a
claim naming a number or a name the context lacks is unsupported with the
probability estimated for that evidence at fitting time. The answer's score is
the largest of these, and the claims that score high on their own are the
ones reports list as unsupported. Chit-chat fragments ("Sure!") do not count
on their own.

The coefficients are fitted by ``ragwright.evals.calibration`` on human
attribution labels (BEGIN); the runtime needs numpy only. Reading them from a
committed JSON file keeps the judge deterministic and every change to it a
reviewable diff.

Relevance: cosine similarity of question and answer mapped onto 1-5 (the
mapping is checked against constructed negatives: answers paired with other
questions; see ``relevance_strength``). A refusal
scores 1: it does not answer the question (whether refusing was right is
measured separately, on cases tagged ``unanswerable``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from ragwright.evals.judges.base import HallucinationVerdict, Judge, RelevanceVerdict
from ragwright.grounding import (
    CITATION,
    FEATURES,
    WEIGHTS_PATH,
    AnswerAnalysis,
    ClaimEvidence,
    ContextEvidence,
    GroundingModel,
    LogisticWeights,
    answer_features,
    claim_evidence,
    content_word_share,
    default_weights,
    split_claims,
    split_sentences,
)
from ragwright.rag.chain import is_refusal
from ragwright.text import content_words

__all__ = [
    "FEATURES",
    "WEIGHTS_PATH",
    "AnswerAnalysis",
    "ClaimEvidence",
    "ContextEvidence",
    "LocalJudge",
    "LogisticWeights",
    "answer_features",
    "claim_evidence",
    "content_word_share",
    "default_weights",
    "split_claims",
    "split_sentences",
]


class LocalJudge(GroundingModel, Judge):
    """Offline judge; ``weights`` defaults to the committed ``local_weights.json``.

    Embeddings are cached in memory (bounded), so calibration and evaluation
    runs that see the same context many times encode it once; ``prefetch``
    encodes a whole labelled set in large batches, which is several times faster
    than one small batch per answer.
    """

    name = "local/judge"
    is_local = True
    cache_size = 50_000

    def verdict(self, answer: str, contexts: Sequence[str]) -> HallucinationVerdict:
        """The hallucination verdict, synchronously (``hallucination`` runs this in a thread)."""
        if is_refusal(answer):
            return HallucinationVerdict(False, 0.0, [], detail="the answer declines")
        found = self.assess(answer, contexts)
        return HallucinationVerdict(
            found.hallucinated, found.score, found.unsupported_claims, detail=found.detail
        )

    # -- relevance ----------------------------------------------------------------------------

    def relevance_strength(self, question: str, answer: str) -> tuple[float, float, float]:
        """(strength in [0, 1], cosine, share of the question's content words addressed).

        Strength is the question/answer cosine mapped linearly from 0.05 (and
        below) to 0.55 (and above). The share of question words is reported but
        no longer scored: on true vs constructed pairs (CovidQA, HaluEval) it
        lowered the separation, since a good short answer ("Delhi") rarely
        repeats the question's words. See benchmarks/calibration.py.
        """
        text = CITATION.sub("", answer)
        vectors = self.embed([question, text])
        cosine = float(vectors[0] @ vectors[1])
        q_words = content_words(question)
        addressed = len(q_words & content_words(text)) / max(1, len(q_words))
        strength = float(np.clip((cosine - 0.05) / 0.5, 0.0, 1.0))
        return strength, cosine, addressed

    def relevance_verdict(self, question: str, answer: str) -> RelevanceVerdict:
        if is_refusal(answer):
            return RelevanceVerdict(1, "the answer declines to answer")
        strength, cosine, addressed = self.relevance_strength(question, answer)
        score = 1 + round(4 * strength)
        return RelevanceVerdict(
            score,
            f"similarity {cosine:.2f}; {addressed:.0%} of the question's content words addressed",
        )

    async def hallucination(
        self, question: str, answer: str, contexts: Sequence[str]
    ) -> HallucinationVerdict:
        return await asyncio.to_thread(self.verdict, answer, contexts)

    async def relevance(self, question: str, answer: str) -> RelevanceVerdict:
        return await asyncio.to_thread(self.relevance_verdict, question, answer)
