"""The real ``ragwright`` command's error lines: one line, the right exit code, no secrets.

Each test runs the CLI in a subprocess (tests/conftest.py ``run_cli``), so the
error mapping of ``main`` and its log handler are what is tested; the model
provider is the fake OpenAI server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ragwright.flows.ingest import ingest
from ragwright.settings import Settings
from tests.conftest import record_spend, run_cli
from tests.openai_server import Error, OpenAIServer, openai_server_fixture  # noqa: F401

API_KEY = "sk-cli13-abcdefghijklmnopqrstuvwxyz"
QUESTION = "How do I roll back the production prompt?"


@pytest.fixture
def indexed(small_docs: Path) -> Settings:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    return settings


def remote_env(server: OpenAIServer, **more: str) -> dict[str, str]:
    return {
        "RAGWRIGHT_CHAT_MODEL": "gpt-4o-mini",
        "RAGWRIGHT_OPENAI_BASE_URL": server.base_url,
        "RAGWRIGHT_OPENAI_API_KEY": API_KEY,
        "RAGWRIGHT_OPENAI_MAX_RETRIES": "0",
        "RAGWRIGHT_GUARDRAILS__ENABLED": "false",  # not under test; saves loading their models
        **more,
    }


def test_ask_over_a_spent_hard_budget_exits_1_with_one_line(
    indexed: Settings, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    """It printed a 60-line BudgetExceededError traceback."""
    record_spend(indexed.costs_db, 5.0)
    budgets = json.dumps([{"name": "bot", "limit_usd": 1.0, "hard": True}])
    result = run_cli(
        "ask", QUESTION, cwd=tmp_path, env=remote_env(openai_server, RAGWRIGHT_BUDGETS=budgets)
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "hard budget 'bot'" in error
    assert openai_server.requests == []


def test_ask_provider_error_line_is_redacted(
    indexed: Settings, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    """An endpoint echoing the Authorization header put the API key on the terminal."""
    openai_server.enqueue(Error(401, echo_header="authorization"))
    result = run_cli("ask", QUESTION, cwd=tmp_path, env=remote_env(openai_server))
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("model provider error:")
    assert "HTTP 401" in line
    assert "[redacted]" in line
    assert API_KEY not in result.stdout + result.stderr


def test_ask_refuses_undecodable_text_with_one_line(tmp_path: Path) -> None:
    """Bytes the OS cannot decode reach Python as lone surrogates, which no encoder takes."""
    result = run_cli("ask", "roll back \udcff?", cwd=tmp_path)  # argv byte 0xff
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: the question is not valid UTF-8 text; check the terminal's encoding"
    )


@pytest.mark.slow
def test_serve_process_redacts_replies_and_logs(
    indexed: Settings, tmp_path: Path, openai_server: OpenAIServer
) -> None:
    """``ragwright serve`` itself: settings reach the limits, uvicorn's logs are redacted."""
    openai_server.enqueue(Error(401, echo_header="authorization"))
    env = {
        **os.environ,
        **remote_env(openai_server, RAGWRIGHT_SERVE_MAX_BODY_BYTES="2048"),
        "NO_COLOR": "1",
    }
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ragwright.cli.app", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, "ragwright serve did not come up"
            time.sleep(0.2)
        failed = httpx.post(f"{url}/v1/answer", json={"question": QUESTION}, timeout=60)
        stuffed = httpx.post(
            f"{url}/v1/answer", json={"question": QUESTION, "tags": {"k": "v" * 4000}}, timeout=60
        )
        httpx.get(f"{url}/healthz?api_key=query-key-1313", timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert failed.status_code == 502
    assert "[redacted]" in failed.json()["detail"]
    assert stuffed.status_code == 413  # RAGWRIGHT_SERVE_MAX_BODY_BYTES reached the server
    assert "GET /healthz?api_key=[redacted]" in output  # the access log, through the filter
    assert "query-key-1313" not in output
    assert API_KEY not in output + failed.text, output


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def free_port() -> int:
    """A port the OS just found free on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
