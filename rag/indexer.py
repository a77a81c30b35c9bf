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
and text, so an untouched paragraph keeps its vector).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ragwright.errors import InputFileError
from ragwright.providers.base import Embedder
from ragwright.rag.chunking import CHUNKER_VERSION, ChunkingConfig, chunk_document
from ragwright.rag.documents import Chunk, Document, LoadFailure
from ragwright.rag.loaders import discover, load_file
from ragwright.rag.records import DocRecord, IndexRecords, IndexVersion
from ragwright.rag.vectorstore import UPSERT_BATCH, open_collection
from ragwright.settings import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["Indexer", "IngestPlan", "IngestSummary", "LoadResult", "Progress"]

Progress = Callable[[int], None]
T = TypeVar("T")


def _noop(_: int) -> None:
    return None


@dataclass
class LoadResult:
    documents: list[Document]
    failures: list[LoadFailure]
    files_seen: int

    @property
    def failed_sources(self) -> set[str]:
        return {f.path for f in self.failures}


@dataclass
class IngestPlan:
    new: list[Document]
    changed: list[Document]
    unchanged: list[str]
    removed: list[DocRecord]

    @property
    def to_index(self) -> list[Document]:
        return self.new + self.changed


@dataclass
class IngestSummary:
    index_version: str = ""
    collection: str = ""
    files_seen: int = 0
    docs_seen: int = 0
    docs_new: int = 0
    docs_changed: int = 0
    docs_unchanged: int = 0
    docs_removed: int = 0
    docs_failed: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_reused: int = 0
    orphans_repaired: int = 0
    switched_alias: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.client = client
        self.records = records
        self.chunking = ChunkingConfig(settings.chunk_tokens, settings.chunk_overlap)

    # versions -------------------------------------------------------------
    def target_version(self, *, rebuild: bool = False) -> IndexVersion:
        """The index version the current settings describe (a new one when rebuilding)."""
        fingerprint = hashlib.sha256(
            f"{self.embedder.name}|{self.chunking.chunk_tokens}|{self.chunking.chunk_overlap}"
            f"|{CHUNKER_VERSION}".encode()
        ).hexdigest()[:10]
        current = self.records.alias(self.settings.collection)
        if rebuild:
            fingerprint += "-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        elif current is not None and current.version.startswith(fingerprint):
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
        return open_collection(self.client, version.collection)

    # steps ----------------------------------------------------------------
    def reconcile(self, version: IndexVersion) -> int:
        """Repair drift between Chroma and the record left by a crash; returns repairs made."""
        collection = self.collection(version)
        stored = set(collection.get(include=[])["ids"])
        recorded = self.records.documents(version.version)
        expected = {cid for record in recorded.values() for cid in record.chunk_ids}
        orphans = sorted(stored - expected)
        for batch in _batches(orphans, UPSERT_BATCH):
            collection.delete(ids=list(batch))
        broken = [doc for doc, rec in recorded.items() if not set(rec.chunk_ids) <= stored]
        self.records.delete_documents(version.version, broken)
        return len(orphans) + len(broken)

    def load(self, docs_dir: Path, progress: Progress = _noop) -> LoadResult:
        if not docs_dir.is_dir():
            raise InputFileError("documents folder does not exist", path=docs_dir)
        files = discover(docs_dir)
        documents: list[Document] = []
        failures: list[LoadFailure] = []
        first_seen: dict[str, str] = {}
        for path in files:
            loaded, failed = load_file(path, docs_dir)
            failures.extend(failed)
            for document in loaded:
                if document.doc_id in first_seen:
                    failures.append(
                        LoadFailure(
                            document.source,
                            f"duplicate document id '{document.doc_id}'"
                            f" (first loaded from {first_seen[document.doc_id]}); skipped",
                        )
                    )
                    continue
                first_seen[document.doc_id] = document.source
                documents.append(document)
            progress(1)
        return LoadResult(documents, failures, len(files))

    def plan(self, version: IndexVersion, loaded: LoadResult) -> IngestPlan:
        recorded = self.records.documents(version.version)
        plan = IngestPlan(new=[], changed=[], unchanged=[], removed=[])
        for document in loaded.documents:
            record = recorded.get(document.doc_id)
            if record is None:
                plan.new.append(document)
            elif record.content_hash != document.content_hash:
                plan.changed.append(document)
            else:
                plan.unchanged.append(document.doc_id)
        present = {d.doc_id for d in loaded.documents}
        failed_sources = loaded.failed_sources
        # A source that failed to load keeps its documents: a bad read must not empty the index.
        plan.removed = [
            record
            for doc_id, record in recorded.items()
            if doc_id not in present and record.source not in failed_sources
        ]
        return plan

    def chunk(
        self, documents: list[Document], progress: Progress = _noop
    ) -> dict[str, list[Chunk]]:
        result: dict[str, list[Chunk]] = {}
        for document in documents:
            result[document.doc_id] = chunk_document(document, self.chunking)
            progress(1)
        return result

    def embed_and_upsert(
        self,
        version: IndexVersion,
        documents: list[Document],
        chunks: dict[str, list[Chunk]],
        progress: Progress = _noop,
    ) -> tuple[int, int, int]:
        """Embed new chunk ids, upsert them, record each finished document, drop its stale chunks.

        Returns (chunks embedded, chunks reused, stale chunks deleted).
        """
        collection = self.collection(version)
        recorded = self.records.documents(version.version)
        by_id = {d.doc_id: d for d in documents}
        pending: dict[str, int] = {}
        work: list[tuple[Chunk, Document]] = []
        reused: list[tuple[Chunk, Document]] = []
        for document in documents:
            old_ids = (
                set(recorded[document.doc_id].chunk_ids) if document.doc_id in recorded else set()
            )
            doc_chunks = chunks[document.doc_id]
            fresh = [c for c in doc_chunks if c.chunk_id not in old_ids]
            reused.extend((c, document) for c in doc_chunks if c.chunk_id in old_ids)
            work.extend((c, document) for c in fresh)
            pending[document.doc_id] = len(fresh)
        # Kept chunks may have moved inside their document: refresh their metadata only.
        for batch in _batches(reused, UPSERT_BATCH):
            collection.update(
                ids=[c.chunk_id for c, _ in batch], metadatas=[_metadata(c, d) for c, d in batch]
            )
        finished = [doc_id for doc_id, count in pending.items() if count == 0]
        deleted = self._commit(version, collection, finished, by_id, chunks, recorded)
        for batch in _batches(work, UPSERT_BATCH):
            vectors = self._encode_unique([c.embedding_text for c, _ in batch])
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
        return len(work), len(reused), deleted

    def _encode_unique(self, texts: list[str]) -> Any:
        """Embed each distinct text once (boilerplate repeats across chunks and documents)."""
        unique = list(dict.fromkeys(texts))
        vectors = self.embedder.encode(unique)
        if len(unique) == len(texts):
            return vectors
        row = {text: index for index, text in enumerate(unique)}
        return vectors[[row[text] for text in texts]]

    def _commit(  # noqa: PLR0917 - private step, called from one place
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
        for batch in _batches(stale, UPSERT_BATCH):
            collection.delete(ids=list(batch))
        return len(stale)

    def delete_removed(self, version: IndexVersion, removed: list[DocRecord]) -> int:
        collection = self.collection(version)
        ids = [cid for record in removed for cid in record.chunk_ids]
        # Forget first: a crash now leaves orphans in Chroma, which reconcile deletes.
        self.records.delete_documents(version.version, [r.doc_id for r in removed])
        for batch in _batches(ids, UPSERT_BATCH):
            collection.delete(ids=list(batch))
        return len(ids)

    def publish(self, version: IndexVersion) -> bool:
        """Make ``version`` the serving one (atomic alias switch); prune all but one older."""
        current = self.records.alias(self.settings.collection)
        if current is not None and current.version == version.version:
            return False
        self.records.switch_alias(self.settings.collection, version.version)
        keep = {version.version, current.version if current else ""}
        for old in self.records.versions():
            if old.version not in keep:
                # Already gone (a crash during a previous prune) is fine.
                with contextlib.suppress(Exception):
                    self.client.delete_collection(old.collection)
                self.records.drop_version(old.version)
        return True
