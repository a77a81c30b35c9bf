"""SIGKILL in the middle of ingestion, then run again: the index matches the documents exactly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ragwright.flows.ingest import ingest
from ragwright.rag.chunking import ChunkingConfig, chunk_document
from ragwright.rag.discovery import discover
from ragwright.rag.loaders import load_file
from ragwright.rag.records import IndexRecords
from ragwright.rag.vectorstore import chroma_client, open_collection
from ragwright.settings import Settings

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import ragwright.rag.indexer as indexer
    indexer.UPSERT_BATCH = 8  # many small commits, so the kill lands between them
    from ragwright.flows.ingest import ingest
    from ragwright.settings import Settings
    ingest(Settings(docs_dir=Path(sys.argv[1]), chunk_tokens=48, chunk_overlap=0))
    """
)


def recorded_docs(index_db: Path) -> int:
    if not index_db.exists():
        return 0
    try:
        with sqlite3.connect(index_db, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_matches_documents(tmp_path: Path, isolated_home: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        body = "\n\n".join(
            f"Document {i} paragraph {p} explains topic {i * 7 + p} of the ingestion guide."
            f" It has enough words to make a chunk of its own, number {p}."
            for p in range(8)
        )
        (docs / f"doc{i:02}.md").write_text(f"# Doc {i}\n\n{body}\n", encoding="utf-8")
    settings = Settings(docs_dir=docs, chunk_tokens=48, chunk_overlap=0)

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(docs)],
        cwd=tmp_path,
        env={**os.environ, "RAGWRIGHT_HOME": str(isolated_home)},
    )
    deadline = time.monotonic() + 120
    while recorded_docs(settings.index_db) < 3:
        assert child.poll() is None, "the ingest finished before it could be killed"
        assert time.monotonic() < deadline, "no progress within 120 s"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    partial = recorded_docs(settings.index_db)
    assert 0 < partial < 40, partial

    summary = ingest(settings)
    assert summary.docs_new == 40 - partial
    assert summary.docs_unchanged == partial

    # Exactly the chunks the documents produce: nothing missing, no orphan.
    config = ChunkingConfig(48, 0)
    expected: dict[str, set[str]] = {}
    for path in discover(docs):
        [document], _ = load_file(path, docs)
        expected[document.doc_id] = {c.chunk_id for c in chunk_document(document, config)}
    records = IndexRecords(settings.index_db)
    version = records.alias(settings.collection)
    assert version is not None
    assert {d: set(r.chunk_ids) for d, r in records.documents(version.version).items()} == expected
    collection = open_collection(chroma_client(settings), version.collection)
    stored = collection.get(include=["metadatas"])
    by_doc: dict[str, set[str]] = {}
    for chunk_id, meta in zip(stored["ids"], stored["metadatas"] or [], strict=True):
        by_doc.setdefault(str(meta["doc_id"]), set()).add(chunk_id)
    assert by_doc == expected
