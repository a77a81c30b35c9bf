"""``local/extractive``: an offline answerer that quotes the retrieved context.

It reads the *rendered prompt*, exactly as a network LLM would: sources are
the ``<source id="...">...</source>`` blocks and the question is the
``<question>...</question>`` element. So the prompt version matters: a prompt
that shows fewer sources, or none, changes what this model can answer.

The answer stitches the sentences most similar to the question (embedding
cosine blended with content-word overlap, diversified with MMR) and cites each
as ``[source-id]``. When no sentence clears the relevance threshold it says it
cannot answer. Deterministic: the same prompt gives the same answer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse, Embedder, StreamItem
from ragwright.text import content_words, sentences
from ragwright.tokens import count_tokens
from ragwright.usage import Usage

__all__ = ["CANNOT_ANSWER", "ExtractiveAnswerer"]

CANNOT_ANSWER = "I cannot answer from the provided documents."

_SOURCE = re.compile(r'<source id="(?P<id>[^"]+)"[^>]*>(?P<text>.*?)</source>', re.DOTALL)
_QUESTION = re.compile(r"<question>(?P<q>.*?)</question>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Candidate:
    source_id: str
    text: str
    position: int


class ExtractiveAnswerer(ChatModel):
    """Selects and stitches context sentences; see the module docstring for the contract."""

    provider = "local"
    model = "extractive"
    # It reads the sources, the question and max_tokens, never the instructions: an eval
    # gate cannot see a wording-only prompt change through it (evals/gate.py).
    reads_wording = False

    def __init__(
        self,
        embedder: Embedder,
        *,
        min_score: float = 0.50,
        max_sentences: int = 3,
        relative_floor: float = 0.80,
        lexical_weight: float = 0.35,
    ) -> None:
        self.embedder = embedder
        self.min_score = min_score
        self.max_sentences = max_sentences
        self.relative_floor = relative_floor
        self.lexical_weight = lexical_weight
        self._vector_cache: dict[str, np.ndarray] = {}

    def generate(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        prompt_text = "\n".join(m.content for m in request.messages)
        answer = self.answer(prompt_text, max_tokens=request.max_tokens)
        return self._response(prompt_text, answer, started)

    def stream(self, request: ChatRequest) -> Iterator[StreamItem]:
        """The cited sentences one by one: all are chosen before the first is sent.

        Selection (scoring every sentence, then MMR) needs them all, so the first
        token costs what the whole answer does; what streaming buys here is the
        same event sequence as a network model's, for clients and tests.
        """
        started = time.perf_counter()
        prompt_text = "\n".join(m.content for m in request.messages)
        parts = self.answer_parts(prompt_text, max_tokens=request.max_tokens) or [CANNOT_ANSWER]
        ttft_ms = (time.perf_counter() - started) * 1000
        for i, part in enumerate(parts):
            yield part if i == 0 else " " + part
        response = self._response(prompt_text, " ".join(parts), started)
        yield ChatResponse(
            text=response.text,
            usage=response.usage,
            model=response.model,
            provider=response.provider,
            latency_ms=response.latency_ms,
            ttft_ms=ttft_ms,
        )

    def _response(self, prompt_text: str, answer: str, started: float) -> ChatResponse:
        usage = Usage(
            prompt_tokens=count_tokens(prompt_text),
            completion_tokens=count_tokens(answer),
            estimated=True,  # no tokenizer of ours is "the" tokenizer of this model
            calls=1,
        )
        return ChatResponse(
            text=answer,
            usage=usage,
            model=self.model,
            provider=self.provider,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def answer(self, prompt_text: str, *, max_tokens: int | None = None) -> str:
        return " ".join(self.answer_parts(prompt_text, max_tokens=max_tokens)) or CANNOT_ANSWER

    def answer_parts(self, prompt_text: str, *, max_tokens: int | None = None) -> list[str]:
        """The cited sentences of the answer, in order; none when it cannot answer."""
        question_match = _QUESTION.search(prompt_text)
        candidates = [
            _Candidate(m["id"].strip(), sentence, position)
            for position, m in enumerate(_SOURCE.finditer(prompt_text))
            for sentence in sentences(m["text"])
        ]
        if question_match is None or not candidates:
            return []
        question = question_match["q"].strip()
        scores, vectors = self._score(question, candidates)
        best = float(scores.max())
        if best < self.min_score:
            return []
        chosen = self._select(
            scores, vectors, floor=max(self.min_score, best * self.relative_floor)
        )
        parts: list[str] = []
        budget = max_tokens if max_tokens is not None else 10**9
        for index in chosen:
            candidate = candidates[index]
            part = f"{candidate.text} [{candidate.source_id}]"
            if parts and count_tokens(" ".join([*parts, part])) > budget:
                break
            parts.append(part)
        return parts

    def _vectors(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vector_cache))
        if missing:
            for text, vector in zip(missing, self.embedder.encode(missing), strict=True):
                self._vector_cache[text] = vector
        if len(self._vector_cache) > 50_000:  # bounded memory in long-lived servers
            self._vector_cache.clear()
            return self._vectors(texts)
        return np.stack([self._vector_cache[t] for t in texts])

    def _score(self, question: str, candidates: list[_Candidate]) -> tuple[np.ndarray, np.ndarray]:
        vectors = self._vectors([question, *(c.text for c in candidates)])
        cosine = vectors[1:] @ vectors[0]
        question_words = content_words(question)
        overlap = np.array(
            [
                len(question_words & content_words(c.text)) / max(1, len(question_words))
                for c in candidates
            ]
        )
        blended = (1 - self.lexical_weight) * cosine + self.lexical_weight * overlap
        return blended, vectors[1:]

    def _select(self, scores: np.ndarray, vectors: np.ndarray, *, floor: float) -> list[int]:
        """Maximal marginal relevance: relevant sentences that do not repeat each other."""
        eligible = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= floor]
        chosen: list[int] = []
        while eligible and len(chosen) < self.max_sentences:

            def mmr(i: int) -> float:
                redundancy = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
                return 0.75 * float(scores[i]) - 0.25 * redundancy

            pick = max(eligible, key=mmr)
            eligible.remove(pick)
            if chosen and max(float(vectors[pick] @ vectors[j]) for j in chosen) > 0.92:
                continue  # near-duplicate of a chosen sentence (overlapping chunks)
            chosen.append(pick)
        return chosen
