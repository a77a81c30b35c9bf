"""What a guardrail check reports: findings with the spans they point at.

Every check returns findings rather than raising, so one pipeline can run all
checks, apply each check's mode (block or warn) and report everything it saw,
and so the same findings can be logged, shown in an HTTP error, or counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CheckName", "Finding", "Span"]

CheckName = Literal["prompt_injection", "pii_input", "groundedness", "pii_output"]


@dataclass(frozen=True, slots=True)
class Span:
    """A character range ``text[start:end]`` and what it is (``EMAIL_ADDRESS``, ``CUE``, ...)."""

    start: int
    end: int
    kind: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing a check found; ``score`` is the detector's confidence in [0, 1] if it has one."""

    check: CheckName
    message: str
    score: float | None = None
    spans: tuple[Span, ...] = field(default_factory=tuple)
