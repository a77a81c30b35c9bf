"""The HTTP API over a real index, through FastAPI's test client."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragwright.flows.ingest import ingest
from ragwright.rag import RagChain
from ragwright.rag.server import ServeOptions, create_app
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


def test_server_follows_ingests_without_a_restart(small_docs: Path) -> None:
    """New documents are answered and an alias switch is followed, with no restart.

    Without the refresh the server would keep its first retriever: its BM25 side
    (built once per retriever) and, after a switch, the old collection. Requests
    check on their way in; /healthz, which does no I/O, follows through the
    watcher thread that the application's lifespan runs.
    """
    settings = Settings(docs_dir=small_docs, retrieval="hybrid")
    ingest(settings)
    app = create_app(RagChain.from_settings(settings), ServeOptions(refresh_s=0))
    with TestClient(app) as client:
        question = {"question": "Which bird nests in the greenhouse gutter?"}
        before = client.post("/v1/answer", json=question).json()
        assert "birds.md" not in before["citations"]
        first_version = client.get("/healthz").json()["index_version"]

        (small_docs / "birds.md").write_text(
            "# Birds\n\nA pair of wrens nests in the greenhouse gutter every spring.\n",
            encoding="utf-8",
        )
        ingest(settings)  # incremental: same index version, one more document
        after = client.post("/v1/answer", json=question).json()
        assert after["citations"] == ["birds.md"]
        assert "wrens" in after["answer"]
        assert after["index_version"] == first_version

        rechunked = settings.model_copy(update={"chunk_tokens": 48})
        ingest(rechunked)  # a chunking change builds a new version and switches the alias
        deadline = time.monotonic() + 60  # bounds a broken run; the watcher checks every 0.1 s
        while client.get("/healthz").json()["index_version"] == first_version:
            assert time.monotonic() < deadline, "/healthz never saw the new index version"
            time.sleep(0.05)
        assert client.post("/v1/answer", json=question).json()["citations"] == ["birds.md"]
