"""A content-addressed cache of model calls, so re-running an identical eval is free.

The key hashes everything that determines the answer: provider, model,
endpoint, the full messages, the generation parameters, and a sample index.
Identical requests hit; any change to the prompt, model or parameters misses.
Repeats asked for on purpose (self-consistency samples) carry different
sample indices, so they are independent calls, not copies of one cached answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse, Embedder
from ragwright.sqlite import connect, execute_script, migrate, transaction
from ragwright.usage import Usage

__all__ = ["CachedChatModel", "CachedEmbedder", "CallCache", "cache_key"]


def _v1(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        CREATE TABLE responses (
            key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL,
            text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL, estimated INTEGER NOT NULL,
            created_at TEXT NOT NULL
        )
        """,
    )


def _v2(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        CREATE TABLE embeddings (
            key TEXT PRIMARY KEY, model TEXT NOT NULL, vector BLOB NOT NULL
        )
        """,
    )


def _v3(conn: sqlite3.Connection) -> None:
    # the latency of the call that produced each response (NULL for older rows)
    execute_script(conn, "ALTER TABLE responses ADD COLUMN latency_ms REAL")


MIGRATIONS = [_v1, _v2, _v3]


def cache_key(model: ChatModel, request: ChatRequest, endpoint: str | None = None) -> str:
    payload = {
        "provider": model.provider,
        "model": model.model,
        "endpoint": endpoint,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "json_output": request.json_output,
        "sample": request.sample,
    }
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


class CallCache:
    """One connection shared by the eval's worker threads, so every access takes a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
        self.lock = threading.Lock()
        migrate(self.conn, MIGRATIONS)

    def get(self, key: str) -> tuple[str, Usage, float | None] | None:
        """The cached text, usage and original latency (ms) for ``key``, if any."""
        with self.lock:
            row = self.conn.execute(
                "SELECT text, prompt_tokens, completion_tokens, estimated, latency_ms"
                " FROM responses WHERE key = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return row[0], Usage(row[1], row[2], estimated=bool(row[3]), calls=1), row[4]

    def put(self, key: str, response: ChatResponse) -> None:
        usage = response.usage
        with self.lock, transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO responses (key, provider, model, text, prompt_tokens,"
                " completion_tokens, estimated, created_at, latency_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    response.provider,
                    response.model,
                    response.text,
                    usage.prompt_tokens,
                    usage.completion_tokens,
                    int(usage.estimated),
                    datetime.now(UTC).isoformat(),
                    response.latency_ms,
                ),
            )

    def get_vectors(self, keys: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        found: dict[str, npt.NDArray[np.float32]] = {}
        with self.lock:
            for start in range(0, len(keys), 500):
                batch = list(keys[start : start + 500])
                marks = ", ".join("?" * len(batch))
                for key, blob in self.conn.execute(
                    f"SELECT key, vector FROM embeddings WHERE key IN ({marks})",
                    batch,
                ):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_vectors(self, model: str, items: dict[str, npt.NDArray[np.float32]]) -> None:
        rows = [(key, model, np.asarray(v, dtype=np.float32).tobytes()) for key, v in items.items()]
        with self.lock, transaction(self.conn):
            self.conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self.conn.close()


class CachedChatModel(ChatModel):
    """Answers repeated requests from the cache; a hit is marked ``cached`` (and costs 0)."""

    def __init__(self, inner: ChatModel, cache: CallCache, *, endpoint: str | None = None) -> None:
        self.inner = inner
        self.cache = cache
        self.endpoint = endpoint
        self.provider = inner.provider
        self.model = inner.model
        self.hits = 0
        self.misses = 0

    def _hit(self, key: str) -> ChatResponse | None:
        found = self.cache.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        text, usage, latency_ms = found
        return ChatResponse(
            text=text,
            usage=usage,
            model=self.model,
            provider=self.provider,
            latency_ms=0.0,
            cached=True,
            replayed_latency_ms=latency_ms,
        )

    def generate(self, request: ChatRequest) -> ChatResponse:
        key = cache_key(self.inner, request, self.endpoint)
        if (hit := self._hit(key)) is not None:
            return hit
        response = self.inner.generate(request)
        self.cache.put(key, response)
        return replace(response, cached=False)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        key = cache_key(self.inner, request, self.endpoint)
        if (hit := self._hit(key)) is not None:
            return hit
        response = await self.inner.agenerate(request)
        self.cache.put(key, response)
        return response


class CachedEmbedder(Embedder):
    """Embeds each distinct text once per cache: query embeddings are model calls too."""

    def __init__(self, inner: Embedder, cache: CallCache) -> None:
        self.inner = inner
        self.cache = cache
        self.name = inner.name
        self.dimension = inner.dimension

    def _key(self, text: str) -> str:
        return "sha256:" + hashlib.sha256(f"{self.name}\0{text}".encode()).hexdigest()

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        keys = [self._key(t) for t in texts]
        found = self.cache.get_vectors(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        if missing:
            vectors = self.inner.encode([texts[i] for i in missing])
            fresh = {keys[i]: vectors[row] for row, i in enumerate(missing)}
            self.cache.put_vectors(self.name, fresh)
            found.update(fresh)
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([found[key] for key in keys])
