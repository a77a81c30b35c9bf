"""The local hallucination (groundedness) model: features, logistic weights, verdict.

Kernel code shared by the local eval judge (``ragwright.evals.judges.local``) and
the groundedness guardrail, so neither imports the other's layer.

An answer is split into claims (sentences, citations removed) and described by
answer-level FEATURES: how much of it is found in the retrieved context
(content words, all tokens, the longest copied run), how close its worst claim
is to any context sentence (embeddings), and what it adds that no context can
support (numbers, capitalised names, statements about the speaker, questions).
A logistic model whose coefficients live in ``evals/judges/local_weights.json``
maps them to P(unsupported). The same model scores every claim alone, so one
invented sentence in a long grounded answer is not averaged away.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from ragwright.linear import check_model
from ragwright.providers.base import Embedder
from ragwright.text import content_words, numbers, sentences, words

__all__ = [
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

CITATION = re.compile(r"\s*\[[^\[\]\n]{1,200}\]")
# Each word of a name ends at a word boundary: "PersistentClient" is an identifier,
# not the name "Persistent" (which the context, holding the identifier, would lack).
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][a-z]+\b(?:\s+[A-Z][a-z]+\b)*)")
# ragwright.text.sentences only splits before a capital letter; chat answers and
# dialogue data are often lower-case ("it was closed. he left") or tokenised with
# spaced punctuation ("it was closed . He left"), so split those too. A capital
# letter before the full stop is kept together ("U.S. military").
_LOWER_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\"'][.!?])\s+|(?<=\s[.!?])\s+")
# First-person singular: a statement about the speaker cannot be attributed to
# the documents (BEGIN labels "I love that film" as not attributable).
_SPEAKER = frozenset({"i", "me", "my", "mine", "myself"})
# A context that spells a number out ("six hours") supports the digits ("6 hours").
_NUMBER_WORDS = {
    word: str(value)
    for words_, values in (
        (
            "zero one two three four five six seven eight nine ten eleven twelve thirteen"
            " fourteen fifteen sixteen seventeen eighteen nineteen twenty",
            range(21),
        ),
        ("thirty forty fifty sixty seventy eighty ninety", range(30, 100, 10)),
        ("first second third fourth fifth sixth seventh eighth ninth tenth", range(1, 11)),
        ("dozen hundred thousand", (12, 100, 1000)),
    )
    for word, value in zip(words_.split(), values, strict=True)
}

FEATURES: tuple[str, ...] = (
    "coverage",
    "novel_token_share",
    "novel_content_words",
    "longest_copy_share",
    "min_similarity",
    "question_share",
    "speaker_words",
    "missing_names",
    "missing_numbers",
)
"""Answer-level features, in the order of the coefficients in the weights file.

coverage: share of the answer's content words found in the context.
novel_token_share: share of all its tokens (stop words included) absent from the context.
novel_content_words: log(1 + content words absent from the context).
longest_copy_share: longest token run copied verbatim from the context / answer tokens.
min_similarity: over claims, the lowest best cosine to a context sentence.
question_share: share of claims that are questions (they assert nothing the context backs).
speaker_words: log(1 + first-person singular words absent from the context).
missing_names / missing_numbers: log(1 + capitalised names / numbers absent from the context).
"""


def split_sentences(text: str) -> list[str]:
    """Sentences of prose, including lower-case and space-tokenised text."""
    result: list[str] = []
    for sentence in sentences(text):
        result.extend(p.strip() for p in _LOWER_SENTENCE_END.split(sentence) if len(p.strip()) >= 3)
    return result


def split_claims(answer: str) -> list[str]:
    """The answer's sentences that carry content words, with citations ``[x]`` removed."""
    return [s for s in split_sentences(CITATION.sub("", answer)) if content_words(s)]


def _context_sentences(contexts: Sequence[str]) -> list[str]:
    """Sentences of the joined contexts; the whole text when it has no sentence break."""
    text = "\n\n".join(c for c in contexts if c.strip())
    return split_sentences(text) or [text]


def content_word_share(answer: str, context: str) -> float:
    """Share of the answer's content words found in the context (the one-feature baseline)."""
    answer_words = content_words(answer)
    if not answer_words:
        return 1.0
    return len(answer_words & content_words(context)) / len(answer_words)


@dataclass(frozen=True, slots=True)
class ClaimEvidence:
    """Evidence for one claim; ``probability`` is the model's P(unsupported) for it alone."""

    claim: str
    coverage: float  # share of the claim's content words found in the context
    max_similarity: float  # best cosine to a context sentence
    missing_numbers: int
    missing_names: int
    probability: float = 0.0


class ContextEvidence:
    """The retrieved context, indexed once per verdict for every lexical lookup."""

    def __init__(self, contexts: Sequence[str]) -> None:
        self.text = "\n\n".join(c for c in contexts if c.strip())
        self.lower = self.text.lower()
        self.content_words = content_words(self.text)
        self.tokens = words(self.text)
        self.numbers = numbers(self.text) | {
            _NUMBER_WORDS[t] for t in self.tokens if t in _NUMBER_WORDS
        }
        self.token_set = frozenset(self.tokens)
        self.sentences = _context_sentences(contexts)
        positions: dict[str, list[int]] = {}
        for index, token in enumerate(self.tokens):
            positions.setdefault(token, []).append(index)
        self._positions = positions

    def longest_copy(self, tokens: Sequence[str]) -> int:
        """Length of the longest run of ``tokens`` that appears verbatim in the context."""
        best = 0
        previous: dict[int, int] = {}
        for token in tokens:
            current = {j: previous.get(j - 1, 0) + 1 for j in self._positions.get(token, ())}
            if current:
                best = max(best, *current.values())
            previous = current
        return best

    def missing_names(self, text: str) -> int:
        """Capitalised names of which some word occurs nowhere in the context.

        Word by word, so that "Hugh Grant" is supported by "Hugh John Mungo Grant".
        """
        return len(
            {
                name
                for name in _NAME.findall(text)
                if name.lower() not in self.lower
                and not all(w in self.token_set for w in words(name))
            }
        )

    def missing_numbers(self, text: str) -> int:
        return len(numbers(text) - self.numbers)


def answer_features(
    text: str, claims: Sequence[str], similarities: Sequence[float], context: ContextEvidence
) -> dict[str, float]:
    """The FEATURES of ``text`` (a whole answer or one claim) against the context.

    Shares rather than counts where possible, so that a long grounded answer is
    not penalised for its length; the counts that remain are log-damped.
    """
    answer_words = content_words(text)
    tokens = words(text)
    novel_words = answer_words - context.content_words
    return {
        "coverage": 1.0 - len(novel_words) / max(1, len(answer_words)),
        "novel_token_share": sum(t not in context.token_set for t in tokens) / max(1, len(tokens)),
        "novel_content_words": math.log1p(len(novel_words)),
        "longest_copy_share": context.longest_copy(tokens) / max(1, len(tokens)),
        "min_similarity": min(similarities) if similarities else 0.0,
        "question_share": sum(c.rstrip().endswith("?") for c in claims) / max(1, len(claims)),
        "speaker_words": math.log1p(
            sum(t in _SPEAKER and t not in context.token_set for t in tokens)
        ),
        "missing_names": math.log1p(context.missing_names(text)),
        "missing_numbers": math.log1p(context.missing_numbers(text)),
    }


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
            texts.update(dict.fromkeys(_context_sentences(contexts)))
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
