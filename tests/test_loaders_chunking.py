"""Loaders (Markdown, text, HTML, PDF, JSONL) and the chunker: offsets, headings, stable ids."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from ragwright.rag.chunking import ChunkingConfig, chunk_document
from ragwright.rag.discovery import discover
from ragwright.rag.documents import Document
from ragwright.rag.loaders import load_file


def minimal_pdf(text: str) -> bytes:
    """A valid one-page PDF with ``text`` in Helvetica, xref table included."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_discover_skips_hidden_and_unsupported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n\ntext")
    (tmp_path / ".hidden.md").write_text("secret")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "b.md").write_text("no")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("c")
    assert [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)] == ["a.md", "sub/c.txt"]


def test_markdown_title_and_id(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text("Intro line\n\n# The Guide\n\nBody.\r\n")
    [doc], failures = load_file(tmp_path / "guide.md", tmp_path)
    assert failures == []
    assert (doc.doc_id, doc.title, doc.kind) == ("guide.md", "The Guide", "md")
    assert "\r" not in doc.text


def test_html_keeps_text_only(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(
        "<html><head><title>Page T</title><style>p{color:red}</style>"
        "<script>alert('x')</script></head><body><h1>Head</h1><p>First &amp; second.</p>"
        "<p>Third</p></body></html>"
    )
    [doc], _ = load_file(tmp_path / "page.html", tmp_path)
    assert doc.title == "Page T"
    assert "First & second." in doc.text
    assert "Third" in doc.text
    assert "alert" not in doc.text
    assert "color" not in doc.text


def test_pdf_text_is_extracted(tmp_path: Path) -> None:
    (tmp_path / "paper.pdf").write_bytes(minimal_pdf("Hello PDF world"))
    [doc], failures = load_file(tmp_path / "paper.pdf", tmp_path)
    assert failures == []
    assert "Hello PDF world" in doc.text


def test_jsonl_records_keep_ids_and_metadata(tmp_path: Path) -> None:
    lines = [
        {"id": "p1", "title": "T1", "text": "Passage one.", "article_id": "a9", "char_start": 3},
        {"text": "No id here."},
        {"id": "p3", "text": "Nested metadata is dropped.", "nested": {"x": 1}},
    ]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    docs, failures = load_file(tmp_path / "corpus.jsonl", tmp_path)
    assert failures == []
    assert [d.doc_id for d in docs] == ["p1", "corpus.jsonl#L2", "p3"]
    assert docs[0].metadata == {"article_id": "a9", "char_start": 3}
    assert "nested" not in docs[2].metadata


def _doc(text: str, kind: str = "md") -> Document:
    return Document("doc.md", text, "Doc", "doc.md", kind)


MARKDOWN = """# Title

Intro paragraph about the product.

## Install

Run make demo to install everything.

```bash
# not a heading: inside a fence
make demo
```

### Offline

No network is needed at any step.

## Usage

Call the chain from Python.
"""


def test_chunks_follow_headings_and_offsets() -> None:
    doc = _doc(MARKDOWN)
    chunks = chunk_document(doc, ChunkingConfig(chunk_tokens=200, chunk_overlap=20))
    headings = [c.heading for c in chunks]
    assert headings == ["Title", "Title > Install", "Title > Install > Offline", "Title > Usage"]
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
    assert "not a heading" in chunks[1].text  # the fenced '#' line stayed in its section
    assert chunks[2].embedding_text.startswith("Doc > Title > Install > Offline\n")


def test_long_sections_split_by_tokens_with_overlap() -> None:
    from ragwright.tokens import count_tokens

    sentences = " ".join(f"Sentence number {i} talks about retrieval quality." for i in range(200))
    chunks = chunk_document(
        _doc(sentences, "txt"), ChunkingConfig(chunk_tokens=50, chunk_overlap=10)
    )
    assert len(chunks) > 10
    assert all(count_tokens(c.text) <= 50 for c in chunks)
    # consecutive chunks overlap: the next one starts before the previous one ends
    assert any(b.start < a.end for a, b in itertools.pairwise(chunks))


def test_chunk_ids_are_stable_and_local_to_edits() -> None:
    config = ChunkingConfig(chunk_tokens=40, chunk_overlap=0)
    before = chunk_document(_doc(MARKDOWN), config)
    again = chunk_document(_doc(MARKDOWN), config)
    assert [c.chunk_id for c in before] == [c.chunk_id for c in again]
    edited = chunk_document(_doc(MARKDOWN.replace("Call the chain", "Call the RAG chain")), config)
    changed = {c.chunk_id for c in edited} ^ {c.chunk_id for c in before}
    assert len(changed) == 2  # only the Usage chunk was replaced


def test_repeated_text_gets_distinct_ids() -> None:
    text = "Same paragraph.\n\n" * 3
    chunks = chunk_document(_doc(text, "txt"), ChunkingConfig(chunk_tokens=5, chunk_overlap=0))
    assert len({c.chunk_id for c in chunks}) == len(chunks) == 3


def test_overlap_must_be_smaller_than_chunk() -> None:
    with pytest.raises(ValueError, match="overlap"):
        ChunkingConfig(chunk_tokens=10, chunk_overlap=10)
