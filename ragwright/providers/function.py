"""A chat model driven by a Python function: the real chain, judges and gate, deterministically.

Like pydantic-ai's ``FunctionModel``: tests (and users prototyping a gate)
script the model's behaviour - a model that hallucinates, one that ignores the
context, one that fails - and everything around it runs for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse
from ragwright.tokens import count_tokens
from ragwright.usage import Usage

__all__ = ["FunctionChatModel"]


class FunctionChatModel(ChatModel):
    provider = "function"

    def __init__(self, respond: Callable[[ChatRequest], str], *, model: str = "function") -> None:
        self.respond = respond
        self.model = model
        self.calls: list[ChatRequest] = []

    def generate(self, request: ChatRequest) -> ChatResponse:
        started = time.perf_counter()
        self.calls.append(request)
        text = self.respond(request)
        prompt = "\n".join(m.content for m in request.messages)
        return ChatResponse(
            text=text,
            usage=Usage(count_tokens(prompt), count_tokens(text), estimated=True, calls=1),
            model=self.model,
            provider=self.provider,
            latency_ms=(time.perf_counter() - started) * 1000,
        )
