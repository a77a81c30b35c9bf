"""Any OpenAI-compatible chat endpoint: OpenAI, Azure, vLLM, Ollama, llama.cpp.

The openai SDK does the HTTP work, including retries with backoff on 429, 5xx
and timeouts (it honours ``Retry-After``). This module is the one boundary where
SDK exceptions become ragwright's :class:`~ragwright.errors.ProviderError` family.
The body of a 2xx answer is read raw and validated here (``openai_reply``), so a
malformed reply is a :class:`~ragwright.errors.ProviderResponseError` too, never
a ``JSONDecodeError`` or ``AttributeError`` from inside the SDK.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ragwright.errors import (
    ConfigError,
    ProviderError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderTimeoutError,
)
from ragwright.providers import guard
from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse, StreamItem
from ragwright.providers.limits import request_slot
from ragwright.providers.openai_clients import client_for, client_key, close_client
from ragwright.providers.openai_reply import MalformedReplyError, excerpt, parse_chat_reply
from ragwright.tokens import count_tokens
from ragwright.usage import Usage

if TYPE_CHECKING:
    import openai
    from openai import RequestOptions

__all__ = ["OpenAICompatibleChatModel"]

_PLACEHOLDER_KEY = "not-needed"  # self-hosted servers (vLLM, Ollama) ignore the key
_CHAT_PATH = "/chat/completions"
# Whole (non-streamed) calls go through the client's documented ``post`` rather than
# ``chat.completions.create``: ``create`` walks every message through the SDK's
# TypedDict transform (type introspection per field, about a third of the client's
# CPU per call), which changes nothing in a body of plain strings and numbers. The
# header asks the SDK for its raw response, as ``with_raw_response`` does, so retries,
# timeouts and the SDK's exception types stay the same and the body is read here.
_RAW: RequestOptions = {"headers": {"X-Stainless-Raw-Response": "true"}}


class OpenAICompatibleChatModel(ChatModel):
    """Chat completions over the OpenAI wire protocol."""

    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        if api_key is None and base_url is None:
            raise ConfigError(
                f"chat model '{model}' needs an endpoint: set RAGWRIGHT_OPENAI_API_KEY for"
                " OpenAI, or RAGWRIGHT_OPENAI_BASE_URL for a self-hosted server"
                " (vLLM, Ollama, llama.cpp); or use RAGWRIGHT_CHAT_MODEL=local/extractive"
            )
        _refuse_userinfo(model, base_url)
        self.model = model
        self.base_url = base_url
        self._client_args: dict[str, Any] = {
            "base_url": base_url,
            "api_key": api_key or _PLACEHOLDER_KEY,
            "timeout": timeout_s,
            "max_retries": max_retries,
        }
        self._sync: openai.OpenAI | None = None
        self._client_key = client_key(self._client_args)  # async: one client per loop

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatibleChatModel(model={self.model!r}, base_url={self.base_url!r})"

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.json_output:
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def generate(self, request: ChatRequest) -> ChatResponse:
        guard.check_model_requests_allowed(self.provider, self.model)
        import openai

        if self._sync is None:
            self._sync = openai.OpenAI(**self._client_args)
        started = time.perf_counter()
        try:
            raw = self._sync.post(
                _CHAT_PATH, cast_to=object, body=self._kwargs(request), options=_RAW
            )
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        return self._response(request, raw, started)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        guard.check_model_requests_allowed(self.provider, self.model)
        import openai

        client = self._async_client()
        async with request_slot():
            started = time.perf_counter()
            try:
                raw = await client.post(
                    _CHAT_PATH, cast_to=object, body=self._kwargs(request), options=_RAW
                )
            except openai.OpenAIError as exc:
                raise self._convert(exc) from exc
        return self._response(request, raw, started)

    def stream(self, request: ChatRequest) -> Iterator[StreamItem]:
        """Server-sent chunks as they arrive; usage from the last chunk (``include_usage``)."""
        guard.check_model_requests_allowed(self.provider, self.model)
        import openai

        if self._sync is None:
            self._sync = openai.OpenAI(**self._client_args)
        started = time.perf_counter()
        tracker = _StreamTracker(started)
        try:
            chunks = self._sync.chat.completions.create(**self._stream_kwargs(request))
            for chunk in chunks:
                if piece := tracker.add(chunk):
                    yield piece
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        yield self._streamed(request, tracker)

    async def astream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        guard.check_model_requests_allowed(self.provider, self.model)
        import openai

        client = self._async_client()
        async with request_slot():
            tracker = _StreamTracker(time.perf_counter())
            try:
                chunks = await client.chat.completions.create(**self._stream_kwargs(request))
                async for chunk in chunks:
                    if piece := tracker.add(chunk):
                        yield piece
            except openai.OpenAIError as exc:
                raise self._convert(exc) from exc
        yield self._streamed(request, tracker)

    def _stream_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        return {
            **self._kwargs(request),
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    def _streamed(self, request: ChatRequest, tracker: _StreamTracker) -> ChatResponse:
        text = "".join(tracker.pieces)
        usage = _usage(request, text, tracker.prompt_tokens, tracker.completion_tokens)
        return ChatResponse(
            text=text,
            usage=usage,
            model=self.model,
            provider=self.provider,
            latency_ms=(time.perf_counter() - tracker.started) * 1000,
            ttft_ms=tracker.ttft_ms,
        )

    def _async_client(self) -> openai.AsyncOpenAI:
        return client_for(self._client_key)

    async def aclose(self) -> None:
        """Close this loop's client, shared with every model on the same endpoint."""
        await close_client(self._client_key)

    def _response(self, request: ChatRequest, raw: Any, started: float) -> ChatResponse:
        """Validate the raw 2xx body (``raw`` is the SDK's ``LegacyAPIResponse``)."""
        latency_ms = (time.perf_counter() - started) * 1000
        body: bytes = raw.content
        try:
            reply = parse_chat_reply(body)
        except MalformedReplyError as exc:
            content_type = raw.headers.get("content-type", "no content-type")
            raise ProviderResponseError(
                provider=self.provider,
                model=self.model,
                status_code=raw.status_code,
                reason=f"{exc} ({content_type})",
                excerpt=excerpt(body, secrets=self._secrets()),
            ) from exc
        text = reply.text
        usage = _usage(request, text, reply.prompt_tokens, reply.completion_tokens)
        return ChatResponse(
            text=text,
            usage=usage,
            model=self.model,
            provider=self.provider,
            latency_ms=latency_ms,
        )

    def _convert(self, exc: Exception) -> ProviderError:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeoutError(
                f"no answer within {self._client_args['timeout']} s (after retries)",
                provider=self.provider,
                model=self.model,
            )
        if isinstance(exc, openai.APIStatusError):
            body = exc.response.content if exc.response is not None else str(exc)
            return ProviderHTTPError(
                provider=self.provider,
                model=self.model,
                status_code=exc.status_code,
                body=excerpt(body, secrets=self._secrets(), limit=300),
            )
        return ProviderError(str(exc), provider=self.provider, model=self.model)

    def _secrets(self) -> tuple[str, ...]:
        key = str(self._client_args["api_key"])
        return () if key == _PLACEHOLDER_KEY else (key,)


class _StreamTracker:
    """The text, first-token time and usage gathered from a stream's chunks."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.pieces: list[str] = []
        self.ttft_ms: float | None = None
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

    def add(self, chunk: Any) -> str:
        usage = getattr(chunk, "usage", None)
        if usage is not None and isinstance(getattr(usage, "prompt_tokens", None), int):
            self.prompt_tokens = usage.prompt_tokens
            self.completion_tokens = getattr(usage, "completion_tokens", None)
        choices = getattr(chunk, "choices", None) or []
        delta = getattr(choices[0], "delta", None) if choices else None
        piece = getattr(delta, "content", None)
        if not isinstance(piece, str) or not piece:
            return ""
        if self.ttft_ms is None:
            self.ttft_ms = (time.perf_counter() - self.started) * 1000
        self.pieces.append(piece)
        return piece


def _refuse_userinfo(model: str, base_url: str | None) -> None:
    """A base URL with ``user:pass@`` would make httpx send Basic auth instead of the key.

    The request then fails (or worse, authenticates as someone else) with nothing
    pointing at the URL, and the password travels in every log line that prints
    the URL. Refuse it and say where credentials go.
    """
    if base_url is None:
        return
    parts = urlsplit(base_url)
    if parts.username is None and parts.password is None:
        return
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    shown = urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))
    raise ConfigError(
        f"chat model '{model}': the base URL {shown} carries credentials (user:password@);"
        " the OpenAI client would send them as Basic auth instead of the API key. Remove"
        " them from RAGWRIGHT_OPENAI_BASE_URL and put the key in RAGWRIGHT_OPENAI_API_KEY"
    )


def _usage(
    request: ChatRequest, text: str, prompt_tokens: int | None, completion_tokens: int | None
) -> Usage:
    """The usage the server reported; when it reported none (a server that ignores
    ``include_usage``, or sends no ``usage``), an estimate with cl100k, marked as such."""
    if prompt_tokens is not None:
        return Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens or 0, calls=1)
    prompt_text = "\n".join(m.content for m in request.messages)
    return Usage(
        prompt_tokens=count_tokens(prompt_text),
        completion_tokens=count_tokens(text),
        estimated=True,
        calls=1,
    )
