"""Build models from settings: ``local/...`` names run in-process, others go to the endpoint."""

from __future__ import annotations

import functools
from pathlib import Path

from ragwright.errors import ConfigError
from ragwright.providers.base import ChatModel, Embedder
from ragwright.providers.extractive import ExtractiveAnswerer
from ragwright.providers.local_embeddings import DEFAULT_MODEL, Device, LocalEmbedder
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.settings import LOCAL_PREFIX, Settings
from ragwright.usage import Usage

__all__ = [
    "chat_model_from_settings",
    "embedder_from_settings",
    "local_embedder",
    "onnx_cache",
]

DEFAULT_EMBEDDER = "local/all-MiniLM-L6-v2"
OPENAI_PREFIX = "openai/"


@functools.cache
def _local_embedder(
    model: str, device: Device, batch_size: int, onnx_cache: Path | None
) -> LocalEmbedder:
    # One per model and device per process: the loaded model is shared anyway.
    return LocalEmbedder(model, device=device, batch_size=batch_size, onnx_cache=onnx_cache)


def onnx_cache(settings: Settings) -> Path | None:
    """Where local models' ONNX exports live: the project's home, never the model's folder.

    None with ``embedding_onnx = false``: sentence-transformers only.
    """
    return settings.home / "cache" / "onnx" if settings.embedding_onnx else None


def local_embedder(settings: Settings) -> Embedder:
    """MiniLM from its wheel, whatever ``embedding_model`` says.

    The local answerer and the local judge are calibrated on MiniLM's cosine
    scores, so they keep it when the index uses another embedder.
    """
    return _local_embedder(DEFAULT_MODEL, settings.embedding_device, 16, onnx_cache(settings))


def embedder_from_settings(settings: Settings, *, metered: bool = True) -> Embedder:
    """The configured embedder; by default every encode call is recorded by the cost monitor.

    ``local/<name-or-path>`` runs a sentence-transformers model in-process (on the
    CPU through onnxruntime once it has an export, see ``local_embeddings``);
    ``openai/<model>`` calls an OpenAI-compatible ``/v1/embeddings`` endpoint.
    """
    name = settings.embedding_model
    if name.startswith(OPENAI_PREFIX) and len(name) > len(OPENAI_PREFIX):
        return _openai_embedder(settings, name.removeprefix(OPENAI_PREFIX), metered=metered)
    if not name.startswith(LOCAL_PREFIX) or len(name) == len(LOCAL_PREFIX):
        raise ConfigError(
            f"embedding_model '{name}' is not available: use local/<sentence-transformers"
            f" name or folder> (default {DEFAULT_EMBEDDER}) or openai/<model>"
        )
    embedder = _local_embedder(
        name.removeprefix(LOCAL_PREFIX),
        settings.embedding_device,
        settings.embedding_batch_size or 16,
        onnx_cache(settings),
    )
    if not metered:
        return embedder
    from ragwright.costs.monitor import metered_embedder

    return metered_embedder(embedder, settings)


def _openai_embedder(settings: Settings, model: str, *, metered: bool) -> Embedder:
    from ragwright.providers.openai_embeddings import OpenAIEmbedder

    on_usage = None
    if metered:  # the embedder reports each request's real usage itself
        from ragwright.costs.monitor import monitor_for

        monitor = monitor_for(settings)

        def on_usage(usage: Usage, latency_ms: float, error_type: str | None) -> None:
            monitor.record_call(
                provider="openai",
                model=model,
                operation="embed",
                prompt=None,
                usage=usage,
                latency_ms=latency_ms,
                status="ok" if error_type is None else "error",
                error_type=error_type,
            )

    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return OpenAIEmbedder(
        model,
        base_url=settings.embedding_base_url or settings.openai_base_url,
        api_key=key,
        dimensions=settings.embedding_dimensions,
        batch_size=settings.embedding_batch_size or 256,
        concurrency=settings.embedding_concurrency,
        timeout_s=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
        on_usage=on_usage,
    )


def chat_model_from_settings(
    settings: Settings, name: str | None = None, *, cached: bool = False
) -> ChatModel:
    """The chat model called ``name`` (default: ``settings.chat_model``).

    With ``cached``, network models answer repeated identical requests from the
    content-addressed call cache (evals do this; serving does not). Local models
    are not cached: they cost nothing and are deterministic already.
    """
    name = name or settings.chat_model
    if name.startswith(LOCAL_PREFIX):
        if name == "local/extractive":
            # its embeddings are part of its "generate" call, which the chain meters
            return ExtractiveAnswerer(local_embedder(settings))
        raise ConfigError(
            f"unknown local chat model '{name}'; the built-in one is local/extractive"
        )
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    model: ChatModel = OpenAICompatibleChatModel(
        name,
        base_url=settings.openai_base_url,
        api_key=key,
        timeout_s=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
    )
    if cached:
        from ragwright.providers.cache import CachedChatModel, CallCache

        model = CachedChatModel(
            model, CallCache(settings.cache_db), endpoint=settings.openai_base_url
        )
    return model
