"""Prompt-injection detection for user questions: cue patterns plus a small logistic model.

The detector runs on every request, before retrieval and the model, so it must
be offline and take well under a millisecond. It has two layers:

* cue patterns (English and German, a few other languages for the commonest
  phrase) grouped in FAMILIES: instruction overrides, announced new tasks,
  persona hijacks, system-prompt extraction, output hijacks, delimiter and
  escape tricks, and pressure. Their matches are the verdict's ``cues``, so a
  blocked user can be told which words triggered the block;
* a logistic model over the cue counts per family, a few style features
  (second-person and imperative density, shouting, length, script) and hashed
  word unigrams and bigrams. The patterns alone flag any text that matches;
  the model weighs them against the rest of the text, which is what keeps
  "How do I make git ignore build files?" apart from "ignore the above".

The coefficients live in ``injection_weights.json`` and are fitted by
``python -m ragwright.guardrails.injection_fit`` (numpy only); keeping them in a
committed file makes every change to the detector a reviewable diff.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ragwright.guardrails.findings import Span
from ragwright.guardrails.injection_cues import FAMILIES, find_cues
from ragwright.guardrails.normalize import views

__all__ = [
    "CUE_KIND",
    "DENSE_FEATURES",
    "FAMILIES",
    "WEIGHTS_PATH",
    "InjectionDetector",
    "InjectionVerdict",
    "InjectionWeights",
    "TextFeatures",
    "default_weights",
    "find_cues",
    "text_features",
]

WEIGHTS_PATH = Path(__file__).with_name("injection_weights.json")
CUE_KIND = "INJECTION_CUE"

_TOKEN = re.compile(r"\w+")
_SECOND_PERSON = frozenset(
    "you your yours yourself du dich dir dein deine deinen deiner deinem deines".split()  # noqa: SIM905
)
_IMPERATIVES = frozenset(
    """ignore disregard forget stop write say print output tell show reveal act pretend answer
    reply respond repeat generate change remove be imagine translate include state give
    ignoriere vergiss schreibe schreib sage sag gib zeige zeig antworte stell beantworte
    generieren ignorieren vergessen""".split()  # noqa: SIM905 - a word list reads better as text
)
_CLAUSE = re.compile(r"(?:^|[.!?:;\n-]\s*)(\w+)")

DENSE_FEATURES: tuple[str, ...] = (
    *(f"cue_{family}" for family in FAMILIES),
    "log_words",
    "second_person",
    "imperatives",
    "shouting",
    "non_latin",
    "ends_with_question",
)
"""Dense features, in the order of the coefficients in the weights file.

cue_<family>: log(1 + matches of the family's patterns).
log_words: log(1 + words). second_person: share of words addressing the model.
imperatives: log(1 + clauses opening with a command verb). shouting: share of
all-caps words of two letters or more. non_latin: share of letters outside the
Latin script. ends_with_question: 1 if the text ends with "?".
"""


@dataclass(frozen=True, slots=True)
class TextFeatures:
    """What the model sees of one text: dense values, hashed n-gram buckets, and the cues."""

    dense: tuple[float, ...]
    buckets: frozenset[int]
    cues: dict[str, list[tuple[int, int]]]


def text_features(text: str, buckets: int) -> TextFeatures:
    """DENSE_FEATURES and the set of hashed word uni- and bigram buckets of ``text``.

    crc32 rather than ``hash()``: Python salts string hashes per process, and the
    buckets must match the ones the weights were fitted on.
    """
    cues = find_cues(text)
    tokens = _TOKEN.findall(text.lower())
    n = max(1, len(tokens))
    grams = [*tokens, *(f"{a} {b}" for a, b in itertools.pairwise(tokens))]
    raw_words = _TOKEN.findall(text)
    letters = [c for c in text if c.isalpha()]
    dense = (
        *(math.log1p(len(cues.get(family, ()))) for family in FAMILIES),
        math.log1p(len(tokens)),
        sum(t in _SECOND_PERSON for t in tokens) / n,
        math.log1p(sum(m.lower() in _IMPERATIVES for m in _CLAUSE.findall(text))),
        sum(len(w) > 1 and w.isupper() for w in raw_words) / max(1, len(raw_words)),
        sum(ord(c) > 0x24F for c in letters) / max(1, len(letters)),
        float(text.rstrip().endswith("?")),
    )
    return TextFeatures(
        dense=dense,
        buckets=frozenset(zlib.crc32(g.encode("utf-8")) % buckets for g in grams),
        cues=cues,
    )


@dataclass(frozen=True, slots=True)
class InjectionWeights:
    """The logistic model as stored in ``injection_weights.json``.

    Dense features are standardised with ``mean``/``scale``; a hashed bucket
    adds its ``bucket_coef`` when the text has one of its n-grams, so scoring
    touches only the buckets a text has.
    """

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    buckets: int
    bucket_coef: Mapping[int, float]
    intercept: float
    threshold: float
    sha256: str

    @classmethod
    def from_model(cls, model: Mapping[str, Any], sha256: str = "") -> InjectionWeights:
        """Validate a ``model`` section; a bad one raises ValueError or KeyError."""
        if tuple(model["features"]) != DENSE_FEATURES:
            raise ValueError(f"features are not the detector's DENSE_FEATURES {DENSE_FEATURES}")
        vectors = [tuple(float(v) for v in model[key]) for key in ("mean", "scale", "coef")]
        if any(len(v) != len(DENSE_FEATURES) for v in vectors):
            raise ValueError("mean, scale and coef must have one value per feature")
        buckets = int(model["buckets"])
        bucket_coef = {int(k): float(v) for k, v in model["bucket_coef"].items()}
        if buckets < 1 or any(not 0 <= k < buckets for k in bucket_coef):
            raise ValueError("bucket_coef keys must lie in [0, buckets)")
        return cls(
            mean=vectors[0],
            scale=tuple(s if s > 0 else 1.0 for s in vectors[1]),
            coef=vectors[2],
            buckets=buckets,
            bucket_coef=bucket_coef,
            intercept=float(model["intercept"]),
            threshold=float(model["threshold"]),
            sha256=sha256,
        )

    @classmethod
    def from_json(cls, path: Path) -> InjectionWeights:
        """Read a weights file; anything unusable raises ValueError naming the file and a fix."""
        try:
            data = path.read_bytes()
            return cls.from_model(json.loads(data)["model"], hashlib.sha256(data).hexdigest())
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"{path}: not a usable prompt-injection weights file ({type(exc).__name__}: "
                f"{exc}); restore it from git or refit with "
                "python -m ragwright.guardrails.injection_fit --write"
            ) from exc

    def probability(self, features: TextFeatures) -> float:
        z = self.intercept
        for value, m, s, c in zip(features.dense, self.mean, self.scale, self.coef, strict=True):
            z += c * (value - m) / s
        z += sum(self.bucket_coef.get(b, 0.0) for b in features.buckets)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@dataclass(frozen=True, slots=True)
class InjectionVerdict:
    """``injection`` is ``score >= threshold``; ``cues`` say which words look like an attack."""

    injection: bool
    score: float  # P(injection) in [0, 1]
    cues: tuple[Span, ...]  # matched cue phrases (kind "INJECTION_CUE"); may be empty
    view: str = "original"  # the reading that scored highest (guardrails/normalize.py)
    cue_texts: tuple[str, ...] = ()  # the matched phrases as read in that view, lower-cased


@functools.cache
def default_weights() -> InjectionWeights:
    """The committed coefficients, read once per process (never at import)."""
    return InjectionWeights.from_json(WEIGHTS_PATH)


class InjectionDetector:
    """Scores a text with ``weights``; ``threshold`` defaults to the one chosen by CV."""

    def __init__(self, weights: InjectionWeights, threshold: float | None = None) -> None:
        self.weights = weights
        self.threshold = weights.threshold if threshold is None else threshold

    @classmethod
    def default(cls) -> InjectionDetector:
        """The detector with the committed weights (read once per process, on first use)."""
        return cls(default_weights())

    def check(self, text: str) -> InjectionVerdict:
        features = text_features(text, self.weights.buckets)
        score = self.weights.probability(features)
        spans = sorted(span for found in features.cues.values() for span in found)
        merged: list[tuple[int, int]] = []
        for start, end in spans:  # overlapping cues become one span: one phrase, one highlight
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return InjectionVerdict(
            injection=score >= self.threshold,
            score=score,
            cues=tuple(Span(start, end, CUE_KIND) for start, end in merged),
            cue_texts=tuple(text[start:end].lower() for start, end in merged),
        )

    def scan(self, text: str) -> InjectionVerdict:
        """:meth:`check` on every view of ``text`` (normalised, decoded); the highest score wins.

        The verdict's ``view`` names the reading that fired, and its ``cues`` point
        into the original text only when that view is the original.
        """
        best: InjectionVerdict | None = None
        for view in views(text):
            verdict = self.check(view.text)
            if view.name != "original":
                verdict = replace(verdict, view=view.name, cues=())
            if best is None or verdict.score > best.score:
                best = verdict
        assert best is not None  # views() always returns the original
        return best
