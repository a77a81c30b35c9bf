"""Token-aware, Markdown-heading-aware chunking with stable ids.

Markdown is first cut at headings (ignoring ``#`` lines inside code fences), so
a chunk never straddles two sections and carries its heading path. Each section
is then split by LangChain's recursive splitter measured in cl100k tokens (the
offline encoding), preferring paragraph, then line, then sentence boundaries.
Chunk ids hash the document id and the chunk text, so an unchanged chunk keeps
its id across runs and edits elsewhere in the document.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import Counter
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ragwright.rag.documents import Chunk, Document
from ragwright.tokens import OFFLINE_ENCODING

__all__ = ["CHUNKER_VERSION", "ChunkingConfig", "chunk_document"]

CHUNKER_VERSION = "2"  # bump when the algorithm changes: it is part of the index fingerprint
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    chunk_tokens: int = 200
    chunk_overlap: int = 30

    def __post_init__(self) -> None:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError("chunk_overlap must be smaller than chunk_tokens")


@dataclass(frozen=True, slots=True)
class _Section:
    heading: str
    start: int
    end: int


@functools.cache
def _splitter(config: ChunkingConfig) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=OFFLINE_ENCODING,
        chunk_size=config.chunk_tokens,
        chunk_overlap=config.chunk_overlap,
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
    )


def _markdown_sections(text: str) -> list[_Section]:
    sections: list[_Section] = []
    path: list[tuple[int, str]] = []
    start, heading, in_fence, offset = 0, "", False, 0
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            if offset > start:
                sections.append(_Section(heading, start, offset))
            level = len(match.group(1))
            path = [(lvl, name) for lvl, name in path if lvl < level]
            path.append((level, match.group(2).strip()))
            heading = " > ".join(name for _, name in path)
            start = offset + len(line) + 1  # the heading itself lives in the path
        offset += len(line) + 1
    if len(text) > start:
        sections.append(_Section(heading, start, len(text)))
    return sections


def chunk_document(document: Document, config: ChunkingConfig) -> list[Chunk]:
    text = document.text
    sections = _markdown_sections(text) if document.kind == "md" else [_Section("", 0, len(text))]
    chunks: list[Chunk] = []
    seen: Counter[str] = Counter()
    for section in sections:
        body = text[section.start : section.end]
        if not body.strip():
            continue
        cursor = 0
        for raw_piece in _splitter(config).split_text(body):
            piece = raw_piece.strip()
            if not piece:
                continue
            found = body.find(piece, cursor)
            if found < 0:  # splitter normalised something; fall back to a search from 0
                found = max(body.find(piece), 0)
            cursor = found + 1
            occurrence = seen[piece]
            seen[piece] += 1
            digest = hashlib.sha256(
                f"{document.doc_id}\0{piece}\0{occurrence}".encode("utf-8", "surrogatepass")
            ).hexdigest()[:32]
            chunks.append(
                Chunk(
                    chunk_id=digest,
                    doc_id=document.doc_id,
                    text=piece,
                    title=document.title,
                    heading=section.heading,
                    start=section.start + found,
                    end=section.start + found + len(piece),
                    ordinal=len(chunks),
                    metadata=dict(document.metadata),
                )
            )
    return chunks
