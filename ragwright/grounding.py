"""The local hallucination (groundedness) model: logistic weights, embeddings, verdict.

Kernel code shared by the local eval judge (``ragwright.evals.judges.local``) and
the groundedness guardrail, so neither imports the other's layer.

An answer is split into claims and described by the answer-level FEATURES of
:mod:`ragwright.grounding_features` (lexical evidence, plus the one embedding
feature computed here: how close its worst claim is to any context sentence).
A logistic model whose coefficients live in ``evals/judges/local_weights.json``
maps them to P(unsupported). The same model scores every claim alone, so one
invented sentence in a long grounded answer is not averaged away.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from ragwright.grounding_features import (
    CITATION,
    FEATURES,
    ContextEvidence,
    answer_features,
    content_word_share,
    context_sentences,
    split_claims,
    split_sentences,
)
from ragwright.linear import check_model
from ragwright.providers.base import Embedder
from ragwright.text import content_words

__all__ = [
    "CITATION",
    "FEATURES",
    "WEIGHTS_PATH",
    "AnswerAnalysis",
    "ClaimEvidence",
    "ContextEvidence",
    "Grounding",
    "GroundingModel",
    "LogisticWeights",
    "answer_features",
    "claim_evidence",
    "content_word_share",
    "default_weights",
    "split_claims",
    "split_sentences",
]

WEIGHTS_PATH = Path(__file__).parent / "evals" / "judges" / "local_weights.json"


@dataclass(frozen=True, slots=True)
class ClaimEvidence:
    """Evidence for one claim; ``probability`` is the model's P(unsupported) for it alone."""

    claim: str
    coverage: float  # share of the claim's content words found in the context
    max_similarity: float  # best cosine to a context sentence
    missing_numbers: int
    missing_names: int
    probability: float = 0.0


@dataclass(frozen=True, slots=True)
class LogisticWeights:
    """A logistic model on standardised features, as stored in ``local_weights.json``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    claim_min_content_words: int
    entity_probability: float  # P(unsupported | a claim has a number or name the context lacks)
    sha256: str
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, path: Path) -> LogisticWeights:
        data = path.read_bytes()
        raw = json.loads(data)
        model = raw["model"]
        check_model(model, FEATURES, str(path))  # the schema shared with guardrails
        features = tuple(str(f) for f in model["features"])
        vectors = [tuple(float(v) for v in model[key]) for key in ("mean", "scale", "coef")]
        return cls(
            features=features,
            mean=vectors[0],
            scale=tuple(s if s > 0 else 1.0 for s in vectors[1]),
            coef=vectors[2],
            intercept=float(model["intercept"]),
            threshold=float(model["threshold"]),
            claim_min_content_words=int(model["claim_min_content_words"]),
            entity_probability=float(model["entity_probability"]),
            sha256=hashlib.sha256(data).hexdigest(),
            raw=raw,
        )

    def probability(self, features: Mapping[str, float]) -> float:
        z = self.intercept + sum(
            c * (features[name] - m) / s
            for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@functools.cache
def default_weights() -> LogisticWeights:
    """The committed coefficients, read once per process."""
    return LogisticWeights.from_json(WEIGHTS_PATH)


@dataclass(frozen=True, slots=True)
class AnswerAnalysis:
    """Everything the judge computed for one answer; calibration fits on ``features``."""

    claims: list[ClaimEvidence]
    features: dict[str, float]
    answer_probability: float
    score: float  # max(answer_probability, probabilities of the claims that count)


def claim_evidence(
    claims: Sequence[str], contexts: Sequence[str], embedder: Embedder
) -> list[ClaimEvidence]:
    """Per-claim lexical and embedding evidence (without the model's probability)."""
    context = ContextEvidence(contexts)
    similarity = _similarities(claims, context.sentences, embedder.encode)
    return [
        ClaimEvidence(
            claim=claim,
            coverage=content_word_share(claim, context.text),
            max_similarity=float(similarity[i].max()) if similarity.size else 0.0,
            missing_numbers=context.missing_numbers(claim),
            missing_names=context.missing_names(claim),
        )
        for i, claim in enumerate(claims)
    ]


def _similarities(
    claims: Sequence[str],
    context_sentences: Sequence[str],
    encode: Callable[[Sequence[str]], npt.NDArray[np.float32]],
) -> npt.NDArray[np.float32]:
    vectors = encode([*claims, *context_sentences])
    result: npt.NDArray[np.float32] = vectors[: len(claims)] @ vectors[len(claims) :].T
    return result


@dataclass(frozen=True, slots=True)
class Grounding:
    hallucinated: bool
    score: float  # P(unsupported) of the answer's worst part
    unsupported_claims: list[str]
    detail: str


class GroundingModel:
    """The hallucination model over an embedder; ``weights`` default to the committed file.

    Embeddings are cached in memory (bounded), so calibration and evaluation
    runs that see the same context many times encode it once; ``prefetch``
    encodes a whole labelled set in large batches.
    """

    cache_size = 50_000

    def __init__(self, embedder: Embedder, weights: LogisticWeights | None = None) -> None:
        self.embedder = embedder
        self.weights = weights or default_weights()
        self._cache: dict[str, npt.NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    # -- embeddings ---------------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """``embedder.encode`` through the cache; only texts never seen are encoded."""
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = dict(zip(missing, self.embedder.encode(missing), strict=True))
            found.update(fresh)
            with self._lock:
                if len(self._cache) + len(fresh) > self.cache_size:
                    self._cache.clear()
                self._cache.update(fresh)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

    def prefetch(self, items: Iterable[tuple[str, Sequence[str]]], batch: int = 512) -> None:
        """Encode the claims and context sentences of many (answer, contexts) pairs at once."""
        texts: dict[str, None] = {}
        for answer, contexts in items:
            texts.update(dict.fromkeys(split_claims(answer)))
            texts.update(dict.fromkeys(context_sentences(contexts)))
        todo = [t for t in texts if t not in self._cache]
        for start in range(0, len(todo), batch):
            self.embed(todo[start : start + batch])

    # -- hallucination ------------------------------------------------------------------------

    def analyse(self, answer: str, contexts: Sequence[str]) -> AnswerAnalysis:
        """Features and probabilities of an answer that has claims and a non-empty context."""
        claims = split_claims(answer) or [CITATION.sub("", answer).strip() or answer]
        context = ContextEvidence(contexts)
        similarity = _similarities(claims, context.sentences, self.embed)
        best = [float(row.max()) if row.size else 0.0 for row in similarity]
        features = answer_features(CITATION.sub("", answer), claims, best, context)
        answer_probability = self.weights.probability(features)
        evidence = []
        for claim, claim_best in zip(claims, best, strict=True):
            claim_features = answer_features(claim, [claim], [claim_best], context)
            missing_numbers = context.missing_numbers(claim)
            missing_names = context.missing_names(claim)
            probability = self.weights.probability(claim_features)
            if missing_numbers or missing_names:
                probability = max(probability, self.weights.entity_probability)
            evidence.append(
                ClaimEvidence(
                    claim=claim,
                    coverage=claim_features["coverage"],
                    max_similarity=claim_best,
                    missing_numbers=missing_numbers,
                    missing_names=missing_names,
                    probability=probability,
                )
            )
        counted = [e.probability for e in evidence if self._counts(e)]
        score = max([answer_probability, *counted])
        return AnswerAnalysis(evidence, features, answer_probability, score)

    def _counts(self, evidence: ClaimEvidence) -> bool:
        """Whether a claim judged alone may decide the answer's verdict.

        "Sure!" or "It really is." carry no claim and, judged alone, look
        unsupported; human labels (BEGIN) do not count such chit-chat against an
        answer. A claim that names a number or a name counts whatever its length.
        """
        return bool(
            evidence.missing_numbers
            or evidence.missing_names
            or len(content_words(evidence.claim)) >= self.weights.claim_min_content_words
        )

    def with_weights(self, weights: LogisticWeights) -> Self:
        """The same model with other coefficients, sharing the embedding cache (for CV folds)."""
        other = type(self)(self.embedder, weights)
        other._cache, other._lock = self._cache, self._lock
        return other

    def assess(self, answer: str, contexts: Sequence[str]) -> Grounding:
        """Whether the answer states what the contexts do not support (refusals: the caller's)."""
        claims = split_claims(answer)
        if not claims:
            return Grounding(False, 0.0, [], detail="no factual claims")
        if not any(c.strip() for c in contexts):
            return Grounding(True, 1.0, claims, detail="no context retrieved")
        analysis = self.analyse(answer, contexts)
        threshold = self.weights.threshold
        hallucinated = analysis.score >= threshold
        unsupported = [
            e.claim for e in analysis.claims if e.probability >= threshold and self._counts(e)
        ]
        if hallucinated and not unsupported:
            unsupported = [max(analysis.claims, key=lambda e: e.probability).claim]
        return Grounding(
            hallucinated,
            round(analysis.score, 4),
            unsupported,
            detail=(
                f"{len(unsupported)}/{len(analysis.claims)} claims unsupported; "
                f"answer-level P(unsupported) {analysis.answer_probability:.2f}"
            ),
        )
