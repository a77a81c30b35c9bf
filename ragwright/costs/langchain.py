"""``CostCallbackHandler``: record the model calls of LangChain chains users build themselves.

Attach it to any runnable (``chain.invoke(x, config={"callbacks": [handler]})``) and
each chat model or LLM call lands in the same cost store as ragwright's own calls,
with tokens from the provider's usage when it reports them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.outputs import LLMResult

from ragwright.costs.monitor import CostMonitor
from ragwright.usage import Usage

__all__ = ["CostCallbackHandler"]


def _model_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> str:
    params = kwargs.get("invocation_params") or {}
    for key in ("model_name", "model", "deployment_name"):
        if params.get(key):
            return str(params[key])
    serialized_kwargs = (serialized or {}).get("kwargs", {})
    for key in ("model_name", "model"):
        if serialized_kwargs.get(key):
            return str(serialized_kwargs[key])
    return "unknown"


def _usage(response: LLMResult) -> Usage | None:
    for generations in response.generations:
        for generation in generations:
            message = getattr(generation, "message", None)
            metadata = getattr(message, "usage_metadata", None)
            if metadata:
                return Usage(
                    int(metadata.get("input_tokens", 0)),
                    int(metadata.get("output_tokens", 0)),
                    calls=1,
                )
    token_usage = (response.llm_output or {}).get("token_usage") or {}
    if token_usage:
        return Usage(
            int(token_usage.get("prompt_tokens", 0)),
            int(token_usage.get("completion_tokens", 0)),
            calls=1,
        )
    return None


class CostCallbackHandler(BaseCallbackHandler):
    """Records each LLM/chat model call: model, tokens, latency, cost, status, tags."""

    def __init__(
        self,
        monitor: CostMonitor | None = None,
        *,
        provider: str = "openai",
        prompt: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        if monitor is None:  # the process-wide monitor of the configured settings
            from ragwright.costs.monitor import monitor_for
            from ragwright.settings import load_settings

            monitor = monitor_for(load_settings())
        self.monitor = monitor
        self.provider = provider
        self.prompt = prompt
        self.tags = tuple(sorted((tags or {}).items()))
        self._started: dict[UUID, tuple[float, str, str]] = {}

    def _start(
        self, run_id: UUID, serialized: dict[str, Any], prompt_text: str, kwargs: Mapping[str, Any]
    ) -> None:
        self._started[run_id] = (time.perf_counter(), _model_name(serialized, kwargs), prompt_text)

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[Any]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        text = "\n".join(str(getattr(m, "content", m)) for batch in messages for m in batch)
        self._start(run_id, serialized, text, kwargs)

    def on_llm_start(
        self, serialized: dict[str, Any], prompts: list[str], *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._start(run_id, serialized, "\n".join(prompts), kwargs)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        started, model, prompt_text = self._started.pop(
            run_id, (time.perf_counter(), "unknown", "")
        )
        usage = _usage(response)
        if usage is None:  # the provider reported nothing: estimate, and say so
            from ragwright.tokens import count_tokens

            output = "".join(g.text for gens in response.generations for g in gens)
            usage = Usage(count_tokens(prompt_text), count_tokens(output), estimated=True, calls=1)
        self.monitor.record_call(
            provider=self.provider,
            model=model,
            operation="generate",
            prompt=self.prompt,
            usage=usage,
            latency_ms=(time.perf_counter() - started) * 1000,
            tags=self.tags,
        )

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        started, model, _ = self._started.pop(run_id, (time.perf_counter(), "unknown", ""))
        self.monitor.record_call(
            provider=self.provider,
            model=model,
            operation="generate",
            prompt=self.prompt,
            usage=Usage(calls=1),
            latency_ms=(time.perf_counter() - started) * 1000,
            status="error",
            error_type=type(error).__name__,
            tags=self.tags,
        )
