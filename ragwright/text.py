"""Lexical analysis shared by the local answerer and the local judges.

Kept deliberately simple and deterministic: sentence splitting that survives
Markdown, and "content words" (lower-cased, stop words removed, light suffix
stripping) for overlap measures.
"""

from __future__ import annotations

import re

__all__ = ["STOPWORDS", "content_words", "numbers", "sentences", "strip_markdown", "words"]

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its
    itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    also may might must shall use used using via per etc e.g i.e yes ok one two s t don doesn
    """.split()  # noqa: SIM905 - a word list reads better as text
)

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-./@:]*[A-Za-z0-9]|[A-Za-z0-9]")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*%?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(\[])")
_FENCE = re.compile(r"```.*?```", re.DOTALL)
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
_MD_NOISE = re.compile(r"(\*\*|__|(?<!\w)\*(?!\s)|`)")


def strip_markdown(text: str) -> str:
    """Drop fenced code, link targets and emphasis markers; keep the readable words."""
    text = _FENCE.sub(" ", text)
    text = _MD_LINK.sub(r"\1", text)
    return _MD_NOISE.sub("", text)


def sentences(text: str) -> list[str]:
    """Split prose into sentences; headings, table rules and list bullets are handled."""
    result: list[str] = []
    for block in re.split(r"\n\s*\n", strip_markdown(text)):
        lines = []
        for raw in block.splitlines():
            line = raw.strip()
            if not line or line.startswith("#") or set(line) <= set("|-: "):
                continue
            lines.append(re.sub(r"^([-*+]|\d+\.)\s+", "", line).strip("| "))
        joined = " ".join(lines)
        for raw_piece in _SENTENCE_END.split(joined):
            piece = " ".join(raw_piece.split())
            if len(piece) >= 3:
                result.append(piece)
    return result


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, stemmed words that carry meaning (no stop words, no 1-letter tokens)."""
    return {_stem(w) for w in words(text) if w not in STOPWORDS and len(w) > 1}


def numbers(text: str) -> set[str]:
    return {n.rstrip("%").replace(",", "") for n in _NUMBER.findall(text)}
