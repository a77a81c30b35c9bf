"""How many requests may be in flight to remote model endpoints at once.

``eval_concurrency`` promises an endpoint at most N concurrent requests, which is
what rate limits count. Bounding cases instead would not keep that promise: one
case makes an answer call and then several judge calls at once (more with
self-consistency samples). So the bound lives here, at the network edge: the
eval runner opens :func:`request_slots` and every remote provider takes a slot
per request with :func:`request_slot`. Cache hits and local models take none,
which is why a cached re-run is not slowed by the bound.

The limit travels in a context variable: asyncio tasks inherit their creator's
context, so every case of a run shares the run's semaphore and two runs on
different event loops never share one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

__all__ = ["request_slot", "request_slots"]

_SLOTS: ContextVar[asyncio.Semaphore | None] = ContextVar("ragwright_request_slots", default=None)


@contextmanager
def request_slots(limit: int) -> Iterator[asyncio.Semaphore]:
    """Allow at most ``limit`` concurrent remote requests from tasks started inside."""
    if limit < 1:
        raise ValueError(f"request limit must be at least 1, not {limit}")
    semaphore = asyncio.Semaphore(limit)
    token = _SLOTS.set(semaphore)
    try:
        yield semaphore
    finally:
        _SLOTS.reset(token)


@asynccontextmanager
async def request_slot() -> AsyncIterator[None]:
    """Hold one slot for the duration of a remote request (no-op outside ``request_slots``)."""
    semaphore = _SLOTS.get()
    if semaphore is None:
        yield
        return
    async with semaphore:
        yield
