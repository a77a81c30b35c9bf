"""Chroma access: embedded by default, a server when ``chroma_url`` is set.

Collections are always created with ``embedding_function=None`` and always
given vectors: Chroma's default embedding function would download an ONNX
model at run time, which fails offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from ragwright.offline import apply_offline_defaults
from ragwright.settings import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["UPSERT_BATCH", "chroma_client", "open_collection"]

UPSERT_BATCH = 200  # insert throughput plateaus at 150-250 rows per call on this hardware


def chroma_client(settings: Settings) -> ClientAPI:
    apply_offline_defaults()
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
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
