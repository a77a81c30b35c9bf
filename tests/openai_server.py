"""A small scripted OpenAI-compatible chat server for tests and benchmarks.

It serves ``POST /v1/chat/completions`` (plain, or server-sent events when the
request says ``"stream": true``) and ``POST /v1/embeddings`` (deterministic
vectors: the same text always gets the same unit vector) on 127.0.0.1 (a free
port) from a daemon thread and records every request it receives. What it answers is
scripted per test with a queue of replies::

    server.enqueue(
        Error(429, retry_after=0),           # an HTTP error, optionally with Retry-After
        Delay(2.0),                          # sleep 2 s, then answer with the default handler
        Completion("hello", usage=None),     # a completion without a usage block
        Raw("<html>502 Bad Gateway</html>"), # a malformed 200: HTML, non-JSON, no `choices`
    )

Once the queue is empty, the ``default`` handler computes the content from the
request body (by default it echoes the last user message); it may also return
any reply (``Raw``, ``Error``, ``Completion``) to script failures per request.
``delay_s`` delays every answer by a constant time, for benchmarks of concurrent
clients; a ``delay_s`` longer than the client's timeout is a provider that hangs
(the server drops the held requests when it stops). ``Error(401,
echo_header="authorization")`` answers with the request's header value in its
error message, like a misconfigured proxy that relays what it was sent.

Run as a process (benchmarks)::

    python -m tests.openai_server --delay 3600   # prints its base URL, serves until killed

In pytest, use the ``openai_server`` fixture (import ``openai_server_fixture`` into
the test module from ``tests.openai_server``); elsewhere, the server is a
context manager::

    with OpenAIServer(delay_s=0.05) as server:
        client = OpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import numpy as np
import pytest

__all__ = [
    "DEFAULT_USAGE",
    "Completion",
    "Delay",
    "Error",
    "OpenAIServer",
    "Raw",
    "RecordedRequest",
    "Reply",
    "echo_last_user",
    "fake_embedding",
    "openai_server",
    "openai_server_fixture",
]

DEFAULT_USAGE: dict[str, int] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
EMBEDDING_DIMENSION = 32  # of /v1/embeddings vectors when the request sets no ``dimensions``
CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
_DEFAULT = object()  # "use the server's default usage" sentinel


@dataclass(frozen=True)
class Completion:
    """A 200 answer with ``content``; ``usage=None`` omits the usage block entirely."""

    content: str
    usage: dict[str, int] | Any | None = _DEFAULT
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Error:
    """A non-2xx answer; ``body`` defaults to an OpenAI-style error object."""

    status: int
    retry_after: float | str | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    echo_header: str | None = None  # put this request header's value in the error message


@dataclass(frozen=True)
class Raw:
    """Exactly these bytes, for malformed replies that real proxies and servers send.

    An HTML error page behind a 200, a truncated body, JSON without ``choices``:
    ``Raw("<html>...</html>")``, ``Raw('{"choices": [')``, ``Raw('{"id": "x"}')``.
    A ``dict`` or ``list`` body is sent as JSON. ``content_type`` is what the header
    claims, which need not match the body (that is the point).
    """

    body: str | bytes | dict[str, Any] | list[Any]
    status: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Delay:
    """Sleep ``seconds`` before answering with ``then`` (default: the default handler)."""

    seconds: float
    then: Completion | Error | Raw | None = None


Reply = Completion | Error | Raw | Delay


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any] | None  # parsed JSON, None if the body was not JSON
    received_at: float  # time.monotonic()


def echo_last_user(body: dict[str, Any]) -> str:
    """The default handler: the content of the last user message."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def fake_embedding(text: str, dimension: int = EMBEDDING_DIMENSION) -> list[float]:
    """A unit vector that depends only on ``text`` (and ``dimension``): deterministic tests."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:8])
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return [float(v) for v in vector / (np.linalg.norm(vector) or 1.0)]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many concurrent clients in benchmarks
    owner: OpenAIServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real API server
    # Headers and body go out in two writes; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK (up to 40 ms on Linux) - real servers set
    # TCP_NODELAY, and so does this one, or every benchmarked call pays that wait.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        self.server.owner._handle(self, "POST")

    def do_GET(self) -> None:
        self.server.owner._handle(self, "GET")


class OpenAIServer:
    """A scripted OpenAI-compatible chat completions server (see the module docstring)."""

    def __init__(
        self,
        *,
        default: Callable[[dict[str, Any]], str | Completion | Error | Raw] | None = echo_last_user,
        delay_s: float = 0.0,
        default_usage: dict[str, int] | None = DEFAULT_USAGE,
        embedding_dimension: int = EMBEDDING_DIMENSION,
        stream_delay_s: float = 0.0,
    ) -> None:
        self.default = default
        self.delay_s = delay_s
        self.embedding_dimension = embedding_dimension
        self.stream_delay_s = stream_delay_s  # between streamed chunks
        self.default_usage = default_usage
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0  # requests being handled now
        self.peak_in_flight = 0  # the most handled at once, for concurrency limits
        self._queue: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> OpenAIServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in a Delay
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return f"{self.url}/v1"

    # -- scripting -------------------------------------------------------------
    def enqueue(self, *replies: Reply | str) -> None:
        """Queue replies, answered in order; a plain string is ``Completion(text)``."""
        with self._lock:
            for reply in replies:
                self._queue.append(Completion(reply) if isinstance(reply, str) else reply)

    @property
    def pending(self) -> int:
        """Replies still queued."""
        with self._lock:
            return len(self._queue)

    def clear(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def bodies(self) -> list[dict[str, Any] | None]:
        with self._lock:
            return [r.body for r in self.requests]

    # -- serving ---------------------------------------------------------------
    def _handle(self, handler: _Handler, method: str) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            self._serve(handler, method)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, handler: _Handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            method=method,
            path=handler.path,
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        route = handler.path.rstrip("/") if method == "POST" else ""
        with self._lock:
            self.requests.append(recorded)
            is_chat = route in {CHAT_PATH, EMBEDDINGS_PATH}
            reply: Reply | None = self._queue.popleft() if is_chat and self._queue else None
        if not is_chat:
            self._send(handler, 404, {"error": {"message": f"no route {method} {handler.path}"}})
            return
        delay = self.delay_s
        if isinstance(reply, Delay):
            delay += reply.seconds
            reply = reply.then
        if delay > 0 and self._stopping.wait(delay):
            handler.close_connection = True  # shutting down: drop the answer and hang up
            return
        # The client may have given up (timeout) before we answer.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(handler, reply, body if isinstance(body, dict) else {}, recorded)

    def _answer(
        self,
        handler: _Handler,
        reply: Reply | None,
        body: dict[str, Any],
        recorded: RecordedRequest,
    ) -> None:
        if isinstance(reply, Raw):
            data = reply.body
            if isinstance(data, dict | list):
                data = json.dumps(data)
            self._send_bytes(
                handler,
                reply.status,
                data.encode() if isinstance(data, str) else data,
                reply.content_type,
            )
            return
        if isinstance(reply, Error):
            headers = dict(reply.headers)
            if reply.retry_after is not None:
                headers["Retry-After"] = str(reply.retry_after)
            message = f"scripted error {reply.status}"
            if reply.echo_header is not None:
                name = reply.echo_header.lower()
                message = f"rejected {name}: {recorded.headers.get(name, '')}"
            payload = reply.body or {
                "error": {
                    "message": message,
                    "type": "server_error" if reply.status >= 500 else "invalid_request_error",
                    "code": str(reply.status),
                }
            }
            self._send(handler, reply.status, payload, headers)
            return
        if reply is None and recorded.path.rstrip("/") == EMBEDDINGS_PATH:
            self._embeddings(handler, body)
            return
        if reply is None:
            if self.default is None:
                self._send(handler, 500, {"error": {"message": "no scripted reply left"}})
                return
            computed = self.default(body)
            if not isinstance(computed, str):  # a handler may script any reply per request
                self._answer(handler, computed, body, recorded)
                return
            reply = Completion(computed)
        usage = self.default_usage if reply.usage is _DEFAULT else reply.usage
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                }
            ],
        }
        if usage is not None:
            payload["usage"] = usage
        if body.get("stream"):
            self._stream(handler, payload, body)
            return
        self._send(handler, 200, payload)

    def _stream(self, handler: _Handler, payload: dict[str, Any], body: dict[str, Any]) -> None:
        """The completion as server-sent events: one chunk per word, usage last if asked."""
        content = str(payload["choices"][0]["message"]["content"])
        words = [w for w in content.split(" ")]
        base = {k: payload[k] for k in ("id", "created", "model")}
        chunks: list[dict[str, Any]] = []
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            delta = {"content": piece, **({"role": "assistant"} if i == 0 else {})}
            chunks.append(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
            )
        chunks.append(
            {
                **base,
                "object": "chat.completion.chunk",
                "choices": [
                    {
                        "index": 0,
                        "delta": {},
                        "finish_reason": payload["choices"][0]["finish_reason"],
                    }
                ],
            }
        )
        if (body.get("stream_options") or {}).get("include_usage") and "usage" in payload:
            chunks.append(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [],
                    "usage": payload["usage"],
                }
            )
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        events = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
        for event in events:
            data = event.encode()
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()
            if self.stream_delay_s:
                time.sleep(self.stream_delay_s)
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()

    def _embeddings(self, handler: _Handler, body: dict[str, Any]) -> None:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else list(raw or [])
        dimension = int(body.get("dimensions") or self.embedding_dimension)
        as_base64 = body.get("encoding_format") == "base64"  # float32 bytes, as OpenAI sends
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(
                    np.asarray(fake_embedding(str(t), dimension), dtype="<f4").tobytes()
                ).decode()
                if as_base64
                else fake_embedding(str(t), dimension),
            }
            for i, t in enumerate(texts)
        ]
        tokens = sum(len(str(t).split()) for t in texts)
        payload = {
            "object": "list",
            "data": data,
            "model": body.get("model", "unknown"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        self._send(handler, 200, payload)

    @staticmethod
    def _send(
        handler: _Handler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        OpenAIServer._send_bytes(
            handler, status, json.dumps(payload).encode(), "application/json", headers
        )

    @staticmethod
    def _send_bytes(
        handler: _Handler,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)
        handler.wfile.flush()


@pytest.fixture(name="openai_server")
def openai_server_fixture() -> Iterator[OpenAIServer]:
    """A running :class:`OpenAIServer` as fixture ``openai_server``, stopped after the test.

    Import ``openai_server_fixture`` (``# noqa: F401``) into a test module and request
    ``openai_server``; importing it under the fixture's own name works too but makes
    ruff report F811 on every test argument.
    """
    with OpenAIServer() as server:
        yield server


openai_server = openai_server_fixture


def main() -> None:
    """Serve until SIGTERM or SIGINT, printing the base URL on the first line (benchmarks)."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible chat server.")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # before the threads start: they inherit it
    with OpenAIServer(delay_s=args.delay) as server:
        print(server.base_url, flush=True)
        signal.sigwait(stop)


if __name__ == "__main__":
    main()
