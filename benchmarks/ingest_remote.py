"""The pipelined ingest against its ceilings: a remote embedder's ideal time, raw local encode.

Called by ``benchmarks/ingest.py --remote`` and ``--pipeline`` (read its docstring);
each prints every round and the medians.
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CONCURRENCY = 8
DIMENSIONS = 384


def _start_server(delay: float) -> tuple[subprocess.Popen[str], str]:
    """The fake OpenAI server as its own process, so its JSON work does not share our GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_server", "--delay", str(delay)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def _chroma_alone(work: Path, chunks: list[Any], documents: list[Any], batch: int) -> float:
    """Chroma's own insert time for the same chunks, metadata and batches: the ceiling."""
    import chromadb
    import numpy as np
    from chromadb.config import Settings as ChromaSettings

    from ragwright.rag.indexer import _metadata

    by_id = {d.doc_id: d for d in documents}
    n = len(chunks)
    client = chromadb.PersistentClient(
        path=str(work / f"chroma-alone-{time.monotonic_ns()}"),
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    collection = client.get_or_create_collection(
        "alone", embedding_function=None, metadata={"hnsw:space": "cosine"}
    )
    vectors = np.random.default_rng(0).standard_normal((n, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    started = time.perf_counter()
    for start in range(0, n, batch):
        part = chunks[start : start + batch]
        collection.upsert(
            ids=[c.chunk_id for c in part],
            embeddings=vectors[start : start + batch],
            documents=[c.text for c in part],
            metadatas=[_metadata(c, by_id[c.doc_id]) for c in part],
        )
    return time.perf_counter() - started


def remote_rounds(
    work: Path, docs: Path, chunks: list[Any], documents: list[Any], *, rounds: int, delay: float
) -> int:
    """Remote-embedder ingest vs. max(requests x delay / concurrency, Chroma alone).

    The ratio that measures the pipeline is its own stage (embed+upsert) against
    that ideal; the whole ingest also loads and chunks, which no overlap can hide.
    """
    n_chunks = len(chunks)
    from ragwright.flows.ingest import ingest
    from ragwright.providers.guard import override_allow_model_requests
    from ragwright.rag.vectorstore import UPSERT_BATCH
    from ragwright.settings import Settings

    requests = math.ceil(n_chunks / UPSERT_BATCH)
    embed_ideal = requests * delay / CONCURRENCY
    process, base_url = _start_server(delay)
    print(
        f"remote embedder: {requests} requests of <= {UPSERT_BATCH} chunks, {delay} s each,"
        f" concurrency {CONCURRENCY}: embedding ideal {embed_ideal:.2f} s",
        flush=True,
    )
    ratios: list[float] = []
    stage_ratios: list[float] = []
    try:
        for round_ in range(1, rounds + 1):
            chroma_s = _chroma_alone(work, chunks, documents, UPSERT_BATCH)  # A
            settings = Settings(  # B
                home=work / f"remote-{round_}",
                docs_dir=docs,
                embedding_model="openai/text-embedding-3-small",
                embedding_base_url=base_url,
                embedding_dimensions=DIMENSIONS,
                embedding_concurrency=CONCURRENCY,
            )
            started = time.perf_counter()
            with override_allow_model_requests(True):
                summary = ingest(settings)
            ours_s = time.perf_counter() - started
            assert summary.chunks_added == n_chunks, (summary.chunks_added, n_chunks)
            ideal = max(embed_ideal, chroma_s)
            stage_s = summary.seconds["embed+upsert"]
            ratios.append(ideal / ours_s)
            stage_ratios.append(ideal / stage_s)
            print(
                f"round {round_}: Chroma alone {chroma_s:.2f} s, ideal {ideal:.2f} s;"
                f" embed+upsert {stage_s:.2f} s -> {ideal / stage_s:.2f} of ideal;"
                f" whole ingest {ours_s:.2f} s -> {ideal / ours_s:.2f}; stages {summary.seconds}",
                flush=True,
            )
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(
        f"\nembed+upsert stage / ideal (median of {rounds}): {statistics.median(stage_ratios):.2f}"
        f" (target >= 0.8); whole ingest / ideal: {statistics.median(ratios):.2f}"
    )
    return 0


def pipeline_rounds(work: Path, docs: Path, texts: list[str], embedder: Any, *, rounds: int) -> int:
    """Raw encode (A) and the full local ingest (B), interleaved; medians of raw/ours."""
    from ragwright.flows.ingest import ingest
    from ragwright.settings import Settings

    raw, ours = [], []
    for round_ in range(1, rounds + 1):
        started = time.perf_counter()
        embedder.encode(texts)
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        ingest(Settings(home=work / f"local-{round_}", docs_dir=docs))
        ours.append(time.perf_counter() - started)
        print(
            f"round {round_}: raw {raw[-1]:.1f} s, ingest {ours[-1]:.1f} s,"
            f" ratio {raw[-1] / ours[-1]:.2f}",
            flush=True,
        )
    ratio = statistics.median(raw) / statistics.median(ours)
    print(
        f"\nmedian raw {statistics.median(raw):.1f} s, median ingest"
        f" {statistics.median(ours):.1f} s ({len(texts) / statistics.median(ours):.1f} chunks/s):"
        f" ragwright / raw {ratio:.2f} (target >= 0.85)"
    )
    return 0
