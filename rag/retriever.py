"""Retrieval over the serving index version: dense top-k, or hybrid BM25 + dense by RRF.

The retriever reads the alias at construction, so one retriever keeps
answering from one index version even if a reindex switches the alias
mid-request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ragwright.errors import EmbedderMismatchError, IndexStateError
from ragwright.providers.base import Embedder
from ragwright.rag.records import IndexRecords, IndexVersion
from ragwright.rag.vectorstore import open_collection
from ragwright.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    import bm25s
    import numpy as np
    import numpy.typing as npt
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import QueryResult

__all__ = ["RRF_K", "RetrievedChunk", "Retriever"]

RRF_K = 60  # the constant of Cormack et al.'s reciprocal rank fusion
PREFETCH_LIMIT = 20_000  # prefetched query vectors kept (~30 MB at 384 dimensions)


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    chunk_id: str
    doc_id: str
    text: str
    title: str
    heading: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> str:
        """The id answers cite: the document, not the chunk."""
        return self.doc_id


class Retriever:
    def __init__(self, settings: Settings, embedder: Embedder, client: ClientAPI) -> None:
        records = IndexRecords(settings.index_db)
        try:
            version = records.alias(settings.collection)
            self.state = records.serving_state(settings.collection)
        finally:
            records.close()
        if version is None:
            raise IndexStateError(
                f"no index named '{settings.collection}' under {settings.home};"
                " run `ragwright index run` first"
            )
        if version.embedding_model != embedder.name:
            raise EmbedderMismatchError(
                index=settings.collection,
                index_model=version.embedding_model,
                query_model=embedder.name,
            )
        self.version: IndexVersion = version
        self.settings = settings
        self.embedder = embedder
        self.client = client
        self.collection: Collection = open_collection(client, version.collection)
        self._bm25: tuple[bm25s.BM25, list[str]] | None = None
        self._prefetched: dict[str, npt.NDArray[np.float32]] = {}
        self._searched: dict[tuple[str, int], list[RetrievedChunk]] = {}

    def is_current(self) -> bool:
        """Whether the index still is what this retriever opened (no ingest or switch since).

        Incremental ingests write into the same collection, which dense search sees at
        once, but the BM25 side is built once per retriever; a switch moves to another
        collection altogether. Long-lived servers check this and :meth:`reopen`.
        """
        records = IndexRecords(self.settings.index_db)
        try:
            return records.serving_state(self.settings.collection) == self.state
        finally:
            records.close()

    def reopen(self) -> Retriever:
        """A retriever on the index as it is now, sharing the embedder and the client."""
        return Retriever(self.settings, self.embedder, self.client)

    def prefetch(self, queries: Sequence[str], *, k: int | None = None) -> None:
        """Embed, and for dense retrieval also search, queries that are about to be asked.

        An eval run knows all its questions up front; encoding them in batches is
        several times cheaper than one at a time, keeps concurrent cases from
        contending for the CPU while their model calls wait, and one Chroma query
        for a batch costs little more than one for a single question. Unfiltered
        dense searches for top ``k`` are kept and answered from memory. At most
        ``PREFETCH_LIMIT`` vectors and searches are kept, the oldest dropped first;
        a dropped or never prefetched query is simply encoded and searched again.
        """
        k = k or self.settings.top_k
        asked = [q for q in dict.fromkeys(queries) if q]
        unknown = [q for q in asked if q not in self._prefetched]
        if unknown:
            vectors = self.embedder.encode(unknown)
            self._prefetched.update((q, vectors[i]) for i, q in enumerate(unknown))
        unsearched = [q for q in asked if (q, k) not in self._searched]
        if unsearched and self.settings.retrieval == "dense":
            import numpy

            result = self.collection.query(
                query_embeddings=numpy.stack([self._prefetched[q] for q in unsearched]),
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
            self._searched.update(((q, k), _hits(result, row)) for row, q in enumerate(unsearched))
        _trim(self._prefetched)
        _trim(self._searched)

    def retrieve(
        self,
        query: str,
        *,
        k: int | None = None,
        where: dict[str, Any] | None = None,
        hybrid: bool | None = None,
    ) -> list[RetrievedChunk]:
        k = k or self.settings.top_k
        use_hybrid = self.settings.retrieval == "hybrid" if hybrid is None else hybrid
        if not use_hybrid:
            if where is None and (found := self._searched.get((query, k))) is not None:
                return list(found)
            return self._dense(query, k, where)
        # Fuse deeper candidate lists than k so either ranker can promote a chunk.
        depth = max(k * 4, 20)
        dense = self._dense(query, depth, where)
        sparse = self._sparse(query, depth, where)
        fused: dict[str, float] = {}
        by_id: dict[str, RetrievedChunk] = {}
        for ranking in (dense, sparse):
            for rank, hit in enumerate(ranking, start=1):
                fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + 1.0 / (RRF_K + rank)
                by_id.setdefault(hit.chunk_id, hit)
        ordered = sorted(fused, key=lambda cid: (-fused[cid], cid))[:k]
        return [_with_score(by_id[cid], fused[cid]) for cid in ordered]

    def _dense(self, query: str, k: int, where: dict[str, Any] | None) -> list[RetrievedChunk]:
        known = self._prefetched.get(query)
        vector = known[None, :] if known is not None else self.embedder.encode([query])
        result = self.collection.query(
            query_embeddings=vector,
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return _hits(result, 0)

    def _sparse(self, query: str, k: int, where: dict[str, Any] | None) -> list[RetrievedChunk]:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it forces DEBUG on import
        if self._bm25 is None:
            # Built lazily from the collection itself, so it always matches the dense side.
            everything = self.collection.get(include=[])
            ids = list(everything["ids"])
            texts = self._texts(ids)
            retriever = bm25s.BM25()
            retriever.index(
                bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False
            )
            self._bm25 = (retriever, ids)
        retriever, ids = self._bm25
        if not ids:
            return []
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        depth = min(len(ids), k * 5 if where else k)
        docs, scores = retriever.retrieve(tokens, k=depth, show_progress=False)
        ranked = [(ids[int(i)], float(s)) for i, s in zip(docs[0], scores[0], strict=True) if s > 0]
        if not ranked:
            return []
        got = self.collection.get(
            ids=[cid for cid, _ in ranked], where=where, include=["documents", "metadatas"]
        )
        found = {
            cid: (text or "", dict(meta or {}))
            for cid, text, meta in zip(
                got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
            )
        }
        return [_chunk(cid, *found[cid], score) for cid, score in ranked if cid in found][:k]

    def _texts(self, ids: list[str]) -> list[str]:
        texts: list[str] = []
        for start in range(0, len(ids), 1000):
            got = self.collection.get(
                ids=ids[start : start + 1000], include=["documents", "metadatas"]
            )
            lookup = {
                cid: " ".join(
                    (
                        str((meta or {}).get("title", "")),
                        str((meta or {}).get("heading", "")),
                        doc or "",
                    )
                )
                for cid, doc, meta in zip(
                    got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
                )
            }
            texts.extend(lookup[cid] for cid in ids[start : start + 1000])
        return texts


def _trim(memo: dict[Any, Any]) -> None:
    """Drop the oldest entries beyond ``PREFETCH_LIMIT`` (dicts keep insertion order)."""
    for stale in list(memo)[: max(0, len(memo) - PREFETCH_LIMIT)]:
        memo.pop(stale, None)


def _hits(result: QueryResult, row: int) -> list[RetrievedChunk]:
    """The chunks Chroma found for query number ``row``, best first, score = cosine."""
    return [
        _chunk(cid, text or "", dict(meta or {}), 1.0 - float(distance))
        for cid, text, meta, distance in zip(
            result["ids"][row],
            (result["documents"] or [])[row] if result["documents"] else [],
            (result["metadatas"] or [])[row] if result["metadatas"] else [],
            (result["distances"] or [])[row] if result["distances"] else [],
            strict=True,
        )
    ]


def _chunk(chunk_id: str, text: str, meta: dict[str, Any], score: float) -> RetrievedChunk:
    return RetrievedChunk(
        chunk_id=chunk_id,
        doc_id=str(meta.get("doc_id", "")),
        text=text,
        title=str(meta.get("title", "")),
        heading=str(meta.get("heading", "")),
        score=score,
        metadata=meta,
    )


def _with_score(hit: RetrievedChunk, score: float) -> RetrievedChunk:
    return RetrievedChunk(
        hit.chunk_id, hit.doc_id, hit.text, hit.title, hit.heading, score, hit.metadata
    )
