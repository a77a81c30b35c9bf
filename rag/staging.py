"""Embed a large document in committed batches, so a crash keeps the finished ones.

A document used to be all-or-nothing: its chunks counted only once the last one
was embedded, so a crash 7 minutes into a 50 MB manual kept nothing. Writing its
chunks straight into the serving collection batch by batch would not do either:
a half-embedded new version would then be served next to the old one.

So the vectors of a document with more new chunks than one commit batch are
first committed to ``<home>/staging.db``, one batch per SQLite transaction
together with the document's progress (chunks staged, of how many), which
``ragwright index status`` shows. Queries never read that file. When every chunk
is staged, the chunks are upserted into the serving collection with their
staged vectors, then the document is recorded and its stale chunks deleted: the
same order of writes as for a small document. Until then the old version of the
document serves, complete.

After a crash the next run embeds only the chunks not staged yet. A staged
vector is reused only where it is the one this run would compute: the file is
keyed by index version (one embedding model and chunking) and chunk id (document
id and text), and each row keeps a hash of the exact text embedded (title and
heading path included).

A SQLite file, not a second Chroma collection: staging then costs a blob write
per chunk instead of a second HNSW insert (measured: +1 ms/chunk for a staging
collection), and each batch's vectors and progress commit atomically. The file
is deleted when no document is part-way, which returns its space.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragwright.errors import IndexStoreError
from ragwright.rag.documents import Chunk, Document
from ragwright.rag.records import IndexVersion
from ragwright.rag.store_errors import open_sqlite, sqlite_errors
from ragwright.sqlite import execute_script, transaction

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from chromadb.api.models.Collection import Collection

__all__ = ["StagedDocument", "Stager", "StagingStore"]

Metadata = dict[str, str | int | float | bool]


def _v1(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        CREATE TABLE progress (
            version TEXT NOT NULL, doc_id TEXT NOT NULL, content_hash TEXT NOT NULL,
            chunks_staged INTEGER NOT NULL, chunks_total INTEGER NOT NULL,
            updated_at TEXT NOT NULL, PRIMARY KEY (version, doc_id)
        );
        CREATE TABLE vectors (
            version TEXT NOT NULL, doc_id TEXT NOT NULL, chunk_id TEXT NOT NULL,
            text_hash TEXT NOT NULL, vector BLOB NOT NULL,
            PRIMARY KEY (version, doc_id, chunk_id)
        )
        """,
    )


MIGRATIONS = [_v1]
CORRUPT_FIX = "delete it: it only holds vectors of part-way documents, which the next run re-embeds"


@dataclass(frozen=True, slots=True)
class StagedDocument:
    """A large document part-way through embedding: chunks staged so far, of how many."""

    version: str
    doc_id: str
    content_hash: str
    chunks_staged: int
    chunks_total: int
    updated_at: str


def _text_hash(chunk: Chunk) -> str:
    return hashlib.sha256(chunk.embedding_text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class StagingStore:
    """``staging.db``: staged vectors and progress of large documents (one ingest writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = open_sqlite(path, MIGRATIONS, corrupt_fix=CORRUPT_FIX)

    @classmethod
    def read(cls, path: Path) -> list[StagedDocument]:
        """Every document part-way, without creating the file when there is none."""
        if not path.exists():
            return []
        store = cls(path)
        try:
            return store.progress()
        finally:
            store.close()

    def close(self) -> None:
        self.conn.close()

    def progress(self, version: str | None = None) -> list[StagedDocument]:
        query = "SELECT * FROM progress" + (" WHERE version=?" if version else "")
        with self._errors():
            rows = self.conn.execute(query + " ORDER BY doc_id", (version,) if version else ())
            return [StagedDocument(*row) for row in rows]

    def begin(self, version: str, document: Document, total: int) -> set[str]:
        """Start or resume ``document``; return (chunk id, text hash) keys already staged."""
        with self._errors(), transaction(self.conn):
            staged = {
                f"{cid}\0{text_hash}"
                for cid, text_hash in self.conn.execute(
                    "SELECT chunk_id, text_hash FROM vectors WHERE version=? AND doc_id=?",
                    (version, document.doc_id),
                )
            }
            self._progress(version, document, total)
        return staged

    def add(
        self, version: str, document: Document, total: int, chunks: Sequence[Chunk], vectors: Any
    ) -> None:
        """Commit one batch: its vectors and the document's progress, in one transaction."""
        rows = [
            (
                version,
                document.doc_id,
                c.chunk_id,
                _text_hash(c),
                np.asarray(v, np.float32).tobytes(),
            )
            for c, v in zip(chunks, vectors, strict=True)
        ]
        with self._errors(), transaction(self.conn):
            self.conn.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?)", rows)
            self._progress(version, document, total)

    def vectors(self, version: str, doc_id: str, chunk_ids: Sequence[str]) -> dict[str, Any]:
        marks = ",".join("?" * len(chunk_ids))
        with self._errors():
            rows = self.conn.execute(
                f"SELECT chunk_id, vector FROM vectors WHERE version=? AND doc_id=?"
                f" AND chunk_id IN ({marks})",
                (version, doc_id, *chunk_ids),
            )
            return {cid: np.frombuffer(blob, dtype=np.float32) for cid, blob in rows}

    def forget(self, version: str, doc_id: str) -> None:
        """Drop what is staged for one document (it is recorded and served now)."""
        with self._errors(), transaction(self.conn):
            for table in ("vectors", "progress"):
                self.conn.execute(
                    f"DELETE FROM {table} WHERE version=? AND doc_id=?",
                    (version, doc_id),
                )

    def _errors(self) -> AbstractContextManager[None]:
        return sqlite_errors(self.path, corrupt_fix=CORRUPT_FIX)

    def _progress(self, version: str, document: Document, total: int) -> None:
        self.conn.execute(
            "INSERT INTO progress VALUES (?, ?, ?,"
            " (SELECT COUNT(*) FROM vectors WHERE version=? AND doc_id=?), ?, ?)"
            " ON CONFLICT(version, doc_id) DO UPDATE SET content_hash=excluded.content_hash,"
            " chunks_staged=excluded.chunks_staged, chunks_total=excluded.chunks_total,"
            " updated_at=excluded.updated_at",
            (
                version,
                document.doc_id,
                document.content_hash,
                version,
                document.doc_id,
                total,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )


class Stager:
    """Stage, resume and promote the new chunks of large documents of one index version."""

    def __init__(
        self,
        path: Path,
        version: IndexVersion,
        *,
        embed: Callable[[list[str]], Any],
        batch: int,
    ) -> None:
        self.path = path
        self.version = version.version
        self.embed = embed
        self.batch = batch
        self._store: StagingStore | None = None

    @property
    def store(self) -> StagingStore:
        if self._store is None:  # opened on first use: most runs have no large document
            self._store = StagingStore(self.path)
        return self._store

    def stage(
        self, document: Document, fresh: Sequence[Chunk], progress: Callable[[int], None]
    ) -> int:
        """Get every chunk of ``fresh`` staged; return how many an earlier run had staged."""
        staged = self.store.begin(self.version, document, len(fresh))
        todo = [c for c in fresh if f"{c.chunk_id}\0{_text_hash(c)}" not in staged]
        resumed = len(fresh) - len(todo)
        progress(resumed)
        for start in range(0, len(todo), self.batch):
            batch = todo[start : start + self.batch]
            vectors = self.embed([c.embedding_text for c in batch])
            self.store.add(self.version, document, len(fresh), batch, vectors)
            progress(len(batch))
        return resumed

    def promote(
        self,
        document: Document,
        fresh: Sequence[Chunk],
        serving: Collection,
        metadata: Callable[[Chunk], Metadata],
    ) -> None:
        """Upsert the staged chunks, with their staged vectors, into the serving collection."""
        for start in range(0, len(fresh), self.batch):
            batch = fresh[start : start + self.batch]
            ids = [c.chunk_id for c in batch]
            vectors = self.store.vectors(self.version, document.doc_id, ids)
            if len(vectors) < len(batch):
                raise IndexStoreError(  # staged moments ago: something else changed the file
                    f"{self.path}: {len(batch) - len(vectors)} staged vectors of"
                    f" {document.doc_id} vanished; run the ingest again",
                    path=self.path,
                )
            serving.upsert(
                ids=ids,
                embeddings=[vectors[cid] for cid in ids],
                documents=[c.text for c in batch],
                metadatas=[metadata(c) for c in batch],
            )

    def finish(self, document: Document) -> None:
        """The document is recorded as served: drop what was staged for it."""
        self.store.forget(self.version, document.doc_id)

    def discard(self) -> None:
        """The run served every document it had: delete the file and whatever it still held.

        Leftovers are documents no longer to index (deleted, or of another index version,
        which a rerun rarely reaches: ``--full`` always starts a new one).
        """
        if self._store is not None:
            self._store.close()
            self._store = None
        for suffix in ("", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
