"""The seam where guardrails plug into the chain.

The chain defines what it needs from a guard and nothing more; the checks
themselves (injection, personal data, groundedness) live in
:mod:`ragwright.guardrails`, which depends on the chain, not the reverse. Any
object with these three methods can guard a chain::

    chain = RagChain.from_settings(guard=Guardrails.from_settings())

A guard returns the text to go on with (the question or answer, redacted if
a check redacts) and what it found. Retrieved chunks are checked between
retrieval and the prompt (``check_contexts``): a planted instruction in an
indexed document is an injection the user never typed. An input check in block mode raises
:class:`~ragwright.errors.GuardrailBlockedError`; an output check in block mode
returns the withheld-answer message instead of the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

__all__ = ["Guard", "GuardAction", "GuardFinding", "Guarded", "GuardedContexts"]

GuardAction = Literal["warn", "redact", "block", "drop-chunk"]


class GuardFinding(BaseModel):
    """A guardrail finding as answers and the HTTP API report it: never the offending text."""

    model_config = ConfigDict(frozen=True)

    check: str  # prompt_injection | pii_input | retrieved_injection | groundedness | pii_output
    #            | unsupported_request, or a backend's own rail name
    action: GuardAction
    message: str
    score: float | None = None
    kinds: list[str] = []  # personal data kinds; for prompt injection, the matched cues
    view: str | None = None  # the text's reading that fired: normalized, base64, rot13, ...
    chunks: list[int] = []  # retrieved_injection: positions of the chunks it concerns


@dataclass(frozen=True, slots=True)
class Guarded:
    """The text to continue with, and the findings that led to it."""

    text: str
    findings: list[GuardFinding] = field(default_factory=list)

    @property
    def blocked_by(self) -> str | None:
        return next((f.check for f in self.findings if f.action == "block"), None)


@dataclass(frozen=True, slots=True)
class GuardedContexts:
    """Which retrieved chunks may reach the prompt (positions, in order), and the findings."""

    keep: list[int]
    findings: list[GuardFinding] = field(default_factory=list)


class Guard(Protocol):
    def check_input(self, question: str) -> Guarded:
        """Check a question before retrieval; raise ``GuardrailBlockedError`` to refuse it."""
        ...

    def check_contexts(
        self, question: str, contexts: Sequence[str], metadata: Sequence[Mapping[str, Any]] = ()
    ) -> GuardedContexts:
        """Check retrieved chunks (and what ingest stored about them) before the prompt.

        Raise ``GuardrailBlockedError`` to refuse the question; leave a chunk out of
        ``keep`` to drop it.
        """
        ...

    def check_output(self, question: str, answer: str, contexts: Sequence[str]) -> Guarded:
        """Check an answer before it is returned; a block replaces the text."""
        ...
