"""The seam where guardrails plug into the chain.

The chain defines what it needs from a guard and nothing more; the checks
themselves (injection, personal data, groundedness) live in
:mod:`ragwright.guardrails`, which depends on the chain, not the reverse. Any
object with these two methods can guard a chain::

    chain = RagChain.from_settings(guard=Guardrails.from_settings())

A guard returns the text to go on with (the question or answer, redacted if
a check redacts) and what it found. An input check in block mode raises
:class:`~ragwright.errors.GuardrailBlockedError`; an output check in block mode
returns the withheld-answer message instead of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = ["Guard", "GuardAction", "GuardFinding", "Guarded"]

GuardAction = Literal["warn", "redact", "block"]


class GuardFinding(BaseModel):
    """A guardrail finding as answers and the HTTP API report it: never the offending text."""

    model_config = ConfigDict(frozen=True)

    check: str  # prompt_injection | pii_input | groundedness | pii_output
    action: GuardAction
    message: str
    score: float | None = None
    kinds: list[str] = []  # personal data kinds; for prompt injection, the matched cues


@dataclass(frozen=True, slots=True)
class Guarded:
    """The text to continue with, and the findings that led to it."""

    text: str
    findings: list[GuardFinding] = field(default_factory=list)

    @property
    def blocked_by(self) -> str | None:
        return next((f.check for f in self.findings if f.action == "block"), None)


class Guard(Protocol):
    def check_input(self, question: str) -> Guarded:
        """Check a question before retrieval; raise ``GuardrailBlockedError`` to refuse it."""
        ...

    def check_output(self, question: str, answer: str, contexts: Sequence[str]) -> Guarded:
        """Check an answer before it is returned; a block replaces the text."""
        ...
