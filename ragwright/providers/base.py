"""The two capabilities ragwright needs from models, as small interfaces.

A chat model turns messages into text; an embedder turns texts into vectors.
Network backends, local models and test models all implement the same
interface, so the chain, the judges and the gate run the same code whatever
serves them.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from ragwright.usage import Usage

__all__ = [
    "ChatModel",
    "ChatRequest",
    "ChatResponse",
    "Embedder",
    "Message",
    "Role",
    "StreamItem",
]

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One generation request; ``prompt`` and ``tags`` only label the call for the monitor."""

    messages: tuple[Message, ...]
    temperature: float | None = None
    max_tokens: int | None = None
    json_output: bool = False
    prompt: str | None = None
    operation: Literal["generate", "judge", "condense"] = "generate"
    tags: tuple[tuple[str, str], ...] = ()
    sample: int = 0  # self-consistency sample index: distinct samples are distinct cache keys


@dataclass(frozen=True, slots=True)
class ChatResponse:
    text: str
    usage: Usage
    model: str
    provider: str
    latency_ms: float
    cached: bool = False
    extra: dict[str, str] = field(default_factory=dict)
    # A cache hit takes no time; this is how long the call that produced it took,
    # so an eval replayed from the cache reports latencies comparable to a fresh one.
    replayed_latency_ms: float | None = None
    # Streamed calls only: from the request to the first piece of text.
    ttft_ms: float | None = None


StreamItem = str | ChatResponse
"""What :meth:`ChatModel.stream` yields: pieces of text, then one complete response."""

_END = object()


class ChatModel(ABC):
    """A text generator: implement :meth:`generate`; override :meth:`agenerate` if async."""

    provider: str
    model: str

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def is_local(self) -> bool:
        """Local models run in-process, cost nothing and need no network."""
        return self.provider == "local"

    @abstractmethod
    def generate(self, request: ChatRequest) -> ChatResponse: ...

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        # CPU-bound local models run in a worker thread so the event loop stays free.
        return await asyncio.to_thread(self.generate, request)

    def stream(self, request: ChatRequest) -> Iterator[StreamItem]:
        """Pieces of the answer as they are produced, then the full :class:`ChatResponse`.

        The pieces joined are the response's text. By default the whole answer is
        one piece; models that can do better (a network stream, the extractive
        answerer's sentences) override this.
        """
        response = self.generate(request)
        yield response.text
        yield replace(response, ttft_ms=response.latency_ms)

    async def astream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """:meth:`stream` for the event loop; by default it runs in a worker thread."""
        items = iter(self.stream(request))
        while (item := await asyncio.to_thread(next, items, _END)) is not _END:
            yield item  # type: ignore[misc]  # _END is not a StreamItem and never yielded

    async def aclose(self) -> None:
        """Release what is bound to the running event loop (HTTP connections).

        Call it before the loop ends (``run_evals_blocking`` does): a connection
        left for the garbage collector tries to close on a loop that is gone.
        The model stays usable; a later call opens new connections.
        """
        return None  # nothing to release by default


class Embedder(ABC):
    """Maps texts to L2-normalised vectors (cosine similarity = dot product)."""

    name: str
    dimension: int
    concurrency: int = 1
    """Encode calls that may usefully run at once: remote endpoints take several;
    a local model already uses every core for one."""

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...

    def encode_one(self, text: str) -> npt.NDArray[np.float32]:
        vector: npt.NDArray[np.float32] = self.encode([text])[0]
        return vector
