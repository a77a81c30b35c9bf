"""Assertions shared by the ingest fault tests: the index holds exactly what the docs give."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ragwright.rag.chunking import ChunkingConfig, chunk_document
from ragwright.rag.discovery import discover
from ragwright.rag.loaders import load_file
from ragwright.rag.records import IndexRecords
from ragwright.rag.vectorstore import chroma_client, open_collection
from ragwright.settings import Settings


def expected_chunks(settings: Settings, docs: Path | None = None) -> dict[str, set[str]]:
    """Chunk ids per document id that the files of the docs folder produce."""
    root = docs or settings.docs_dir
    config = ChunkingConfig(settings.chunk_tokens, settings.chunk_overlap)
    expected: dict[str, set[str]] = {}
    for path in discover(root):
        documents, _ = load_file(path, root)
        for document in documents:
            expected[document.doc_id] = {c.chunk_id for c in chunk_document(document, config)}
    return expected


def served_chunks(settings: Settings) -> dict[str, set[str]]:
    """Chunk ids per document id in the serving collection; asserts the record agrees."""
    records = IndexRecords(settings.index_db)
    try:
        version = records.alias(settings.collection)
        assert version is not None, "nothing serves"
        recorded = {d: set(r.chunk_ids) for d, r in records.documents(version.version).items()}
    finally:
        records.close()
    stored = open_collection(chroma_client(settings), version.collection).get(include=["metadatas"])
    by_doc: dict[str, set[str]] = {}
    for chunk_id, meta in zip(stored["ids"], stored["metadatas"] or [], strict=True):
        by_doc.setdefault(str(meta["doc_id"]), set()).add(chunk_id)
    assert by_doc == recorded, "Chroma and the record disagree"
    return by_doc


def staged_progress(home: Path) -> list[tuple[str, int, int]]:
    """(doc id, chunks staged, chunks total) of ``home/staging.db``, read raw (safe while
    another process writes it)."""
    path = home / "staging.db"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=1) as conn:
            rows = conn.execute("SELECT doc_id, chunks_staged, chunks_total FROM progress")
            return [(str(a), int(b), int(c)) for a, b, c in rows]
    except sqlite3.Error:  # not created yet, or busy
        return []
