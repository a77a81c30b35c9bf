"""Incremental, crash-safe synchronisation of documents into a Chroma collection.

The order of writes is what makes a crash harmless:

1. reconcile: compare Chroma's ids with the record; delete chunks nobody
   records (a crash after an upsert), forget documents whose chunks are gone
   (a crash after a delete) so they are rebuilt;
2. upsert a document's new chunks into Chroma;
3. then record the document (hash, chunk ids) in SQLite;
4. then delete its chunks that the new record no longer lists.

Unchanged documents are skipped before any embedding, and within a changed
document only chunks with new ids are embedded (a chunk id hashes document id
and text, so an untouched paragraph keeps its vector). A document with more new
chunks than one batch is embedded through :mod:`ragwright.rag.staging`, so a
crash in the middle of it keeps the finished batches without serving half of it.

Chroma's exceptions leave every step as one-line
:class:`~ragwright.errors.IndexStoreError` s (:mod:`ragwright.rag.store_errors`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ragwright.errors import InputFileError
from ragwright.providers.base import Embedder
from ragwright.rag.chunking import CHUNKER_VERSION, ChunkingConfig, chunk_document
from ragwright.rag.documents import Chunk, Document
from ragwright.rag.planning import (
    IngestPlan,
    LoadResult,
    load_documents,
    plan_changes,
    reusable_version,
    version_fingerprint,
)
from ragwright.rag.records import DocRecord, IndexRecords, IndexVersion
from ragwright.rag.staging import Stager
from ragwright.rag.summary import IngestSummary, UpsertCounts
from ragwright.rag.vectorstore import UPSERT_BATCH, open_collection, store_errors
from ragwright.settings import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["Indexer", "IngestPlan", "IngestSummary", "LoadResult", "Progress", "UpsertCounts"]

Progress = Callable[[int], None]
T = TypeVar("T")
P = ParamSpec("P")


def _noop(_: int) -> None:
    return None


def _store_step(
    step: Callable[Concatenate[Indexer, P], T],
) -> Callable[Concatenate[Indexer, P], T]:
    """Run an indexer step with Chroma's exceptions mapped to IndexStoreError."""

    @functools.wraps(step)
    def wrapper(self: Indexer, /, *args: P.args, **kwargs: P.kwargs) -> T:
        with store_errors(self.settings):
            return step(self, *args, **kwargs)

    return wrapper


def _metadata(chunk: Chunk, document: Document) -> dict[str, str | int | float | bool]:
    base: dict[str, str | int | float | bool] = {
        key: value
        for key, value in chunk.metadata.items()
        if isinstance(value, str | int | float | bool)
    }
    base.update(
        doc_id=chunk.doc_id,
        title=chunk.title,
        heading=chunk.heading,
        source=document.source,
        kind=document.kind,
        start=chunk.start,
        end=chunk.end,
        ordinal=chunk.ordinal,
    )
    return base


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Indexer:
    """The ingestion steps; :mod:`ragwright.flows.ingest` runs them as Prefect tasks."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        client: ClientAPI,
        records: IndexRecords,
        scan: Callable[[list[Chunk]], list[Chunk]] | None = None,
    ) -> None:
        """``scan`` marks each new chunk before it is embedded (the flow passes the
        guardrails' planted-instruction scan; rag sits below guardrails, so it is handed in)."""
        self.settings = settings
        self.scan = scan
        self.embedder = embedder
        self.client = client
        self.records = records
        self.chunking = ChunkingConfig(settings.chunk_tokens, settings.chunk_overlap)
        self.batch = UPSERT_BATCH  # read at construction, so tests can shrink the module's

    # versions -------------------------------------------------------------
    def target_version(self, *, rebuild: bool = False) -> IndexVersion:
        """The index version the current settings describe (a new one when rebuilding)."""
        fingerprint = version_fingerprint(
            self.embedder.name,
            self.chunking.chunk_tokens,
            self.chunking.chunk_overlap,
            CHUNKER_VERSION,
        )
        current = self.records.alias(self.settings.collection)
        if rebuild:
            fingerprint += "-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        elif current is not None and reusable_version(current.version, fingerprint):
            return current  # a rebuilt version of the same settings keeps serving
        version = IndexVersion(
            version=fingerprint,
            collection=f"{self.settings.collection}-{fingerprint}",
            embedding_model=self.embedder.name,
            chunk_tokens=self.chunking.chunk_tokens,
            chunk_overlap=self.chunking.chunk_overlap,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            completed_at=None,
        )
        self.records.ensure_version(version)
        return self.records.get_version(version.version) or version

    def collection(self, version: IndexVersion) -> Collection:
        with store_errors(self.settings):
            return open_collection(self.client, version.collection)

    # steps ----------------------------------------------------------------
    @_store_step
    def reconcile(self, version: IndexVersion) -> int:
        """Repair drift between Chroma and the record left by a crash; returns repairs made."""
        collection = self.collection(version)
        stored = set(collection.get(include=[])["ids"])
        recorded = self.records.documents(version.version)
        expected = {cid for record in recorded.values() for cid in record.chunk_ids}
        orphans = sorted(stored - expected)
        for batch in _batches(orphans, self.batch):
            collection.delete(ids=list(batch))
        broken = [doc for doc, rec in recorded.items() if not set(rec.chunk_ids) <= stored]
        self.records.delete_documents(version.version, broken)
        return len(orphans) + len(broken)

    def load(self, docs_dir: Path, progress: Progress = _noop) -> LoadResult:
        if not docs_dir.is_dir():
            raise InputFileError("documents folder does not exist", path=docs_dir)
        return load_documents(
            docs_dir,
            follow_symlinks=self.settings.follow_symlinks,
            max_file_bytes=self.settings.max_file_bytes,
            progress=progress,
        )

    def plan(self, version: IndexVersion, loaded: LoadResult) -> IngestPlan:
        return plan_changes(self.records.documents(version.version), loaded)

    def chunk(
        self, documents: list[Document], progress: Progress = _noop
    ) -> dict[str, list[Chunk]]:
        result: dict[str, list[Chunk]] = {}
        for document in documents:
            chunks = chunk_document(document, self.chunking)
            result[document.doc_id] = self.scan(chunks) if self.scan else chunks
            progress(1)
        return result

    @_store_step
    def embed_and_upsert(
        self,
        version: IndexVersion,
        documents: list[Document],
        chunks: dict[str, list[Chunk]],
        progress: Progress = _noop,
    ) -> UpsertCounts:
        """Embed new chunk ids, upsert them, record each finished document, drop its stale chunks.

        Small documents share batches; a document with more new chunks than one batch
        is staged batch by batch (:mod:`ragwright.rag.staging`) and goes live whole.
        """
        collection = self.collection(version)
        recorded = self.records.documents(version.version)
        by_id = {d.doc_id: d for d in documents}
        pending: dict[str, int] = {}
        work: list[tuple[Chunk, Document]] = []
        reused: list[tuple[Chunk, Document]] = []
        large: list[tuple[Document, list[Chunk]]] = []
        for document in documents:
            old_ids = (
                set(recorded[document.doc_id].chunk_ids) if document.doc_id in recorded else set()
            )
            doc_chunks = chunks[document.doc_id]
            fresh = [c for c in doc_chunks if c.chunk_id not in old_ids]
            reused.extend((c, document) for c in doc_chunks if c.chunk_id in old_ids)
            if len(fresh) > self.batch:
                large.append((document, fresh))
                continue
            work.extend((c, document) for c in fresh)
            pending[document.doc_id] = len(fresh)
        # Kept chunks may have moved inside their document: refresh their metadata only.
        for batch in _batches(reused, self.batch):
            collection.update(
                ids=[c.chunk_id for c, _ in batch], metadatas=[_metadata(c, d) for c, d in batch]
            )
        progress(len(reused))
        finished = [doc_id for doc_id, count in pending.items() if count == 0]
        deleted = self._commit(version, collection, finished, by_id, chunks, recorded)
        for batch, vectors in self._embedded(list(_batches(work, self.batch))):
            collection.upsert(
                ids=[c.chunk_id for c, _ in batch],
                embeddings=vectors,
                documents=[c.text for c, _ in batch],
                metadatas=[_metadata(c, d) for c, d in batch],
            )
            done: list[str] = []
            for chunk, _ in batch:
                pending[chunk.doc_id] -= 1
                if pending[chunk.doc_id] == 0:
                    done.append(chunk.doc_id)
            deleted += self._commit(version, collection, done, by_id, chunks, recorded)
            progress(len(batch))
        stager = Stager(
            self.settings.staging_db, version, embed=self._encode_unique, batch=self.batch
        )
        resumed = 0
        for document, fresh in large:
            resumed += stager.stage(document, fresh, progress)
            meta = functools.partial(_metadata, document=document)
            stager.promote(document, fresh, collection, meta)
            deleted += self._commit(version, collection, [document.doc_id], by_id, chunks, recorded)
            stager.finish(document)
        stager.discard()  # every document of this run is served: nothing left to resume
        embedded = len(work) + sum(len(fresh) for _, fresh in large) - resumed
        return UpsertCounts(embedded, len(reused) + resumed, resumed, deleted)

    def _embedded(
        self, batches: list[Sequence[tuple[Chunk, Document]]]
    ) -> Iterator[tuple[Sequence[tuple[Chunk, Document]], Any]]:
        """Each batch with its vectors, in order, embedding ahead of the caller's upserts.

        While the caller upserts one batch, the next is being embedded (a GPU or a
        remote endpoint is then never idle waiting for Chroma); a remote embedder
        gets up to its ``concurrency`` batches in flight at once. A failure stops
        at the batch that failed: the batches before it were upserted and recorded.
        """
        depth = max(1, self.embedder.concurrency)
        pool = ThreadPoolExecutor(depth, thread_name_prefix="ragwright-embed")
        pending: deque[tuple[Sequence[tuple[Chunk, Document]], Future[Any]]] = deque()
        upcoming = iter(batches)

        def submit(batch: Sequence[tuple[Chunk, Document]]) -> None:
            texts = [c.embedding_text for c, _ in batch]
            pending.append((batch, pool.submit(self._encode_unique, texts)))

        try:
            for batch in itertools.islice(upcoming, depth):
                submit(batch)
            while pending:
                batch, future = pending.popleft()
                vectors = future.result()
                if (following := next(upcoming, None)) is not None:
                    submit(following)
                yield batch, vectors
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _encode_unique(self, texts: list[str]) -> Any:
        """Embed each distinct text once (boilerplate repeats across chunks and documents)."""
        unique = list(dict.fromkeys(texts))
        vectors = self.embedder.encode(unique)
        if len(unique) == len(texts):
            return vectors
        row = {text: index for index, text in enumerate(unique)}
        return vectors[[row[text] for text in texts]]

    def _commit(  # noqa: PLR0917 - a private step of embed_and_upsert
        self,
        version: IndexVersion,
        collection: Collection,
        doc_ids: list[str],
        by_id: dict[str, Document],
        chunks: dict[str, list[Chunk]],
        recorded: dict[str, DocRecord],
    ) -> int:
        if not doc_ids:
            return 0
        new_records = [
            DocRecord(
                d, by_id[d].content_hash, tuple(c.chunk_id for c in chunks[d]), by_id[d].source
            )
            for d in doc_ids
        ]
        self.records.put_documents(version.version, new_records)
        stale = [
            cid
            for record in new_records
            if record.doc_id in recorded
            for cid in set(recorded[record.doc_id].chunk_ids) - set(record.chunk_ids)
        ]
        for batch in _batches(stale, self.batch):
            collection.delete(ids=list(batch))
        return len(stale)

    @_store_step
    def delete_removed(self, version: IndexVersion, removed: list[DocRecord]) -> int:
        collection = self.collection(version)
        ids = [cid for record in removed for cid in record.chunk_ids]
        # Forget first: a crash now leaves orphans in Chroma, which reconcile deletes.
        self.records.delete_documents(version.version, [r.doc_id for r in removed])
        for batch in _batches(ids, self.batch):
            collection.delete(ids=list(batch))
        return len(ids)

    @_store_step
    def publish(self, version: IndexVersion) -> bool:
        """Make ``version`` the serving one (atomic alias switch); prune all but one older."""
        from chromadb.errors import NotFoundError

        current = self.records.alias(self.settings.collection)
        if current is not None and current.version == version.version:
            return False
        self.records.switch_alias(self.settings.collection, version.version)
        keep = {version.version, current.version if current else ""}
        for old in self.records.versions():
            if old.version not in keep:
                # Already gone (a crash during a previous prune) is fine.
                with contextlib.suppress(NotFoundError, ValueError):
                    self.client.delete_collection(old.collection)
                self.records.drop_version(old.version)
        return True
