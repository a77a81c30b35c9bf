"""Chroma access: embedded by default, a server when ``chroma_url`` is set.

Collections are always created with ``embedding_function=None`` and always
given vectors: Chroma's default embedding function would download an ONNX
model at run time, which fails offline. Chroma's own exceptions (a full disk, a
corrupt database, an unreachable server) leave this module as one-line
:class:`~ragwright.errors.IndexStoreError` s naming the folder or URL and the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ragwright.offline import apply_offline_defaults
from ragwright.rag.store_errors import chroma_errors
from ragwright.settings import Settings

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["UPSERT_BATCH", "chroma_client", "open_collection", "store_errors"]

UPSERT_BATCH = 200  # insert throughput plateaus at 150-250 rows per call on this hardware


def store_errors(settings: Settings) -> AbstractContextManager[None]:
    """Map Chroma's exceptions raised inside to IndexStoreError naming where the index lives."""
    if settings.chroma_url:
        return chroma_errors(settings.chroma_url, remote=True)
    return chroma_errors(str(settings.chroma_path))


def chroma_client(settings: Settings) -> ClientAPI:
    apply_offline_defaults()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    with store_errors(settings):
        if settings.chroma_url:
            url = urlparse(settings.chroma_url)
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)


def open_collection(client: ClientAPI, name: str) -> Collection:
    return client.get_or_create_collection(
        name=name, embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
