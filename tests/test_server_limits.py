"""``ragwright serve`` under faults: a hung provider, stuffed bodies, bad text, spent budgets.

Each test runs the real application on a real uvicorn server (tests/live_app.py)
and talks to it over HTTP; the model provider, where one is needed, is the fake
OpenAI server (tests/openai_server.py). Issue 13 found each of these by running it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from ragwright.costs.monitor import monitor_for
from ragwright.errors import BudgetExceededError
from ragwright.flows.ingest import ingest
from ragwright.providers.function import FunctionChatModel
from ragwright.providers.guard import override_allow_model_requests
from ragwright.rag import RagChain
from ragwright.rag.server import ServeOptions, create_app, seconds_to_budget_reset
from ragwright.settings import BudgetSettings, Settings
from tests.conftest import cost_rows, record_spend
from tests.live_app import serve_app
from tests.openai_server import Error, OpenAIServer, openai_server_fixture  # noqa: F401

API_KEY = "sk-issue13-abcdefghijklmnopqrstuvwxyz"
QUESTION = "How do I roll back a prompt?"


@pytest.fixture
def settings(small_docs: Path) -> Settings:
    indexed = Settings(docs_dir=small_docs)
    ingest(indexed)
    return indexed


def remote(settings: Settings, server: OpenAIServer, **changes: object) -> Settings:
    """``settings`` with the chat model on the fake server: no retries, so failures are quick."""
    return settings.model_copy(
        update={
            "chat_model": "gpt-4o-mini",
            "openai_base_url": server.base_url,
            "openai_api_key": SecretStr(API_KEY),
            "openai_max_retries": 0,
            **changes,
        }
    )


@pytest.fixture
def local_url(settings: Settings) -> Iterator[str]:
    with serve_app(create_app(RagChain.from_settings(settings))) as url:
        yield url


def wait_for(condition: Callable[[], bool], deadline_s: float = 60.0) -> None:
    """Poll until ``condition`` holds; the deadline only bounds a broken run."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_healthz_is_answered_while_every_answer_thread_hangs(settings: Settings) -> None:
    """Answers run on their own bounded pool; /healthz never waits for it, extra work is 503."""
    with OpenAIServer(delay_s=3600) as hung:  # answers only when stopped: a hung provider
        chain = RagChain.from_settings(remote(settings, hung))
        app = create_app(chain, ServeOptions(workers=2, max_in_flight=3))
        with (
            override_allow_model_requests(True),
            serve_app(app) as url,
            ThreadPoolExecutor(5) as clients,
        ):
            asks = [
                clients.submit(
                    httpx.post, f"{url}/v1/answer", json={"question": QUESTION}, timeout=120
                )
                for _ in range(5)
            ]
            # Two are refused at once, while three (two running, one queued) hang.
            refused = []
            for future in as_completed(asks, timeout=60):
                refused.append(future.result())
                if len(refused) == 2:
                    break
            assert [r.status_code for r in refused] == [503, 503]
            assert all(r.headers["retry-after"] == "1" for r in refused)
            assert "serve_max_in_flight" in refused[0].json()["detail"]

            wait_for(lambda: len(hung.requests) == 2)  # both worker threads are stuck now

            health = httpx.get(f"{url}/healthz", timeout=30)
            assert health.status_code == 200
            assert health.json()["status"] == "ok"
            assert health.json()["in_flight"] == 3
            assert len(hung.requests) == 2  # the third waits for a thread, not the provider

            hung.stop()  # the provider goes away: the held calls fail, as does the queued one
            answered = [f.result(timeout=60) for f in asks]
    assert sorted(r.status_code for r in answered) == [502, 502, 502, 503, 503]
    assert all("Traceback" not in r.text for r in answered)


def test_bodies_over_the_limit_are_refused_before_parsing(
    settings: Settings, local_url: str
) -> None:
    """A 10 MB tags object was parsed and written to costs.db on every request."""
    monitor_for(settings).flush()
    before = len(cost_rows(settings.costs_db))  # the ingest's embedding calls
    stuffed = {"question": QUESTION, "tags": {f"k{i}": "v" * 1000 for i in range(10_000)}}
    declared = httpx.post(f"{local_url}/v1/answer", json=stuffed, timeout=60)
    assert declared.status_code == 413
    assert "serve_max_body_bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server has to count
        yield b'{"question": "q", "tags": {"a": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    streamed = httpx.post(
        f"{local_url}/v1/answer",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert streamed.status_code == 413
    monitor_for(settings).flush()
    assert len(cost_rows(settings.costs_db)) == before  # nothing reached the chain


def test_fields_are_bounded_and_never_echoed(settings: Settings, local_url: str) -> None:
    def post(body: dict[str, object]) -> httpx.Response:
        return httpx.post(f"{local_url}/v1/answer", json=body, timeout=60)

    invalid = {
        "17 tags": {"question": QUESTION, "tags": {f"k{i}": "v" for i in range(17)}},
        "long key": {"question": QUESTION, "tags": {"k" * 65: "v"}},
        "empty key": {"question": QUESTION, "tags": {"": "v"}},
        "long value": {"question": QUESTION, "tags": {"k": "v" * 257}},
        "long prompt": {"question": QUESTION, "prompt": "p" * 201},
        "unknown field": {"question": QUESTION, "tag": {"team": "x"}},
    }
    for case, body in invalid.items():
        response = post(body)
        assert response.status_code == 422, case
        assert '"input"' not in response.text, case  # the rejected value does not come back
        assert "v" * 257 not in response.text

    at_limits = {f"{i:02d}" + "k" * 62: "v" * 256 for i in range(16)}
    answered = post({"question": QUESTION, "tags": at_limits})
    assert answered.status_code == 200
    monitor_for(settings).flush()
    recorded = [json.loads(row["tags"]) for row in cost_rows(settings.costs_db)]
    assert at_limits in recorded


@pytest.mark.parametrize(
    "body",
    [
        '{"question": "\\ud800 roll back?"}',
        '{"question": "roll back?", "tags": {"team": "\\udfff"}}',
        '{"question": "roll back?", "prompt": "rag_answer@v1\\ud83d"}',
    ],
)
def test_invalid_unicode_is_422_with_a_message(local_url: str, body: str) -> None:
    """A lone surrogate passed JSON parsing and failed downstream: HTTP 500 and a traceback."""
    response = httpx.post(
        f"{local_url}/v1/answer",
        content=body.encode("ascii"),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert "invalid Unicode" in problem["msg"]
    assert "lone surrogate" in problem["msg"]
    assert "\\ud800" in problem["msg"]


def test_spent_hard_budget_is_429_with_retry_after(
    settings: Settings, openai_server: OpenAIServer
) -> None:
    budget = BudgetSettings(name="bot", limit_usd=1.0, hard=True, period="daily")
    limited = remote(settings, openai_server, budgets=[budget])
    record_spend(limited.costs_db, 5.0)
    app = create_app(RagChain.from_settings(limited), ServeOptions.from_settings(limited))
    with override_allow_model_requests(True), serve_app(app) as url:
        response = httpx.post(f"{url}/v1/answer", json={"question": QUESTION}, timeout=60)
    assert response.status_code == 429
    assert "hard budget 'bot'" in response.json()["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= 24 * 3600
    assert openai_server.requests == []  # refused before the provider


def test_retry_after_counts_to_the_end_of_the_budget_period() -> None:
    exc = BudgetExceededError("spent")
    now = datetime(2026, 2, 27, 23, 0, 0, tzinfo=UTC)
    assert seconds_to_budget_reset(exc, ("daily",), now) == 3600
    assert seconds_to_budget_reset(exc, ("monthly",), now) == 25 * 3600  # to March 1st
    assert seconds_to_budget_reset(exc, ("daily", "monthly"), now) == 3600  # the soonest
    own = BudgetExceededError("spent", budget="m", period="monthly")
    assert seconds_to_budget_reset(own, ("daily",), now) == 25 * 3600  # the error's own budget
    december = datetime(2026, 12, 31, 12, 0, 0, tzinfo=UTC)
    assert seconds_to_budget_reset(BudgetExceededError("x"), ("monthly",), december) == 12 * 3600


def test_unexpected_error_is_500_with_a_request_id_and_no_traceback(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_: object) -> str:
        raise RuntimeError(f"bug while holding Bearer {API_KEY}")

    chain = RagChain.from_settings(settings, chat_model=FunctionChatModel(broken))
    with serve_app(create_app(chain)) as url, caplog.at_level(logging.ERROR):
        response = httpx.post(f"{url}/v1/answer", json={"question": QUESTION}, timeout=60)
        chosen = httpx.post(
            f"{url}/v1/answer",
            json={"question": QUESTION},
            headers={"x-request-id": "trace-42"},
            timeout=60,
        )
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"detail", "request_id"}
    assert response.headers["x-request-id"] == body["request_id"]
    for leaked in ("Traceback", "RuntimeError", API_KEY):
        assert leaked not in response.text
    assert chosen.json()["request_id"] == "trace-42"
    [logged, _] = [r for r in caplog.records if r.name == "ragwright.rag.middleware"]
    assert body["request_id"] in logged.getMessage()
    assert logged.exc_info is not None  # the traceback stays on the server


def test_provider_error_relayed_without_credentials(
    settings: Settings, openai_server: OpenAIServer
) -> None:
    """An endpoint that echoes the Authorization header made the 502 carry the API key."""
    openai_server.enqueue(Error(401, echo_header="authorization"))
    chain = RagChain.from_settings(remote(settings, openai_server))
    with override_allow_model_requests(True), serve_app(create_app(chain)) as url:
        response = httpx.post(f"{url}/v1/answer", json={"question": QUESTION}, timeout=60)
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert "HTTP 401" in detail
    assert "[redacted]" in detail
    assert API_KEY not in response.text
    assert API_KEY[3:20] not in response.text
