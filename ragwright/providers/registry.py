"""Build models from settings: ``local/...`` names run in-process, others go to the endpoint."""

from __future__ import annotations

import functools

from ragwright.errors import ConfigError
from ragwright.providers.base import ChatModel, Embedder
from ragwright.providers.extractive import ExtractiveAnswerer
from ragwright.providers.local_embeddings import LocalEmbedder
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.settings import LOCAL_PREFIX, Settings

__all__ = ["chat_model_from_settings", "embedder_from_settings"]

LOCAL_EMBEDDERS = {"local/all-MiniLM-L6-v2"}


@functools.cache
def _local_embedder() -> LocalEmbedder:
    return LocalEmbedder()


def embedder_from_settings(settings: Settings, *, metered: bool = True) -> Embedder:
    """The configured embedder; by default every encode call is recorded by the cost monitor."""
    if settings.embedding_model in LOCAL_EMBEDDERS:
        if not metered:
            return _local_embedder()
        from ragwright.costs.monitor import metered_embedder

        return metered_embedder(_local_embedder(), settings)
    raise ConfigError(
        f"embedding_model '{settings.embedding_model}' is not available;"
        f" choose one of {sorted(LOCAL_EMBEDDERS)}"
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
            return ExtractiveAnswerer(embedder_from_settings(settings, metered=False))
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
