"""Any OpenAI-compatible chat endpoint: OpenAI, Azure, vLLM, Ollama, llama.cpp.

The openai SDK does the HTTP work, including retries with backoff on 429, 5xx
and timeouts (it honours ``Retry-After``). This module is the one boundary where
SDK exceptions become ragwright's :class:`~ragwright.errors.ProviderError` family.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any

from ragwright.errors import ConfigError, ProviderError, ProviderHTTPError, ProviderTimeoutError
from ragwright.providers import guard
from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse
from ragwright.providers.limits import request_slot
from ragwright.tokens import count_tokens
from ragwright.usage import Usage

if TYPE_CHECKING:
    import openai

__all__ = ["OpenAICompatibleChatModel"]

_PLACEHOLDER_KEY = "not-needed"  # self-hosted servers (vLLM, Ollama) ignore the key


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
        self.model = model
        self.base_url = base_url
        self._client_args: dict[str, Any] = {
            "base_url": base_url,
            "api_key": api_key or _PLACEHOLDER_KEY,
            "timeout": timeout_s,
            "max_retries": max_retries,
        }
        self._sync: openai.OpenAI | None = None
        # An async client's connections belong to the event loop it ran on; the gate
        # runs baseline and candidate on two loops, so the client is kept per loop.
        self._async: openai.AsyncOpenAI | None = None
        self._async_loop: weakref.ref[asyncio.AbstractEventLoop] | None = None

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
            completion = self._sync.chat.completions.create(**self._kwargs(request))
        except openai.OpenAIError as exc:
            raise self._convert(exc) from exc
        return self._response(request, completion, started)

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        guard.check_model_requests_allowed(self.provider, self.model)
        import openai

        client = self._async_client()
        async with request_slot():
            started = time.perf_counter()
            try:
                completion = await client.chat.completions.create(**self._kwargs(request))
            except openai.OpenAIError as exc:
                raise self._convert(exc) from exc
        return self._response(request, completion, started)

    def _async_client(self) -> openai.AsyncOpenAI:
        import openai

        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is None or self._async_loop() is not loop:
            self._async = openai.AsyncOpenAI(**self._client_args)
            self._async_loop = weakref.ref(loop)
        return self._async

    async def aclose(self) -> None:
        client, self._async, self._async_loop = self._async, None, None
        if client is not None:
            await client.close()

    def _response(self, request: ChatRequest, completion: Any, started: float) -> ChatResponse:
        latency_ms = (time.perf_counter() - started) * 1000
        text = completion.choices[0].message.content or "" if completion.choices else ""
        reported = completion.usage
        if reported is not None and reported.prompt_tokens is not None:
            usage = Usage(
                prompt_tokens=reported.prompt_tokens,
                completion_tokens=reported.completion_tokens or 0,
                calls=1,
            )
        else:
            # The server reported nothing: estimate with cl100k and say so.
            prompt_text = "\n".join(m.content for m in request.messages)
            usage = Usage(
                prompt_tokens=count_tokens(prompt_text),
                completion_tokens=count_tokens(text),
                estimated=True,
                calls=1,
            )
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
            return ProviderHTTPError(
                provider=self.provider,
                model=self.model,
                status_code=exc.status_code,
                body=exc.response.text if exc.response is not None else str(exc),
            )
        return ProviderError(str(exc), provider=self.provider, model=self.model)
