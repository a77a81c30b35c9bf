"""OpenAICompatibleChatModel against a local scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ragwright.costs import CostMonitor
from ragwright.costs.monitor import MeteredChatModel
from ragwright.costs.store import CostStore
from ragwright.errors import (
    ConfigError,
    ModelRequestsBlockedError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeoutError,
)
from ragwright.providers.base import ChatRequest, Message
from ragwright.providers.guard import override_allow_model_requests
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.tokens import count_tokens
from tests.conftest import cost_rows
from tests.openai_server import (
    Completion,
    Delay,
    Error,
    OpenAIServer,
    openai_server_fixture,  # noqa: F401 - provides `openai_server`
)

SECRET = "sk-test-0123456789abcdef-SECRET"
FAST_RETRY = {"retry-after-ms": "5"}  # the SDK waits 5 ms instead of its ~0.5 s backoff


def _model(
    server: OpenAIServer,
    *,
    model: str = "gpt-4o-mini",
    api_key: str | None = SECRET,
    timeout_s: float = 5.0,
    max_retries: int = 0,
) -> OpenAICompatibleChatModel:
    return OpenAICompatibleChatModel(
        model,
        base_url=server.base_url,
        api_key=api_key,
        timeout_s=timeout_s,
        max_retries=max_retries,
    )


def _request(question: str = "What does rollback do?", **kwargs: object) -> ChatRequest:
    return ChatRequest(
        messages=(
            Message("system", "Answer from the context only."),
            Message("user", question),
        ),
        **kwargs,  # type: ignore[arg-type]
    )


# --- request and response ---------------------------------------------------------------


def test_usage_parsed_and_request_body_sent(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        Completion(
            '{"answer": "it moves the alias back"}',
            usage={"prompt_tokens": 123, "completion_tokens": 45, "total_tokens": 168},
        )
    )
    model = _model(openai_server)
    with override_allow_model_requests(True):
        response = model.generate(_request(temperature=0.2, max_tokens=64, json_output=True))

    assert response.text == '{"answer": "it moves the alias back"}'
    assert response.usage.prompt_tokens == 123
    assert response.usage.completion_tokens == 45
    assert response.usage.estimated is False
    assert response.usage.calls == 1
    assert response.model == "gpt-4o-mini"
    assert response.provider == "openai"
    assert response.latency_ms > 0
    assert response.cached is False

    assert len(openai_server.requests) == 1
    sent = openai_server.requests[0]
    assert sent.method == "POST"
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert sent.body is not None
    assert sent.body["model"] == "gpt-4o-mini"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Answer from the context only."},
        {"role": "user", "content": "What does rollback do?"},
    ]
    assert sent.body["temperature"] == 0.2
    assert sent.body["max_tokens"] == 64
    assert sent.body["response_format"] == {"type": "json_object"}
    assert sent.body.get("stream") in (None, False)


def test_unset_options_are_not_sent(openai_server: OpenAIServer) -> None:
    with override_allow_model_requests(True):
        response = _model(openai_server).generate(_request("echo me"))
    assert response.text == "echo me"  # the server's default handler echoes the user message
    body = openai_server.requests[0].body
    assert body is not None
    assert "response_format" not in body
    assert "temperature" not in body
    assert "max_tokens" not in body


def test_no_key_with_base_url_sends_placeholder_key(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment-must-not-leak")
    model = _model(openai_server, api_key=None)
    with override_allow_model_requests(True):
        model.generate(_request())
    auth = openai_server.requests[0].headers["authorization"]
    assert auth.startswith("Bearer ")
    assert auth.removeprefix("Bearer ").strip()  # a non-empty placeholder
    assert "sk-from-environment" not in auth


def test_neither_base_url_nor_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="RAGWRIGHT_OPENAI"):
        OpenAICompatibleChatModel("gpt-4o-mini")


def test_api_key_only_is_accepted_without_network() -> None:
    model = OpenAICompatibleChatModel("gpt-4o-mini", api_key=SECRET)
    assert model.base_url is None
    assert model.name == "openai/gpt-4o-mini"
    assert model.is_local is False


def test_omitted_usage_is_estimated(openai_server: OpenAIServer) -> None:
    answer = "The rollback command moves the production alias back."
    openai_server.enqueue(Completion(answer, usage=None))
    with override_allow_model_requests(True):
        response = _model(openai_server).generate(_request())
    assert response.text == answer
    assert response.usage.estimated is True
    assert response.usage.prompt_tokens > 0
    assert response.usage.completion_tokens == count_tokens(answer) > 0
    prompt_text = "Answer from the context only.\nWhat does rollback do?"
    assert response.usage.prompt_tokens == count_tokens(prompt_text)


def test_api_key_not_in_repr(openai_server: OpenAIServer) -> None:
    model = _model(openai_server)
    assert SECRET not in repr(model)
    assert SECRET not in str(model)
    assert "gpt-4o-mini" in repr(model)
    with override_allow_model_requests(True):
        model.generate(_request())
    assert SECRET not in repr(model)  # a created client does not leak into it either


# --- the ALLOW_MODEL_REQUESTS guard ------------------------------------------------------


def test_requests_blocked_by_default_in_tests(openai_server: OpenAIServer) -> None:
    model = _model(openai_server)
    with pytest.raises(ModelRequestsBlockedError) as info:
        model.generate(_request())
    assert info.value.provider == "openai"
    assert info.value.model == "gpt-4o-mini"
    with pytest.raises(ModelRequestsBlockedError):
        asyncio.run(model.agenerate(_request()))
    assert openai_server.requests == []


# --- retries and errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [Error(429, retry_after=0), Error(503)],
    ids=["429-retry-after-0", "503"],
)
def test_retryable_status_then_success(openai_server: OpenAIServer, first: Error) -> None:
    openai_server.enqueue(first, Completion("recovered"))
    model = _model(openai_server, max_retries=2)
    with override_allow_model_requests(True):
        response = model.generate(_request())
    assert response.text == "recovered"
    assert len(openai_server.requests) == 2
    assert openai_server.pending == 0


def test_retry_after_is_honoured(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Error(429, retry_after="0.6"), Completion("after the wait"))
    with override_allow_model_requests(True):
        response = _model(openai_server, max_retries=1).generate(_request())
    assert response.text == "after the wait"
    first, second = openai_server.requests
    assert second.received_at - first.received_at >= 0.55


def test_persistent_500_raises_http_error_after_all_retries(openai_server: OpenAIServer) -> None:
    body = {"error": {"message": "the GPU caught fire", "type": "server_error"}}
    openai_server.enqueue(*[Error(500, body=body, headers=FAST_RETRY) for _ in range(5)])
    model = _model(openai_server, max_retries=2)
    with override_allow_model_requests(True), pytest.raises(ProviderHTTPError) as info:
        model.generate(_request())
    assert info.value.status_code == 500
    assert "the GPU caught fire" in info.value.body
    assert info.value.provider == "openai"
    assert info.value.model == "gpt-4o-mini"
    assert len(openai_server.requests) == 3  # max_retries + 1
    assert SECRET not in str(info.value)


def test_client_error_is_not_retried(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Error(400), Completion("never reached"))
    with override_allow_model_requests(True), pytest.raises(ProviderHTTPError) as info:
        _model(openai_server, max_retries=3).generate(_request())
    assert info.value.status_code == 400
    assert len(openai_server.requests) == 1


def test_timeout_raises_provider_timeout_error(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(2.0))
    model = _model(openai_server, timeout_s=0.3, max_retries=0)
    started = time.monotonic()
    with override_allow_model_requests(True), pytest.raises(ProviderTimeoutError) as info:
        model.generate(_request())
    assert time.monotonic() - started < 1.5
    assert not isinstance(info.value, ProviderHTTPError)
    assert info.value.model == "gpt-4o-mini"
    assert len(openai_server.requests) == 1


def test_timeout_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(2.0), Completion("second try"))
    model = _model(openai_server, timeout_s=0.3, max_retries=1)
    with override_allow_model_requests(True):
        response = model.generate(_request())
    assert response.text == "second try"
    assert len(openai_server.requests) == 2


def test_connection_refused_is_a_provider_error() -> None:
    with OpenAIServer() as server:
        base_url = server.base_url  # a port that was free a moment ago
    model = OpenAICompatibleChatModel(
        "gpt-4o-mini", base_url=base_url, api_key=SECRET, timeout_s=1, max_retries=0
    )
    with override_allow_model_requests(True), pytest.raises(ProviderError) as info:
        model.generate(_request())
    assert type(info.value) is ProviderError  # neither an HTTP status nor a timeout


# --- async ---------------------------------------------------------------------------------


def test_agenerate_parses_usage_and_sends_the_same_body(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        Completion("async answer", usage={"prompt_tokens": 9, "completion_tokens": 2}),
        Completion("estimated", usage=None),
    )
    model = _model(openai_server)

    async def both() -> tuple:
        first = await model.agenerate(_request(temperature=0.0, json_output=True))
        second = await model.agenerate(_request())
        return first, second

    with override_allow_model_requests(True):
        first, second = asyncio.run(both())
    assert first.text == "async answer"
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (9, 2)
    assert first.usage.estimated is False
    assert second.usage.estimated is True
    assert second.usage.completion_tokens == count_tokens("estimated")
    body = openai_server.requests[0].body
    assert body is not None
    assert body["temperature"] == 0.0
    assert body["response_format"] == {"type": "json_object"}
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


def test_agenerate_concurrentcost_rows(openai_server: OpenAIServer) -> None:
    model = _model(openai_server)

    async def many() -> list[str]:
        responses = await asyncio.gather(*(model.agenerate(_request(f"q{i}")) for i in range(8)))
        return [r.text for r in responses]

    with override_allow_model_requests(True):
        texts = asyncio.run(many())
    assert texts == [f"q{i}" for i in range(8)]
    assert len(openai_server.requests) == 8


def test_agenerate_retries_then_raises_http_error(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Error(503, headers=FAST_RETRY), Error(500, headers=FAST_RETRY))
    model = _model(openai_server, max_retries=1)
    with override_allow_model_requests(True), pytest.raises(ProviderHTTPError) as info:
        asyncio.run(model.agenerate(_request()))
    assert info.value.status_code == 500
    assert len(openai_server.requests) == 2


def test_agenerate_429_then_success(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Error(429, retry_after=0), Completion("fine"))
    with override_allow_model_requests(True):
        response = asyncio.run(_model(openai_server, max_retries=1).agenerate(_request()))
    assert response.text == "fine"
    assert len(openai_server.requests) == 2


def test_agenerate_timeout(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(2.0))
    model = _model(openai_server, timeout_s=0.3, max_retries=0)
    with override_allow_model_requests(True), pytest.raises(ProviderTimeoutError):
        asyncio.run(model.agenerate(_request()))
    assert len(openai_server.requests) == 1


# --- metering ------------------------------------------------------------------------------


def test_metered_provider_records_each_call(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.enqueue(
        Completion("ok", usage={"prompt_tokens": 1000, "completion_tokens": 500}),
        Error(500, headers=FAST_RETRY),
        Completion("judged", usage={"prompt_tokens": 2_000_000, "completion_tokens": 0}),
    )
    path = tmp_path / "costs.db"
    monitor = CostMonitor(path, flush_interval_s=3600)
    try:
        model = MeteredChatModel(_model(openai_server, max_retries=0), monitor)
        with override_allow_model_requests(True):
            model.generate(_request(prompt="rag_answer", tags=(("run", "r1"),)))
            with pytest.raises(ProviderHTTPError):
                model.generate(_request(prompt="rag_answer"))
            asyncio.run(model.agenerate(_request(prompt="judge_faith", operation="judge")))
        assert monitor.flush() == 3
        ok, failed, judged = cost_rows(path)

        assert ok["provider"] == "openai"
        assert ok["model"] == "gpt-4o-mini"
        assert ok["operation"] == "generate"
        assert ok["prompt"] == "rag_answer"
        assert (ok["prompt_tokens"], ok["completion_tokens"]) == (1000, 500)
        assert ok["estimated"] == 0
        assert ok["latency_ms"] > 0
        assert ok["status"] == "ok"
        assert ok["error_type"] is None
        # 1000 x 0.15 + 500 x 0.60 USD per million tokens
        assert ok["cost_usd"] == pytest.approx(0.00045, rel=1e-9)
        assert ok["tags"] == '{"run": "r1"}'

        assert failed["status"] == "error"
        assert failed["error_type"] == "ProviderHTTPError"
        assert failed["model"] == "gpt-4o-mini"
        assert failed["prompt"] == "rag_answer"
        assert failed["latency_ms"] > 0
        assert (failed["prompt_tokens"], failed["completion_tokens"]) == (0, 0)

        assert judged["operation"] == "judge"
        assert judged["prompt"] == "judge_faith"
        assert judged["cost_usd"] == pytest.approx(0.30)

        store = CostStore(path)
        try:
            (group,) = store.group(by="model")
            assert group.key == "openai/gpt-4o-mini"
            assert group.calls == 3
            assert group.error_rate == pytest.approx(1 / 3)
            assert group.cost_usd == pytest.approx(0.30045)
        finally:
            store.close()
    finally:
        monitor.close()


def test_metered_timeout_and_estimated_usage(openai_server: OpenAIServer, tmp_path: Path) -> None:
    openai_server.enqueue(Delay(2.0), Completion("no usage here", usage=None))
    monitor = CostMonitor(tmp_path / "costs.db", flush_interval_s=3600)
    try:
        model = MeteredChatModel(_model(openai_server, timeout_s=0.3), monitor)
        with override_allow_model_requests(True):
            with pytest.raises(ProviderTimeoutError):
                model.generate(_request())
            model.generate(_request())
        monitor.flush()
        timed_out, estimated = cost_rows(monitor.path)
        assert timed_out["status"] == "error"
        assert timed_out["error_type"] == "ProviderTimeoutError"
        assert timed_out["latency_ms"] >= 250
        assert estimated["estimated"] == 1
        assert estimated["completion_tokens"] == count_tokens("no usage here")
        assert estimated["cost_usd"] == pytest.approx(
            (estimated["prompt_tokens"] * 0.15 + estimated["completion_tokens"] * 0.60) / 1e6
        )
    finally:
        monitor.close()


def test_blocked_call_through_meter_is_recorded_as_error(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    monitor = CostMonitor(tmp_path / "costs.db", flush_interval_s=3600)
    try:
        model = MeteredChatModel(_model(openai_server), monitor)
        with pytest.raises(ModelRequestsBlockedError):
            model.generate(_request())
        monitor.flush()
        (row,) = cost_rows(monitor.path)
        assert row["error_type"] == "ModelRequestsBlockedError"
        assert openai_server.requests == []
    finally:
        monitor.close()


# --- the test server itself ------------------------------------------------------------------


def test_server_constant_delay_and_context_manager() -> None:
    with OpenAIServer(delay_s=0.2) as server:
        model = OpenAICompatibleChatModel(
            "bench", base_url=server.base_url, api_key=None, timeout_s=5, max_retries=0
        )
        with override_allow_model_requests(True):
            started = time.monotonic()
            response = model.generate(_request("hello"))
            elapsed = time.monotonic() - started
        assert response.text == "hello"
        assert elapsed >= 0.2
        assert response.usage.estimated is False  # the server's default usage block
    with pytest.raises(RuntimeError):
        _ = server.base_url  # stopped


def test_one_model_serves_successive_event_loops(openai_server: OpenAIServer) -> None:
    """The gate runs baseline and candidate on two loops with the same chain and judge.

    An async HTTP client belongs to the loop it first ran on; reused on a new loop
    its pooled connections point at a closed one.
    """
    model = _model(openai_server)

    async def ask_then_close(question: str) -> str:
        try:
            return (await model.agenerate(_request(question))).text
        finally:
            await model.aclose()

    async def ask(question: str) -> str:
        return (await model.agenerate(_request(question))).text

    with override_allow_model_requests(True):
        assert asyncio.run(ask("first loop")) == "first loop"
        assert asyncio.run(ask("second loop")) == "second loop"  # no close in between
        assert asyncio.run(ask_then_close("third loop")) == "third loop"
        assert asyncio.run(ask("after close")) == "after close"
    assert len(openai_server.requests) == 4


def test_request_slots_bound_requests_in_flight(openai_server: OpenAIServer) -> None:
    from ragwright.providers.limits import request_slots

    openai_server.delay_s = 0.1
    model = _model(openai_server)

    async def many() -> list[str]:
        with request_slots(3):
            return [
                r.text
                for r in await asyncio.gather(
                    *(model.agenerate(_request(f"q{i}")) for i in range(12))
                )
            ]

    with override_allow_model_requests(True):
        started = time.monotonic()
        texts = asyncio.run(many())
        elapsed = time.monotonic() - started
    assert texts == [f"q{i}" for i in range(12)]
    assert openai_server.peak_in_flight == 3  # never more than the slots, and all used
    assert elapsed >= 4 * 0.1  # 12 requests through 3 slots: at least 4 rounds
    with pytest.raises(ValueError, match="at least 1"), request_slots(0):
        pass
