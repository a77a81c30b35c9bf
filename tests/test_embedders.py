"""Embedders by name: openai/<model> over HTTP, local/<folder>, device choice, index versions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragwright.errors import ConfigError, EmbedderMismatchError, ProviderResponseError
from ragwright.flows.ingest import ingest
from ragwright.providers.guard import override_allow_model_requests
from ragwright.providers.local_embeddings import LocalEmbedder, resolve_device
from ragwright.providers.registry import embedder_from_settings
from ragwright.rag.records import IndexRecords
from ragwright.rag.retriever import Retriever
from ragwright.rag.vectorstore import chroma_client
from ragwright.settings import Settings
from tests.conftest import cost_rows, write_docs
from tests.openai_server import (
    EMBEDDINGS_PATH,
    Error,
    OpenAIServer,
    Raw,
    fake_embedding,
    openai_server_fixture,  # noqa: F401 - provides `openai_server`
)

FAST_RETRY = {"retry-after-ms": "5"}


def _remote(server: OpenAIServer, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "embedding_model": "openai/text-embedding-3-small",
        "embedding_base_url": server.base_url,
        "embedding_dimensions": 32,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def _embedding_requests(server: OpenAIServer) -> list[dict[str, object]]:
    return [r.body for r in server.requests if r.path == EMBEDDINGS_PATH and r.body]


def test_openai_embedder_batches_concurrently_and_records_usage(
    openai_server: OpenAIServer,
) -> None:
    settings = _remote(openai_server, embedding_batch_size=2, embedding_concurrency=3)
    texts = [f"passage number {i} about rollbacks" for i in range(5)]
    with override_allow_model_requests(True):
        embedder = embedder_from_settings(settings)
        vectors = embedder.encode(texts)
    assert embedder.name == "openai/text-embedding-3-small@32"
    assert vectors.shape == (5, 32)
    for text, vector in zip(texts, vectors, strict=True):  # order kept across batches
        np.testing.assert_allclose(vector, fake_embedding(text, 32), rtol=1e-5, atol=1e-6)
    bodies = _embedding_requests(openai_server)
    assert sorted(len(b["input"]) for b in bodies) == [1, 2, 2]  # type: ignore[arg-type]
    assert all(b["dimensions"] == 32 and b["model"] == "text-embedding-3-small" for b in bodies)
    from ragwright.costs.monitor import monitor_for

    monitor_for(settings).flush()
    rows = [r for r in cost_rows(settings.costs_db) if r["operation"] == "embed"]
    assert len(rows) == 3
    assert {r["model"] for r in rows} == {"text-embedding-3-small"}
    assert sum(r["prompt_tokens"] for r in rows) == sum(len(t.split()) for t in texts)
    assert all(r["estimated"] == 0 and r["cost_usd"] > 0 for r in rows)  # priced, not estimated


def test_openai_embedder_retries_a_429_then_succeeds(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Error(429, headers=FAST_RETRY))
    with override_allow_model_requests(True):
        vectors = embedder_from_settings(_remote(openai_server)).encode(["one text"])
    assert vectors.shape == (1, 32)
    assert len(_embedding_requests(openai_server)) == 2


def test_openai_embedder_refuses_vectors_of_another_dimension(
    openai_server: OpenAIServer,
) -> None:
    wrong = {"data": [{"index": 0, "embedding": [0.1, 0.2, 0.3]}], "usage": {"prompt_tokens": 2}}
    openai_server.enqueue(Raw(wrong))
    with override_allow_model_requests(True), pytest.raises(ProviderResponseError) as caught:
        embedder_from_settings(_remote(openai_server)).encode(["one text"])
    assert "dimension 3, expected 32" in str(caught.value)


def _tiny_model(folder: Path) -> Path:
    """A sentence-transformers model built here with its own API: no download."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = [
        "[UNK]",
        "[PAD]",
        "the",
        "rollback",
        "command",
        "prompt",
        "production",
        "chroma",
        "server",
        "tomatoes",
    ]
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()  # type: ignore[assignment]
    model = SentenceTransformer(
        modules=[StaticEmbedding(tokenizer, embedding_dim=24)], device="cpu"
    )
    model.save(str(folder))
    return folder


def test_a_local_model_from_a_folder_on_the_auto_device(tmp_path: Path) -> None:
    folder = _tiny_model(tmp_path / "tiny-model")
    settings = Settings(embedding_model=f"local/{folder}", embedding_device="auto")
    embedder = embedder_from_settings(settings, metered=False)
    assert isinstance(embedder, LocalEmbedder)
    assert resolve_device("auto") == "cpu"  # this machine has no GPU
    assert embedder.dimension == 24
    vectors = embedder.encode(["the rollback command", "tomatoes"])
    assert vectors.shape == (2, 24)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_a_model_that_is_not_here_is_a_config_error_not_a_download() -> None:
    settings = Settings(embedding_model="local/nobody/no-such-model-xyz")
    with pytest.raises(ConfigError, match="neither a folder nor a model in the local"):
        embedder_from_settings(settings, metered=False).encode(["x"])
    with pytest.raises(ConfigError, match="local/<sentence-transformers"):
        embedder_from_settings(Settings(embedding_model="cohere/embed-v3"))


def test_changing_the_embedder_builds_a_new_version_and_refuses_mismatched_queries(
    small_docs: Path, openai_server: OpenAIServer
) -> None:
    local = Settings(docs_dir=small_docs, chunk_tokens=64, chunk_overlap=8)
    ingest(local)
    remote = _remote(openai_server, docs_dir=small_docs, chunk_tokens=64, chunk_overlap=8)
    with override_allow_model_requests(True):
        summary = ingest(remote)
        records = IndexRecords(remote.index_db)
        try:
            serving = records.alias(remote.collection)
        finally:
            records.close()
        assert serving is not None
        assert serving.embedding_model == "openai/text-embedding-3-small@32"
        assert summary.index_version == serving.version
        assert summary.switched_alias
        retriever = Retriever(remote, embedder_from_settings(remote), chroma_client(remote))
        assert retriever.retrieve("the rollback command", k=2)
    with pytest.raises(EmbedderMismatchError) as caught:
        Retriever(local, embedder_from_settings(local), chroma_client(local))
    message = str(caught.value)
    assert "openai/text-embedding-3-small@32" in message
    assert "local/all-MiniLM-L6-v2" in message
    assert "ragwright index run" in message


def test_ingest_keeps_several_remote_embedding_requests_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ragwright.rag import indexer as indexer_module

    monkeypatch.setattr(indexer_module, "UPSERT_BATCH", 2)
    docs = {f"doc{i}.md": f"# Topic {i}\n\nParagraph {i} about subject {i}." for i in range(12)}
    folder = write_docs(tmp_path / "many", docs)
    with OpenAIServer(delay_s=0.15) as server, override_allow_model_requests(True):
        settings = _remote(server, docs_dir=folder, embedding_concurrency=4)
        summary = ingest(settings)
        requests = _embedding_requests(server)
        peak = server.peak_in_flight
    assert summary.chunks_added == 12
    assert len(requests) == 6  # one request per upsert batch of 2
    assert peak >= 3  # the pipeline kept several batches in flight, not one at a time
