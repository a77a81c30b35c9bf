"""Secret redaction: the shapes it knows, the values settings register, the log filter."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from ragwright.redact import (
    REDACTED,
    RedactingFilter,
    install_log_redaction,
    mask_url,
    redact,
    register_secrets,
)
from ragwright.settings import load_settings


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"error": "rejected authorization: Bearer abc.def-ghi_jkl"}', "abc.def-ghi_jkl"),
        ("Authorization: Token 0123456789abcdef", "0123456789abcdef"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9x", "eyJhbGciOiJIUzI1NiJ9x"),
        ("proxy said: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),  # base64 of user:pass
        ("key sk-proj-AbCdEfGhIjKlMnOpQrSt leaked", "sk-proj-AbCdEfGhIjKlMnOpQrSt"),
        ("GET /v1/x?api_key=s3cr3tvalue&page=2", "s3cr3tvalue"),
        ('{"api-key": "s3cr3tvalue", "model": "m"}', "s3cr3tvalue"),
        ("client_secret=s3cr3tvalue; path=/", "s3cr3tvalue"),
        ("cannot connect to postgresql+psycopg://app:hunter2@db:5432/costs", "hunter2"),
        ("https://u:p@ss:w0rd@host/x", "p@ss:w0rd"),  # an unencoded @ in the password
        ("token ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123 expired", "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"),
        ("aws AKIAABCDEFGHIJKLMNOP used", "AKIAABCDEFGHIJKLMNOP"),
    ],
)
def test_redact_removes_credentials_by_shape(text: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=50 exceeds the context length of 8192 tokens",
        "basic settings are fine; Basic information follows",  # not base64 of user:password
        "https://api.example.com/v1/chat/completions?model=gpt-4o-mini",
        "postgresql://app@db/costs",
        "monkey=5, keyboard: qwerty",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_is_stable_when_applied_twice() -> None:
    once = redact('api_key="sk-AbCdEfGhIjKlMnOpQrSt" Authorization: Bearer abcdefghij')
    assert redact(once) == once
    assert "]]" not in once


def test_redact_removes_given_and_registered_secrets_verbatim_and_encoded() -> None:
    assert redact("the key is plainvalue42!", secrets=["plainvalue42!"]) == (
        f"the key is {REDACTED}"
    )
    register_secrets(["registered/secret:1", "short"])
    assert redact("a registered/secret:1 b") == f"a {REDACTED} b"
    assert redact("url-encoded: registered%2Fsecret%3A1") == f"url-encoded: {REDACTED}"
    assert redact("a short word") == "a short word"  # too short to replace verbatim


def test_load_settings_registers_the_configured_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API key itself is redacted even where no shape gives it away."""
    monkeypatch.setenv("RAGWRIGHT_OPENAI_API_KEY", "issue13-opaque-key-value")
    monkeypatch.setenv("RAGWRIGHT_COSTS_URL", "postgresql://app:pg-password-13@db/costs")
    load_settings()
    message = "upstream said: invalid key issue13-opaque-key-value (password pg-password-13)"
    assert "issue13-opaque-key-value" not in redact(message)
    assert "pg-password-13" not in redact(message)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:**********@h/db"),
        ("https://user:p%40ss@llm.example/v1", "https://user:**********@llm.example/v1"),
        ("https://TOKEN123@mlflow.example", "https://**********@mlflow.example"),
        ("http://h:8000/?token=abc&tenant=t", "http://h:8000/?token=**********&tenant=t"),
        ("https://h/cb#access_token=abc&x=1", "https://h/cb#access_token=**********&x=1"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("not a url", "not a url"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.fixture
def ragwright_logger() -> Iterator[logging.Logger]:
    """The 'ragwright' logger, with its handlers and propagation restored afterwards."""
    logger = logging.getLogger("ragwright")
    handlers, propagate = list(logger.handlers), logger.propagate
    yield logger
    logger.handlers[:] = handlers
    logger.propagate = propagate


def test_redacting_filter_rewrites_message_and_traceback() -> None:
    record = logging.LogRecord(
        "ragwright.x", logging.ERROR, __file__, 1, "call failed: %s", ("Bearer abcdefghijkl",), None
    )
    try:
        raise RuntimeError("password=hunter2hunter2")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "abcdefghijkl" not in formatted
    assert "hunter2hunter2" not in formatted
    assert "RuntimeError" in formatted  # the traceback itself stays


def test_install_log_redaction_covers_every_ragwright_logger(
    ragwright_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent: one handler, one line per record
    logging.getLogger("ragwright.costs.deep.module").warning(
        "endpoint https://u:pw-13-secret@h/v1 said %s", "api_key=abcdef123456"
    )
    logging.getLogger("ragwright.rag").info("not shown: below warning")
    err = capsys.readouterr().err
    assert err.count("endpoint") == 1
    assert "pw-13-secret" not in err
    assert "abcdef123456" not in err
    assert "not shown" not in err


def test_redacting_filter_keeps_the_arguments_formatters_unpack() -> None:
    """uvicorn's access formatter unpacks record.args: a redacted record keeps its shape."""
    args = ("127.0.0.1:5000", "GET", "/healthz?api_key=abcdef123456", "1.1", 200)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert RedactingFilter().filter(record)
    assert isinstance(record.args, tuple)
    assert record.args[2] == "/healthz?api_key=[redacted]"
    assert record.getMessage() == '127.0.0.1:5000 - "GET /healthz?api_key=[redacted] HTTP/1.1" 200'

    spanning = logging.LogRecord(
        "ragwright.x", logging.INFO, __file__, 1, "api_key=%s", ("opaque-value-1",), None
    )
    assert RedactingFilter().filter(spanning)
    assert spanning.getMessage() == "api_key=[redacted]"
