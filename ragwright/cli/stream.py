"""``ragwright ask --stream``: print the answer's tokens as the chain produces them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ragwright.rag.chain import RagAnswer, RagChain

__all__ = ["print_stream"]


def print_stream(
    console: Console, chain: RagChain, payload: dict[str, Any], *, quiet: bool
) -> RagAnswer:
    """Print each token as it arrives (none when ``quiet``); return the final answer.

    A guardrail that withholds the answer can only do so after the tokens are
    out: the line that follows them says the text above is withdrawn.
    """
    answer: RagAnswer | None = None
    for event in chain.stream(payload):
        if event.answer is not None:
            answer = event.answer
        elif not quiet:
            console.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
    if answer is None:  # the chain always ends with a final or block event
        raise RuntimeError("the answer stream ended without its final event")
    if not quiet:
        console.print()
        if answer.blocked_by:
            console.print(
                f"[red]withdrawn: the {answer.blocked_by} guardrail withheld this answer;"
                f" it reads: {answer.answer}[/red]",
                highlight=False,
            )
    return answer
