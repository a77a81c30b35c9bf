"""The engines a check can run on: one small interface per kind of check, several engines.

Teams that already run Microsoft Presidio for personal data, or NVIDIA NeMo
Guardrails for rails, pick them per check in ``[guardrails]``
(``pii_backend``, ``prompt_injection_backend``, ``nemo_output``); the built-in
checks stay the dependency-free default. Each engine only answers the question
its check asks; modes, findings and logging stay in :mod:`.pipeline`, so every
engine blocks, warns and redacts the same way.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from ragwright.errors import ConfigError
from ragwright.guardrails.findings import Span
from ragwright.guardrails.pii import find_pii
from ragwright.settings import GuardrailSettings

__all__ = ["BuiltinPii", "PiiEngine", "RailEngine", "pii_engine"]


class PiiEngine(Protocol):
    """Finds personal data: non-overlapping spans sorted by start, kinds named as Presidio does."""

    name: str

    def find(self, text: str, kinds: Collection[str]) -> list[Span]: ...


class RailEngine(Protocol):
    """Answers "does this rail refuse the text?" (NeMo Guardrails input or output rails)."""

    def input_refused(self, question: str) -> bool: ...

    def output_refused(self, question: str, answer: str) -> bool: ...


class BuiltinPii:
    """The built-in validators (guardrails/pii.py): patterns with checksums and cues."""

    name = "builtin"

    def find(self, text: str, kinds: Collection[str]) -> list[Span]:
        return find_pii(text, kinds)


def pii_engine(config: GuardrailSettings) -> PiiEngine:
    """The engine ``pii_backend`` names; Presidio needs the ``guardrails`` extra."""
    if config.pii_backend == "builtin":
        return BuiltinPii()
    try:
        from ragwright.guardrails.presidio import PresidioPii
    except ImportError as exc:
        raise ConfigError(
            "guardrails.pii_backend = 'presidio' needs presidio-analyzer and "
            f"presidio-anonymizer ({exc.name} is missing): pip install 'ragwright[guardrails]'"
        ) from None
    return PresidioPii()
