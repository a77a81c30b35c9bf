"""Conversations: a follow-up question and its history become one standalone question.

"and how long does that take?" finds nothing useful in the index: "that" lives
in the conversation. The chain therefore retrieves (and answers) with a
standalone question. A chat model writes it through the versioned prompt
``condense_question`` (in the prompt store, so it is linted, hashed, promoted
and rolled back like any other); the local answerer, which reads no
instructions, gets a local rule instead: the most recent user turns joined with
the question, which carries the topic into the search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragwright.errors import UserError
from ragwright.providers.base import ChatRequest

if TYPE_CHECKING:
    from ragwright.prompts.store import PromptStore

__all__ = [
    "CONDENSE_PROMPT",
    "LOCAL_USER_TURNS",
    "MAX_HISTORY_TURNS",
    "condense_request",
    "local_standalone",
    "standalone_from_reply",
    "validate_history",
]

CONDENSE_PROMPT = "condense_question"
LOCAL_USER_TURNS = 2  # the local rule keeps this many recent user turns
MAX_HISTORY_TURNS = 200
MAX_STANDALONE_CHARS = 2000

Turn = dict[str, str]


def validate_history(history: Any) -> list[Turn]:
    """The turns as plain dicts; a misshapen history is a :class:`UserError` naming the turn."""
    if history is None:
        return []
    if not isinstance(history, list):
        raise UserError(
            '\'history\' must be a list of {"role": "user"|"assistant", "content": str}'
        )
    if len(history) > MAX_HISTORY_TURNS:
        raise UserError(f"'history' has {len(history)} turns; at most {MAX_HISTORY_TURNS}")
    turns: list[Turn] = []
    for i, turn in enumerate(history):
        if not isinstance(turn, dict) or set(turn) != {"role", "content"}:
            raise UserError(f"history[{i}] must have exactly the keys 'role' and 'content'")
        role, content = turn["role"], turn["content"]
        if role not in {"user", "assistant"}:
            raise UserError(f"history[{i}].role must be 'user' or 'assistant', not {role!r}")
        if not isinstance(content, str):
            raise UserError(f"history[{i}].content must be a string")
        try:
            content.encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"invalid Unicode in history[{i}].content: a lone surrogate; pass valid text"
            ) from None
        turns.append({"role": role, "content": content})
    return turns


def local_standalone(history: list[Turn], question: str) -> str:
    """The last user turns and the question, joined: the local answerer's standalone question."""
    recent = [t["content"].strip() for t in history if t["role"] == "user"][-LOCAL_USER_TURNS:]
    return " ".join([*(r for r in recent if r), question.strip()])


def condense_request(store: PromptStore, prompt: str, state: dict[str, Any]) -> ChatRequest:
    """The chat request that asks the model for the standalone question."""
    rendered = store.render(
        prompt, {"history": state["history"], "question": state["question"]}, published_only=True
    )
    params = rendered.parameters
    tags = tuple(sorted((str(k), str(v)) for k, v in (state.get("tags") or {}).items()))
    return ChatRequest(
        messages=rendered.messages,
        temperature=float(params["temperature"]) if "temperature" in params else None,
        max_tokens=int(params["max_tokens"]) if "max_tokens" in params else None,
        prompt=rendered.ref,
        operation="condense",
        tags=tags,
    )


def standalone_from_reply(reply: str, state: dict[str, Any]) -> str:
    """The model's question, on one line; the local rule when the model said nothing usable."""
    lines = [line.strip().strip('"').strip() for line in reply.strip().splitlines()]
    text = next((line for line in lines if line), "")
    if not text:
        return local_standalone(state["history"], state["question"])
    return text[:MAX_STANDALONE_CHARS]
