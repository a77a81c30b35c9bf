"""What flows through ingestion: documents, their chunks, and per-file failures."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Chunk", "Document", "LoadFailure"]


@dataclass(frozen=True, slots=True)
class Document:
    """One logical document; a JSONL file holds many, a Markdown file one."""

    doc_id: str
    text: str
    title: str
    source: str  # file the document came from, relative to the docs root
    kind: str  # md, txt, html, pdf, jsonl
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """Hash of everything that reaches the index: text, title and metadata."""
        digest = hashlib.sha256()
        for part in (self.text, self.title, repr(sorted(self.metadata.items()))):
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
        return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    title: str
    heading: str  # "Section > Subsection", empty when the text has no headings
    start: int  # character offsets into the document's text
    end: int
    ordinal: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def embedding_text(self) -> str:
        """What we embed: the chunk with its title and heading path for context."""
        header = " > ".join(p for p in (self.title, self.heading) if p)
        return f"{header}\n{self.text}" if header else self.text


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """A file (or line, or folder) that could not be ingested this run, with the reason.

    ``keep``: whether documents previously indexed from ``path`` stay in the index. A
    read error may be temporary and must not empty the index, so that is the default;
    a refused symlink is not, since its content must stop being served.
    """

    path: str
    reason: str
    line: int | None = None
    keep: bool = True
