"""Embed a large document in committed batches, so a crash keeps the finished ones.

A document used to be all-or-nothing: its chunks counted only once the last one
was embedded, so a crash 7 minutes into a 50 MB manual kept nothing. Writing its
chunks straight into the serving collection batch by batch would not do either:
a half-embedded new version would then be served next to the old one.

So a document with more new chunks than one commit batch goes through a
*staging* collection next to its version's collection, which queries never
read. Its new chunks are embedded and upserted there one batch at a time, and
each finished batch is recorded (``staging`` table of ``index.db``: chunks
staged, of how many), so ``ragwright index status`` and a killed run's rerun
can see how far it got. When every chunk is staged, they are copied, vectors
included, into the serving collection; then the document is recorded and its
stale chunks deleted, the same order of writes as for a small document. Until
then the old version of the document serves, complete.

After a crash the next run looks its new chunk ids up in the staging collection
and embeds only those not found. A chunk id hashes the document id and text, the
staging collection belongs to one index version (one embedding model and
chunking), and each staged chunk carries a hash of the exact text that was
embedded (title and heading path included), so a staged vector is reused only
where it is the vector this run would compute.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ragwright.rag.documents import Chunk, Document
from ragwright.rag.records import IndexRecords, IndexVersion
from ragwright.rag.vectorstore import open_collection

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["Stager", "staging_name"]

Metadata = dict[str, str | int | float | bool]


def staging_name(version: IndexVersion) -> str:
    return f"{version.collection}-staging"


def _text_hash(chunk: Chunk) -> str:
    return hashlib.sha256(chunk.embedding_text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class Stager:
    """Stage, resume and promote the new chunks of large documents of one index version."""

    def __init__(
        self,
        client: ClientAPI,
        records: IndexRecords,
        version: IndexVersion,
        *,
        embed: Callable[[list[str]], Any],
        batch: int,
    ) -> None:
        self.client = client
        self.records = records
        self.version = version
        self.embed = embed
        self.batch = batch
        self._collection: Collection | None = None

    @property
    def collection(self) -> Collection:
        if self._collection is None:
            self._collection = open_collection(self.client, staging_name(self.version))
        return self._collection

    def stage(
        self,
        document: Document,
        fresh: Sequence[Chunk],
        metadata: Callable[[Chunk], Metadata],
        progress: Callable[[int], None],
    ) -> int:
        """Get every chunk of ``fresh`` embedded into staging; return how many were resumed."""
        done = self._already_staged(fresh)
        todo = [c for c in fresh if c.chunk_id not in done]
        progress(len(done))
        staged = len(done)
        self._record(document, staged, len(fresh))
        for start in range(0, len(todo), self.batch):
            batch = todo[start : start + self.batch]
            self.collection.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=self.embed([c.embedding_text for c in batch]),
                documents=[c.text for c in batch],
                metadatas=[{**metadata(c), "embedded_text": _text_hash(c)} for c in batch],
            )
            staged += len(batch)
            self._record(document, staged, len(fresh))  # after Chroma has it: a lower bound
            progress(len(batch))
        return len(done)

    def promote(
        self, fresh: Sequence[Chunk], serving: Collection, metadata: Callable[[Chunk], Metadata]
    ) -> None:
        """Copy the staged chunks, vectors included, into the serving collection."""
        for start in range(0, len(fresh), self.batch):
            batch = fresh[start : start + self.batch]
            got = self.collection.get(ids=[c.chunk_id for c in batch], include=["embeddings"])
            stored = got["embeddings"]  # a numpy array: no truth value
            vectors = dict(zip(got["ids"], [] if stored is None else stored, strict=True))
            missing = [c for c in batch if c.chunk_id not in vectors]
            if missing:  # staged moments ago; embed again rather than index a hole
                vectors.update(
                    zip(
                        [c.chunk_id for c in missing],
                        self.embed([c.embedding_text for c in missing]),
                        strict=True,
                    )
                )
            serving.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=[vectors[c.chunk_id] for c in batch],
                documents=[c.text for c in batch],
                metadatas=[metadata(c) for c in batch],
            )

    def finish(self, document: Document) -> None:
        """The document is recorded as served: forget its progress.

        Its staged copy stays until :meth:`discard` drops the whole staging collection at
        the end of the run, which is cheaper than deleting it chunk by chunk.
        """
        self.records.clear_staged(self.version.version, [document.doc_id])

    def discard(self) -> None:
        """Drop the staging collection and all progress (a run finished every document)."""
        from chromadb.errors import NotFoundError

        self.records.clear_staged(self.version.version)
        self._collection = None
        with contextlib.suppress(NotFoundError):  # nothing was ever staged: the common case
            self.client.delete_collection(staging_name(self.version))

    def _already_staged(self, fresh: Sequence[Chunk]) -> set[str]:
        """Ids of ``fresh`` whose staged vector was computed from this very text."""
        if not self.records.staged(self.version.version):
            return set()  # nothing in progress: skip the lookups
        found: set[str] = set()
        for start in range(0, len(fresh), self.batch):
            batch = fresh[start : start + self.batch]
            got = self.collection.get(ids=[c.chunk_id for c in batch], include=["metadatas"])
            hashes = {
                cid: (meta or {}).get("embedded_text")
                for cid, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
            }
            found.update(c.chunk_id for c in batch if hashes.get(c.chunk_id) == _text_hash(c))
        return found

    def _record(self, document: Document, staged: int, total: int) -> None:
        self.records.stage_progress(
            self.version.version, document.doc_id, document.content_hash, staged, total
        )
