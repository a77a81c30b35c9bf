"""The HTTP API over a real index, through FastAPI's test client."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragwright.flows.ingest import ingest
from ragwright.rag import RagChain
from ragwright.rag.server import create_app
from ragwright.settings import Settings


@pytest.fixture
def client(small_docs: Path) -> TestClient:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    return TestClient(create_app(RagChain.from_settings(settings)))


def test_answer_and_health(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok"
    assert health["model"] == "local/extractive"
    response = client.post("/v1/answer", json={"question": "How do I roll back a prompt?"})
    assert response.status_code == 200
    body = response.json()
    assert body["citations"][0] == "rollback.md"
    assert body["prompt"] == "rag_answer@v1"
    assert body["index_version"] == health["index_version"]
    assert body["prompt_tokens"] > 0
    assert body["tokens_estimated"] is True
    candidate = client.post(
        "/v1/answer", json={"question": "How do I roll back a prompt?", "prompt": "rag_answer@v2"}
    )
    assert candidate.json()["prompt"] == "rag_answer@v2"


def test_errors_are_client_errors(client: TestClient) -> None:
    unknown = client.post("/v1/answer", json={"question": "q?", "prompt": "rag_answer@v99"})
    assert unknown.status_code == 400
    assert "v99" in unknown.json()["detail"]
    assert client.post("/v1/answer", json={"question": ""}).status_code == 422
    assert client.post("/v1/answer", json={"nope": 1}).status_code == 422
