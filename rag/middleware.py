"""ASGI middleware of ``ragwright serve``: a body size limit and a last line against 500s.

Both are plain ASGI (no thread pool, no buffering), so they cost nothing on the
event loop. :class:`BodyLimit` refuses a body over the limit before anything
parses it: by its ``Content-Length`` at once, or, for a streamed body, as soon
as the bytes read pass the limit. :class:`RequestIds` gives every request an id
(``X-Request-ID``, taken from the client when it is sane) and turns an exception
that escapes the application into a 500 that names that id and nothing else;
the traceback goes to the server's log (redacted by ragwright's log filter),
never to the client.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "BodyTooLargeError", "RandomIds", "RequestIds", "sse_event"]

log = logging.getLogger(__name__)

_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RandomIds:
    """Unguessable request ids (128 random bits as 32 hex digits), read 256 at a time.

    ``uuid4()`` reads ``os.urandom`` once per id, and ``os.urandom`` releases the
    interpreter lock: with the answer threads busy, the event loop then waited
    about a millisecond to get it back, on every request (profiled at
    concurrency 32 on 2 cores). One read per 256 ids pays that once.
    """

    def __init__(self, batch: int = 256) -> None:
        self.batch = batch
        self._ids: list[str] = []

    def __call__(self) -> str:
        try:
            return self._ids.pop()
        except IndexError:  # empty; another thread refilling at once costs one more read
            raw = os.urandom(16 * self.batch).hex()
            self._ids = [raw[i : i + 32] for i in range(0, len(raw), 32)]
            return self._ids.pop()


class BodyTooLargeError(HTTPException):
    """A request body over the limit (413); an HTTPException so FastAPI passes it through."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"request body over {limit} bytes (serve_max_body_bytes); send less",
        )


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, before they are parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, {"detail": BodyTooLargeError(self.max_bytes).detail})
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLargeError as exc:
            # Read outside a route (FastAPI turns it into a 413 inside one).
            if started:
                raise
            await _send_json(send, 413, {"detail": exc.detail})


class RequestIds:
    """Tag each request with an id; an escaping exception becomes a 500 naming only that id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.new_id = RandomIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id")
        request_id = offered if offered and _SANE_ID.fullmatch(offered) else self.new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "request %s (%s %s) failed", request_id, scope.get("method"), scope.get("path")
            )
            if started:
                return  # half a response is out: the server closes the connection
            body = {
                "detail": "internal server error; the server log has the details",
                "request_id": request_id,
            }
            await _send_json(send_with_id, 500, body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()  # ASCII-escaped: no text can fail to encode
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def sse_event(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event: ``event: <name>`` and one ``data:`` line of JSON.

    JSON with ASCII escapes never holds a newline, so one ``data:`` line carries
    the whole payload and no text can break the framing.
    """
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
