"""Microsoft Presidio as the personal-data engine, offline.

Presidio's analyzer normally loads a spaCy model by name and, when it is
missing, downloads it; that must never happen here. So the engine looks for an
installed English spaCy pipeline (``spacy.util.get_installed_models``) and uses
its named entities when there is one (names, places: what patterns cannot
find); without one it runs on a blank spaCy tokenizer, which keeps Presidio's
pattern recognizers and their context words (a "phone" or "card" nearby raises
a match's score) and drops NER. :attr:`PresidioPii.ner_model` says which.
tldextract (e-mail and URL checks) is pointed at its bundled suffix list.

Presidio names most kinds as the built-in check does; LOCATION is reported as
STREET_ADDRESS only when it looks like one (starts with a house number),
otherwise as LOCATION, so ``pii_kinds`` can choose.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator
from typing import Any

import spacy
import tldextract.tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine, SpacyNlpEngine

from ragwright.guardrails.findings import Span

__all__ = ["PRESIDIO_KINDS", "PresidioPii", "installed_spacy_model"]

log = logging.getLogger(__name__)

# Presidio entity -> the kind findings report (the built-in check's names where they exist).
PRESIDIO_KINDS: dict[str, str] = {
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "URL": "DOMAIN_NAME",
    "IP_ADDRESS": "IP_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
    "US_PASSPORT": "US_PASSPORT",
    "PERSON": "PERSON",
    "LOCATION": "LOCATION",
    "DATE_TIME": "DATE_TIME",
}
# Presidio's e-mail and URL recognizers call tldextract, which fetches the public suffix
# list from the internet on first use; its bundled snapshot is enough and never downloads.
tldextract.tldextract.TLD_EXTRACTOR = tldextract.tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
)
_MIN_SCORE = 0.4  # Presidio's weak patterns (bare 9-digit numbers) score 0.05-0.3


def installed_spacy_model() -> str | None:
    """The name of an installed English spaCy pipeline (largest first), or None. Never downloads."""
    names = [n for n in spacy.util.get_installed_models() if n.startswith("en_core_web")]
    order = {"lg": 0, "trf": 1, "md": 2, "sm": 3}
    return min(names, key=lambda n: order.get(n.rsplit("_", 1)[-1], 9)) if names else None


class _BlankNlpEngine(NlpEngine):  # type: ignore[misc,unused-ignore]
    """Tokens and lower-cased "lemmas" from a blank spaCy pipeline: context words work, no NER."""

    def __init__(self) -> None:
        self.nlp = spacy.blank("en")

    def load(self) -> None:  # nothing to load
        return None

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        doc = self.nlp(text)
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.text.lower() for t in doc],
            nlp_engine=self,
            language=language,
        )

    def process_batch(
        self,
        texts: Iterable[str],
        language: str,
        batch_size: int = 1,
        n_process: int = 1,
        **kwargs: Any,
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(str(text), language)

    def is_stopword(self, word: str, language: str) -> bool:
        return bool(self.nlp.vocab[word].is_stop)

    def is_punct(self, word: str, language: str) -> bool:
        return bool(self.nlp.vocab[word].is_punct)

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return ["en"]


class PresidioPii:
    """:class:`ragwright.guardrails.backends.PiiEngine` on Presidio's analyzer."""

    name = "presidio"

    def __init__(self, model: str | None = None) -> None:
        self.ner_model = model or installed_spacy_model()
        registry = RecognizerRegistry()
        registry.load_predefined_recognizers()
        nlp: NlpEngine
        if self.ner_model is not None:
            nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": self.ner_model}])
            nlp.load()
        else:
            registry.remove_recognizer("SpacyRecognizer")
            nlp = _BlankNlpEngine()
        self.analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp)

    def find(self, text: str, kinds: Collection[str]) -> list[Span]:
        wanted = {p for p, ours in PRESIDIO_KINDS.items() if ours in kinds}
        if "STREET_ADDRESS" in kinds:
            wanted.add("LOCATION")
        if not wanted or not text.strip():
            return []
        results = self.analyzer.analyze(text=text, language="en", entities=sorted(wanted))
        spans: list[Span] = []
        for r in sorted(results, key=lambda r: (-(r.end - r.start), -r.score, r.start)):
            if r.score < _MIN_SCORE or any(s.start < r.end and r.start < s.end for s in spans):
                continue
            kind = PRESIDIO_KINDS.get(r.entity_type, r.entity_type)
            if kind == "LOCATION" and text[r.start : r.start + 1].isdigit():
                kind = "STREET_ADDRESS"
            if kind in kinds:
                spans.append(Span(r.start, r.end, kind))
        return sorted(spans, key=lambda s: s.start)
