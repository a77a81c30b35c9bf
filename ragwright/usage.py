"""Token usage as a small value type, so totals are sums of typed values."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one or more model calls.

    ``estimated`` is sticky: a sum that includes any estimated count is itself
    an estimate, so a report can never present a guess as an exact figure.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            estimated=self.estimated or other.estimated,
            calls=self.calls + other.calls,
        )
