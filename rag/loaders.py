"""Turn files into documents: Markdown, text, HTML, PDF and JSONL records.

A file that cannot be read becomes a :class:`LoadFailure` with the reason;
the run goes on. Document ids are stable: the path relative to the docs root
for files, the record's ``id`` field for JSONL (else ``path#L<line>``). Which
files to load is decided by :mod:`ragwright.rag.discovery`.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from ragwright.rag.documents import Document, LoadFailure

__all__ = ["SUPPORTED_SUFFIXES", "load_file"]

SUPPORTED_SUFFIXES = {
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".jsonl": "jsonl",
}
_MD_TITLE = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


def decode(data: bytes, path: str) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16; anything else is reported."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start};"
            " convert the file to UTF-8"
        ) from exc


class _HTMLText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "section",
            "article",
            "pre",
            "blockquote",
            "table",
            "ul",
            "ol",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag.startswith("h") or tag == "p" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self.parts.append(data)

    def text(self) -> str:
        joined = "".join(self.parts)
        joined = re.sub(r"[ \t\r\f\v]+", " ", joined)
        return re.sub(r"\n\s*\n\s*(\n\s*)*", "\n\n", joined).strip()


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def load_file(path: Path, root: Path) -> tuple[list[Document], list[LoadFailure]]:
    rel = path.relative_to(root).as_posix()
    kind = SUPPORTED_SUFFIXES[path.suffix.lower()]
    try:
        if kind == "jsonl":
            return _load_jsonl(path, rel)
        if kind == "pdf":
            text, title = _read_pdf(path)
        else:
            raw = decode(path.read_bytes(), rel)
            if kind == "html":
                parser = _HTMLText()
                parser.feed(raw)
                text, title = parser.text(), parser.title.strip()
            else:
                text = raw
                match = _MD_TITLE.search(raw) if kind == "md" else None
                title = match.group(1).strip() if match else ""
    except OSError as exc:  # may be temporary (permissions, a mount): keep what it gave before
        return [], [
            LoadFailure(rel, f"could not read the file ({exc.strerror or exc}); unreadable, kept")
        ]
    except ValueError as exc:
        return [], [LoadFailure(rel, str(exc))]
    except Exception as exc:  # a corrupt PDF raises pypdf's own types; report, don't crash
        return [], [LoadFailure(rel, f"{type(exc).__name__}: {exc}")]
    text = _normalise(text)
    if not text:
        return [], [LoadFailure(rel, "empty document (no text after loading)")]
    return [Document(rel, text, title or path.stem, rel, kind)], []


def _read_pdf(path: Path) -> tuple[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    pages = [page.extract_text() or "" for page in reader.pages]
    title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    return "\n\n".join(pages), title


def _load_jsonl(path: Path, rel: str) -> tuple[list[Document], list[LoadFailure]]:
    documents: list[Document] = []
    failures: list[LoadFailure] = []
    text = decode(path.read_bytes(), rel)
    for number, line in _numbered_lines(text):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            failures.append(LoadFailure(rel, f"not JSON: {exc.msg}", number))
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            failures.append(LoadFailure(rel, "record needs a string field 'text'", number))
            continue
        body = _normalise(record["text"])
        if not body:
            failures.append(LoadFailure(rel, "field 'text' is empty", number))
            continue
        doc_id = str(record.get("id") or f"{rel}#L{number}")
        metadata = {
            key: value
            for key, value in record.items()
            if key not in {"id", "text", "title"} and isinstance(value, str | int | float | bool)
        }
        documents.append(
            Document(doc_id, body, str(record.get("title") or doc_id), rel, "jsonl", metadata)
        )
    return documents, failures


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line
