"""One ``AsyncOpenAI`` client per event loop and endpoint, shared by the models on it.

An eval builds the answer model and the judge from the same settings: the same
base URL, key, timeout and retries. Each used to create its own client, so a run
paid for two clients (an SSL context each, about 20 ms) and up to twice the
concurrency in open connections, each opened for the first time on that run.
Sharing one client per endpoint halves both, and the shared pool keeps every
connection busy.

A client's connections belong to the event loop they were opened on (the gate
runs baseline and candidate on two loops), so the registry is per loop and
forgets a loop when it is gone. Closing a client closes it for every model
sharing it; the next call on that loop opens a new one (``client_for`` checks).
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openai

__all__ = ["ClientKey", "client_for", "client_key", "close_client"]

ClientKey = tuple[tuple[str, Any], ...]
_PerLoop = weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, "dict[ClientKey, openai.AsyncOpenAI]"
]

_clients: _PerLoop = weakref.WeakKeyDictionary()


def client_key(args: dict[str, Any]) -> ClientKey:
    """The identity of a client: every argument it was built with."""
    return tuple(sorted(args.items()))


def client_for(key: ClientKey) -> openai.AsyncOpenAI:
    """The running loop's open client for these arguments, created on first use."""
    import openai

    loop = asyncio.get_running_loop()
    clients = _clients.get(loop)
    if clients is None:
        clients = _clients[loop] = {}
    client = clients.get(key)
    if client is None or client.is_closed():
        client = clients[key] = openai.AsyncOpenAI(**dict(key))
    return client


async def close_client(key: ClientKey) -> None:
    """Close the running loop's client for these arguments, if it has one."""
    clients = _clients.get(asyncio.get_running_loop())
    client = clients.pop(key, None) if clients else None
    if client is not None:
        await client.close()
