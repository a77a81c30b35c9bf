"""``openai/<model>``: the OpenAI-compatible ``/v1/embeddings`` endpoint.

OpenAI, Azure, vLLM, TEI and Ollama all speak it. Texts go in batches of
``batch_size`` per request, up to ``concurrency`` requests at once (an ingest of
thousands of chunks is latency-bound, not bandwidth-bound); the openai SDK
retries 429, 5xx and timeouts with backoff and honours ``Retry-After``. Each
request's reported usage goes to ``on_usage`` (the cost monitor), so embedding
spend is priced like chat spend. A reply whose vectors do not have the expected
dimension is refused: mixing dimensions would corrupt the index.

Vectors are asked for as base64 (what the SDK asks for too) and the body is read
raw: the SDK's own parsing builds one Python object per float, 0.8 s of held GIL
for 200 vectors of 384 dimensions, which would make the client, not the
endpoint, the limit of a concurrent ingest. A server that answers with float
lists anyway is read just as well.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ragwright.errors import ConfigError, ProviderError, ProviderResponseError
from ragwright.providers import guard
from ragwright.providers.base import Embedder
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.tokens import count_tokens
from ragwright.usage import Usage

if TYPE_CHECKING:
    import openai

__all__ = ["KNOWN_DIMENSIONS", "OpenAIEmbedder", "UsageCallback"]

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Default output sizes of OpenAI's models; any other model's is learned from its first reply."""

UsageCallback = Callable[[Usage, float, str | None], None]
"""Called once per request with its usage, latency (ms) and error type (None = success)."""


class OpenAIEmbedder(Embedder):
    """Embeddings over the OpenAI wire protocol, batched and concurrent."""

    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        dimensions: int | None = None,
        batch_size: int = 256,
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        on_usage: UsageCallback | None = None,
    ) -> None:
        if api_key is None and base_url is None:
            raise ConfigError(
                f"embedding_model openai/{model} needs an endpoint: set RAGWRIGHT_OPENAI_API_KEY"
                " for OpenAI, or RAGWRIGHT_EMBEDDING_BASE_URL (or RAGWRIGHT_OPENAI_BASE_URL)"
                " for a self-hosted server (vLLM, TEI, Ollama)"
            )
        # The chat model's boundary converts SDK errors and refuses credentials in URLs.
        self._chat = OpenAICompatibleChatModel(
            model, base_url=base_url, api_key=api_key, timeout_s=timeout_s, max_retries=max_retries
        )
        self.model = model
        self.dimensions = dimensions
        # The index records this name: another output size is another index version.
        self.name = f"openai/{model}" + (f"@{dimensions}" if dimensions else "")
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.on_usage = on_usage
        self._dimension = dimensions or KNOWN_DIMENSIONS.get(model)
        self._client: openai.OpenAI | None = None
        self._pool: ThreadPoolExecutor | None = None

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self._chat.base_url!r})"

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self.encode(["dimension probe"])  # learns it from the reply
        assert self._dimension is not None
        return self._dimension

    @dimension.setter
    def dimension(self, value: int) -> None:
        self._dimension = value

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        guard.check_model_requests_allowed(self.provider, self.model)
        batches = [
            list(texts[i : i + self.batch_size]) for i in range(0, len(texts), self.batch_size)
        ]
        if len(batches) == 1 or self.concurrency == 1:
            parts = [self._request(b) for b in batches]
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="embed")
            parts = list(self._pool.map(self._request, batches))
        return np.concatenate(parts)

    def _request(self, batch: list[str]) -> npt.NDArray[np.float32]:
        import openai

        if self._client is None:
            self._client = openai.OpenAI(**self._chat._client_args)
        kwargs: dict[str, Any] = {"model": self.model, "input": batch, "encoding_format": "base64"}
        if self.dimensions:
            kwargs["dimensions"] = self.dimensions
        started = time.perf_counter()
        try:
            raw = self._client.embeddings.with_raw_response.create(**kwargs)
        except openai.OpenAIError as exc:
            self._report(Usage(calls=1), started, type(exc).__name__)
            raise self._chat._convert(exc) from exc
        try:
            reply = json.loads(raw.content)
        except ValueError as exc:
            raise self._malformed(f"not JSON ({exc})") from exc
        if not isinstance(reply, dict):
            raise self._malformed("not a JSON object")
        vectors = self._vectors(reply, len(batch))
        reported = reply.get("usage")
        tokens = reported.get("prompt_tokens") if isinstance(reported, dict) else None
        usage = (
            Usage(prompt_tokens=int(tokens), calls=1)
            if isinstance(tokens, int)
            else Usage(prompt_tokens=sum(count_tokens(t) for t in batch), estimated=True, calls=1)
        )
        self._report(usage, started, None)
        return vectors

    def _vectors(self, reply: dict[str, Any], expected: int) -> npt.NDArray[np.float32]:
        data = reply.get("data")
        if not isinstance(data, list) or len(data) != expected:
            found = len(data) if isinstance(data, list) else "no"
            raise self._malformed(f"{found} vectors for {expected} texts")
        try:
            ordered = sorted(data, key=lambda d: int(d.get("index", 0)))
            vectors = np.stack([_vector(d["embedding"]) for d in ordered])
        except (AttributeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise self._malformed(
                f"vectors missing, of unequal length or not numbers ({exc})"
            ) from exc
        width = int(vectors.shape[1]) if vectors.ndim == 2 else 0
        if self._dimension is None and width:
            self._dimension = width
        if width != self._dimension:
            raise self._malformed(
                f"vectors of dimension {width}, expected {self._dimension}"
                + (" (the server ignored `dimensions`?)" if self.dimensions else "")
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: npt.NDArray[np.float32] = (vectors / np.where(norms == 0, 1.0, norms)).astype(
            np.float32
        )
        return normalised

    def _malformed(self, reason: str) -> ProviderError:
        """A 2xx reply that holds no usable vectors (reason says what is wrong)."""
        return ProviderResponseError(
            provider=self.provider, model=self.model, status_code=200, reason=reason, excerpt=""
        )

    def _report(self, usage: Usage, started: float, error_type: str | None) -> None:
        if self.on_usage is not None:
            self.on_usage(usage, (time.perf_counter() - started) * 1000, error_type)


def _vector(embedding: Any) -> npt.NDArray[np.float32]:
    """One embedding: base64 of little-endian float32 (as asked), or a list of numbers."""
    if isinstance(embedding, str):
        return np.frombuffer(base64.b64decode(embedding, validate=True), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)
