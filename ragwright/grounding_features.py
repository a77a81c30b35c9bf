"""Answer-level features of the local hallucination model, and the text splitting they rest on.

An answer is split into claims (sentences, citations removed) and described by
FEATURES: how much of it is found in the retrieved context (content words, all
tokens, the longest copied run), how close its worst claim is to any context
sentence (embeddings), how much of the context it draws on, and what it adds
that no context can support (numbers, capitalised names, statements about the
speaker, questions). Everything here is lexical and cheap; the one embedding
feature is computed by :mod:`ragwright.grounding` and passed in, so a feature
can be added without touching the model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from ragwright.text import content_words, numbers, sentences, words

__all__ = [
    "CITATION",
    "FEATURES",
    "ContextEvidence",
    "answer_features",
    "content_word_share",
    "context_sentences",
    "split_claims",
    "split_sentences",
]

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
    "novel_tokens",
    "context_used",
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
novel_tokens: log(1 + tokens absent from the context): what the answer adds, as an amount
    (the share above cannot tell a one-word aside from a sentence of invented detail).
context_used: share of the context's content words the answer uses: an answer built from
    the context draws on it; one that only touches it ("it's in canada, I love it") does not.

The last two were chosen by leave-one-source-out on BEGIN (fit on two dialogue
sources, score the third); see docs/judges.md. A weights file may name any
subset: older files that lack them still load.
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


def context_sentences(contexts: Sequence[str]) -> list[str]:
    """Sentences of the joined contexts; the whole text when it has no sentence break."""
    text = "\n\n".join(c for c in contexts if c.strip())
    return split_sentences(text) or [text]


def content_word_share(answer: str, context: str) -> float:
    """Share of the answer's content words found in the context (the one-feature baseline)."""
    answer_words = content_words(answer)
    if not answer_words:
        return 1.0
    return len(answer_words & content_words(context)) / len(answer_words)


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
        self.sentences = context_sentences(contexts)
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
    novel_tokens = sum(t not in context.token_set for t in tokens)
    return {
        "coverage": 1.0 - len(novel_words) / max(1, len(answer_words)),
        "novel_token_share": novel_tokens / max(1, len(tokens)),
        "novel_content_words": math.log1p(len(novel_words)),
        "longest_copy_share": context.longest_copy(tokens) / max(1, len(tokens)),
        "min_similarity": min(similarities) if similarities else 0.0,
        "question_share": sum(c.rstrip().endswith("?") for c in claims) / max(1, len(claims)),
        "speaker_words": math.log1p(
            sum(t in _SPEAKER and t not in context.token_set for t in tokens)
        ),
        "missing_names": math.log1p(context.missing_names(text)),
        "missing_numbers": math.log1p(context.missing_numbers(text)),
        "novel_tokens": math.log1p(novel_tokens),
        "context_used": len(answer_words & context.content_words)
        / max(1, len(context.content_words)),
    }
