"""Malformed 200 replies and unusable base URLs: one ProviderError, never a crash.

Proxies put HTML error pages behind a 200, half-compatible servers omit
``choices``, connections die mid-body. The provider boundary turns each into a
``ProviderResponseError``; ``eval run`` scores the case as an error and goes on,
``ask`` exits 2 with one line, and every call made is in the cost store.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ragwright.costs import CostMonitor
from ragwright.costs.monitor import MeteredChatModel
from ragwright.errors import ConfigError, ProviderHTTPError, ProviderResponseError
from ragwright.flows.ingest import ingest
from ragwright.providers.base import ChatRequest, Message
from ragwright.providers.guard import override_allow_model_requests
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.settings import Settings
from tests.conftest import cost_rows, run_cli, write_golden
from tests.openai_server import (
    Completion,
    Error,
    OpenAIServer,
    Raw,
    openai_server_fixture,  # noqa: F401 - provides `openai_server`
)

SECRET = "sk-test-0123456789abcdef-SECRET"
HTML = "<html><head><title>502</title></head><body><h1>Bad Gateway</h1></body></html>"

MALFORMED = {
    "html page": (Raw(HTML, content_type="text/html"), "not JSON"),
    "html labelled json": (Raw(HTML), "not JSON"),
    "truncated json": (Raw('{"id": "x", "choices": [{"message": {"con'), "not JSON"),
    "empty body": (Raw(""), "empty body"),
    "no choices": (Raw({"id": "chatcmpl-1", "object": "chat.completion"}), "'choices'"),
    "empty choices": (Raw({"choices": []}), "'choices'"),
    "choices not a list": (Raw({"choices": "none"}), "'choices'"),
    "message missing": (Raw({"choices": [{"index": 0}]}), "'choices.0.message'"),
    "json array": (Raw([1, 2]), "not an object"),
    "not utf-8": (Raw(b"\x80\x81 garbage"), "not UTF-8"),
    "bom, nul and escape": (Raw(b"\xff\xfe\x00garbage\x1b[31m"), "not UTF-8"),
}


def _model(server: OpenAIServer) -> OpenAICompatibleChatModel:
    return OpenAICompatibleChatModel(
        "gpt-4o-mini", base_url=server.base_url, api_key=SECRET, timeout_s=5, max_retries=0
    )


def _request() -> ChatRequest:
    return ChatRequest(messages=(Message("user", "What does rollback do?"),))


@pytest.mark.parametrize(("reply", "reason"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_reply_is_a_provider_response_error(
    openai_server: OpenAIServer, reply: Raw, reason: str
) -> None:
    openai_server.enqueue(reply, reply)
    model = _model(openai_server)
    with override_allow_model_requests(True):
        with pytest.raises(ProviderResponseError) as sync:
            model.generate(_request())
        with pytest.raises(ProviderResponseError) as in_loop:
            asyncio.run(model.agenerate(_request()))
    for info in (sync, in_loop):
        error = info.value
        assert error.status_code == 200
        assert reason in error.reason
        assert (error.provider, error.model) == ("openai", "gpt-4o-mini")
        assert str(error).isprintable()  # one line for a CI log, no escape sequences
        assert len(error.excerpt) <= 120


def test_excerpt_masks_keys_a_proxy_echoes(openai_server: OpenAIServer) -> None:
    page = (
        f"<html><body><pre>Authorization: Bearer {SECRET}\nx-api-key: sk-other-abcdefgh123\n"
        "</pre> upstream timed out</body></html>"
    )
    openai_server.enqueue(Raw(page, content_type="text/html"), Error(500, body={"echo": SECRET}))
    model = _model(openai_server)
    with override_allow_model_requests(True):
        with pytest.raises(ProviderResponseError) as info:
            model.generate(_request())
        with pytest.raises(ProviderHTTPError) as http:
            model.generate(_request())
    assert "Bearer ***" in info.value.excerpt
    assert SECRET not in str(info.value)
    assert "sk-other-abcdefgh123" not in str(info.value)
    assert "text/html" in str(info.value)
    assert SECRET not in str(http.value)


def test_unusable_usage_is_estimated_not_fatal(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Completion("fine", usage={"prompt_tokens": "many"}))
    with override_allow_model_requests(True):
        response = _model(openai_server).generate(_request())
    assert response.text == "fine"
    assert response.usage.estimated is True


def test_malformed_reply_is_recorded_as_a_failed_call(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.enqueue(Raw(HTML, content_type="text/html"))
    monitor = CostMonitor(tmp_path / "costs.db", flush_interval_s=3600)
    try:
        model = MeteredChatModel(_model(openai_server), monitor)
        with override_allow_model_requests(True), pytest.raises(ProviderResponseError):
            model.generate(_request())
        monitor.flush()
        (row,) = cost_rows(monitor.path)
        assert (row["status"], row["error_type"]) == ("error", "ProviderResponseError")
    finally:
        monitor.close()


def test_cancelled_call_is_recorded(openai_server: OpenAIServer, tmp_path: Path) -> None:
    """An aborted eval cancels calls in flight; the provider may bill them, so they count."""
    openai_server.delay_s = 5.0
    monitor = CostMonitor(tmp_path / "costs.db", flush_interval_s=3600)

    async def cancel_midway() -> None:
        task = asyncio.create_task(model.agenerate(_request()))
        while not openai_server.requests:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await model.aclose()

    try:
        model = MeteredChatModel(_model(openai_server), monitor)
        with override_allow_model_requests(True):
            asyncio.run(cancel_midway())
        monitor.flush()
        (row,) = cost_rows(monitor.path)
        assert (row["status"], row["error_type"]) == ("error", "CancelledError")
    finally:
        monitor.close()


# --- userinfo in the base URL ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["https://user:hunter2@api.example.com/v1", "http://token@127.0.0.1:8000/v1"],
)
def test_base_url_with_credentials_is_refused(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        OpenAICompatibleChatModel("gpt-4o-mini", base_url=url, api_key=SECRET)
    message = str(info.value)
    assert "RAGWRIGHT_OPENAI_API_KEY" in message
    assert "hunter2" not in message
    assert "token@" not in message
    assert "***@" in message


# --- through the CLI --------------------------------------------------------------------------

QUESTIONS = {
    "How do I roll back the production prompt?": Completion("Use rollback. [rollback.md]"),
    "How many hours of sun do tomatoes need?": Raw(HTML, content_type="text/html"),
    "Which variable switches Chroma to a server?": Raw('{"choices": [{"mess'),
    "What cost is recorded for a model with no known price?": Raw({"id": "chatcmpl-9"}),
    "Where is every promotion and rollback written?": Completion("In prompt.yaml. [rollback.md]"),
}


def by_question(body: dict[str, Any]) -> Completion | Raw:
    question = body["messages"][-1]["content"]
    return next(reply for q, reply in QUESTIONS.items() if q in question)


@pytest.fixture
def endpoint(small_docs: Path, openai_server: OpenAIServer) -> dict[str, str]:
    """An indexed project whose chat model is the scripted server; env for the CLI."""
    ingest(Settings(docs_dir=small_docs))
    openai_server.default = by_question
    return {
        "RAGWRIGHT_CHAT_MODEL": "gpt-4o-mini",
        "RAGWRIGHT_OPENAI_BASE_URL": openai_server.base_url,
        "RAGWRIGHT_OPENAI_API_KEY": SECRET,
        "RAGWRIGHT_OPENAI_MAX_RETRIES": "0",
    }


def generate_rows(home: Path) -> list[sqlite3.Row]:
    return [r for r in cost_rows(home / "costs.db") if r["operation"] == "generate"]


def test_cli_refuses_base_url_with_credentials(endpoint: dict[str, str], tmp_path: Path) -> None:
    env = {**endpoint, "RAGWRIGHT_OPENAI_BASE_URL": "https://alice:s3cret-pw@llm.example.com/v1"}
    result = run_cli("ask", "hi", cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 2
    assert "carries credentials" in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_eval_run_counts_malformed_replies_as_errors(
    endpoint: dict[str, str], openai_server: OpenAIServer, isolated_home: Path, tmp_path: Path
) -> None:
    golden = write_golden(
        tmp_path / "set.jsonl", [{"id": f"q{i}", "question": q} for i, q in enumerate(QUESTIONS)]
    )
    result = run_cli(
        "eval", "run", "--golden-set", str(golden), "--no-mlflow", cwd=tmp_path, env=endpoint
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors_row = next(line for line in result.stdout.splitlines() if "errors (answer" in line)
    assert errors_row.split("│")[-2].strip() == "3 / 0"  # three malformed replies, no judge failure
    assert "model calls (monitor)" in result.stdout

    [report] = (isolated_home / "reports").glob("eval-*.html")
    assert "ProviderResponseError" in report.read_text(encoding="utf-8")
    rows = generate_rows(isolated_home)
    assert len(rows) == len(openai_server.requests) == len(QUESTIONS)  # every call, recorded
    assert (
        sorted(r["error_type"] or "ok" for r in rows) == ["ProviderResponseError"] * 3 + ["ok"] * 2
    )
    assert SECRET not in result.stdout + result.stderr + report.read_text(encoding="utf-8")


@pytest.mark.slow
def test_ask_malformed_reply_exits_2_with_one_line(
    endpoint: dict[str, str], isolated_home: Path, tmp_path: Path
) -> None:
    result = run_cli("ask", "How many hours of sun do tomatoes need?", cwd=tmp_path, env=endpoint)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "malformed reply (HTTP 200)" in lines[0]
    assert "text/html" in lines[0]
    [row] = generate_rows(isolated_home)
    assert row["error_type"] == "ProviderResponseError"
    assert json.loads(row["tags"]) == {}
