"""What an ingest run will do: load the docs folder, then compare it with the record.

The comparison decides what leaves the index, so it is where "a bad read must never
empty the index" is enforced: a document that was not loaded is removed only when its
file is truly gone, never when its file or folder could not be read this time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ragwright.rag.discovery import scan
from ragwright.rag.documents import Document, LoadFailure
from ragwright.rag.loaders import load_file
from ragwright.rag.records import DocRecord

__all__ = [
    "IngestPlan",
    "LoadResult",
    "load_documents",
    "plan_changes",
    "reusable_version",
    "version_fingerprint",
]


def version_fingerprint(
    embedding_model: str, chunk_tokens: int, chunk_overlap: int, chunker_version: int | str
) -> str:
    """The index version the settings describe: what the vectors and chunks depend on.

    Another embedder (a model, a folder, an ``openai/...@dimensions``) or another
    chunking gives another fingerprint, so the next ingest builds a new version
    beside the serving one and switches the alias when it is complete.
    """
    key = f"{embedding_model}|{chunk_tokens}|{chunk_overlap}|{chunker_version}"
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def reusable_version(current: str | None, fingerprint: str) -> bool:
    """Whether the serving version (``current``) already is what the settings describe.

    A rebuild of the same settings (``fingerprint-<timestamp>``) counts: a "nothing
    to do" check and the ingest must agree on this, so both ask here.
    """
    return current is not None and current.startswith(fingerprint)


@dataclass
class LoadResult:
    documents: list[Document]
    failures: list[LoadFailure]
    files_seen: int
    unreadable: list[str] = field(default_factory=list)
    """Paths (relative to the docs folder, "" = all of it) that could not be listed."""

    def keeps(self, source: str) -> bool:
        """Whether documents recorded from ``source`` stay although none was loaded from it.

        They do when the file failed in a way that may be temporary (a read error, a size
        over the limit) or lies under a folder that could not be listed: a bad read must
        never empty the index. Only a file that is truly gone (or a refused link) drops.
        """
        if any(f.path == source and f.keep for f in self.failures):
            return True
        return any(
            not prefix or source == prefix or source.startswith(prefix + "/")
            for prefix in self.unreadable
        )


@dataclass
class IngestPlan:
    new: list[Document]
    changed: list[Document]
    unchanged: list[str]
    removed: list[DocRecord]
    kept: list[str] = field(default_factory=list)
    """Recorded documents not loaded this run but kept (their file could not be read)."""

    @property
    def to_index(self) -> list[Document]:
        return self.new + self.changed


def load_documents(
    docs_dir: Path,
    *,
    follow_symlinks: bool,
    max_file_bytes: int,
    progress: Callable[[int], None],
) -> LoadResult:
    """Every document of ``docs_dir``, and a failure line for each thing that was not read."""
    found = scan(docs_dir, follow_symlinks=follow_symlinks, max_file_bytes=max_file_bytes)
    documents: list[Document] = []
    failures: list[LoadFailure] = list(found.failures)
    first_seen: dict[str, str] = {}
    for path in found.files:
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
    return LoadResult(documents, failures, found.seen, found.unreadable)


def plan_changes(recorded: dict[str, DocRecord], loaded: LoadResult) -> IngestPlan:
    """Sort loaded documents into new, changed and unchanged; recorded ones into kept, removed."""
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
    for doc_id, record in recorded.items():
        if doc_id in present:
            continue
        if loaded.keeps(record.source):
            plan.kept.append(doc_id)
        else:
            plan.removed.append(record)
    return plan
