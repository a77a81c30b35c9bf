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
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse
from ragwright.sqlite import connect, execute_script, migrate, transaction
from ragwright.usage import Usage

__all__ = ["CachedChatModel", "CallCache", "cache_key"]


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


MIGRATIONS = [_v1]


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
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = connect(path)
        migrate(self.conn, MIGRATIONS)

    def get(self, key: str) -> tuple[str, Usage] | None:
        row = self.conn.execute(
            "SELECT text, prompt_tokens, completion_tokens, estimated FROM responses WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        return row[0], Usage(row[1], row[2], estimated=bool(row[3]), calls=1)

    def put(self, key: str, response: ChatResponse) -> None:
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    response.provider,
                    response.model,
                    response.text,
                    response.usage.prompt_tokens,
                    response.usage.completion_tokens,
                    int(response.usage.estimated),
                    datetime.now(UTC).isoformat(),
                ),
            )

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
        text, usage = found
        return ChatResponse(
            text=text,
            usage=usage,
            model=self.model,
            provider=self.provider,
            latency_ms=0.0,
            cached=True,
        )

    def generate(self, request: ChatRequest) -> ChatResponse:
        key = cache_key(self.inner, request, self.endpoint)
        if (hit := self._hit(key)) is not None:
            return hit
        response = self.inner.generate(request)
        self.cache.put(key, response)
        return replace(response, cached=False)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        key = cache_key(self.inner, request, self.endpoint)
        if (hit := self._hit(key)) is not None:
            return hit
        response = await self.inner.agenerate(request)
        self.cache.put(key, response)
        return response
