"""Ingest under faults, in-process (issue 13): unreadable folders, huge files, symlinks,
an interrupted large document, store errors and the ingest lock.

Real Chroma, real SQLite. Unreadability is simulated at the OS boundary (``os.scandir``,
``Path.read_bytes``) because tests run as root here, where ``chmod 000`` stops nothing;
the chmod variant runs where it means something.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import ragwright.flows.ingest as ingest_module
import ragwright.rag.indexer as indexer_module
from ragwright.errors import IndexStoreError, IngestBusyError
from ragwright.flows.ingest import ingest
from ragwright.flows.lock import ingest_lock, lock_holder
from ragwright.providers.base import Embedder
from ragwright.providers.registry import embedder_from_settings
from ragwright.rag.discovery import scan
from ragwright.rag.retriever import Retriever
from ragwright.rag.store_errors import sqlite_error
from ragwright.rag.vectorstore import chroma_client
from ragwright.settings import Settings
from tests.conftest import run_cli, write_docs
from tests.ingest_checks import expected_chunks, served_chunks, staged_progress

PRIVATE = {
    f"private/p{i}.md": f"# Private {i}\n\nInternal note {i} about the billing flow."
    for i in range(5)
}


def write_private(docs: Path) -> None:
    (docs / "private").mkdir()
    write_docs(docs, PRIVATE)


@pytest.fixture
def settings(small_docs: Path) -> Settings:
    return Settings(docs_dir=small_docs, chunk_tokens=64, chunk_overlap=8)


def block_listing(monkeypatch: pytest.MonkeyPatch, *folders: Path) -> None:
    """Make ``os.scandir`` of ``folders`` fail as a folder without read permission does."""
    real = os.scandir
    blocked = {folder.resolve() for folder in folders}

    def scandir(path: Any = ".") -> Any:
        if isinstance(path, str | os.PathLike) and Path(path).resolve() in blocked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


# 1. unreadable folders and files ------------------------------------------------------


def test_unlistable_folder_keeps_its_documents_and_only_gone_files_leave(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_private(settings.docs_dir)
    ingest(settings)
    before = served_chunks(settings)
    assert {f"private/p{i}.md" for i in range(5)} <= set(before)
    (settings.docs_dir / "gardening.txt").unlink()  # truly gone

    block_listing(monkeypatch, settings.docs_dir / "private")
    summary = ingest(settings)

    assert (summary.docs_removed, summary.docs_kept) == (1, 5)
    assert summary.chunks_deleted == len(before["gardening.txt"])
    [failure] = [f for f in summary.failures if f["path"] == "private"]
    assert "Permission denied" in failure["reason"]
    assert "unreadable, kept" in failure["reason"]
    after = served_chunks(settings)
    assert after == {d: ids for d, ids in before.items() if d != "gardening.txt"}

    monkeypatch.undo()  # readable again: nothing to redo
    again = ingest(settings)
    assert (again.docs_new, again.docs_changed, again.docs_removed) == (0, 0, 0)
    assert served_chunks(settings) == after


def test_unlistable_docs_folder_keeps_everything(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(settings)
    before = served_chunks(settings)
    block_listing(monkeypatch, settings.docs_dir)
    summary = ingest(settings)
    assert (summary.docs_removed, summary.docs_kept) == (0, 4)
    assert served_chunks(settings) == before


def test_unreadable_file_keeps_its_chunks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(settings)
    before = served_chunks(settings)
    target = (settings.docs_dir / "costs.md").resolve()
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.resolve() == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    summary = ingest(settings)
    assert (summary.docs_removed, summary.docs_kept, summary.docs_failed) == (0, 1, 1)
    assert "unreadable, kept" in summary.failures[0]["reason"]
    assert served_chunks(settings) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads through chmod 000")
def test_chmod_000_folder_keeps_its_documents(settings: Settings) -> None:
    write_private(settings.docs_dir)
    ingest(settings)
    before = served_chunks(settings)
    private = settings.docs_dir / "private"
    private.chmod(0)
    try:
        summary = ingest(settings)
    finally:
        private.chmod(0o755)
    assert (summary.docs_removed, summary.docs_kept) == (0, 5)
    assert served_chunks(settings) == before


# 2. huge files: the size limit, and a large document interrupted mid-way -----------


def test_file_over_max_file_bytes_is_skipped_with_its_size(settings: Settings) -> None:
    ingest(settings)
    before = served_chunks(settings)
    limited = settings.model_copy(update={"max_file_bytes": 4000})
    (settings.docs_dir / "huge.md").write_text("# Huge\n\n" + "word " * 2000, encoding="utf-8")
    grown = settings.docs_dir / "costs.md"
    grown.write_text(grown.read_text() + "more " * 1000, encoding="utf-8")

    summary = ingest(limited)

    reasons = {f["path"]: f["reason"] for f in summary.failures}
    assert "10,008 bytes" in reasons["huge.md"]
    assert "max_file_bytes = 4,000" in reasons["huge.md"]
    assert "over max_file_bytes" in reasons["costs.md"]
    assert summary.docs_kept == 1  # costs.md grew past the limit: its old chunks stay
    assert served_chunks(settings) == before


class FailingEmbedder(Embedder):
    """The real embedder, failing on call ``fail_on`` (a crash in the middle of a run)."""

    def __init__(self, inner: Embedder, fail_on: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.fail_on = fail_on
        self.texts = 0
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("killed mid-document")
        self.texts += len(texts)
        return self.inner.encode(texts)


def long_doc(paragraphs: int) -> str:
    body = "\n\n".join(
        f"Paragraph {p} of the operations manual explains procedure {p * 13}"
        f" step by step, with enough words to fill a chunk of its own, number {p}."
        for p in range(paragraphs)
    )
    return f"# Operations manual\n\n{body}\n"


def test_large_document_interrupted_keeps_batches_and_old_version_serves(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer_module, "UPSERT_BATCH", 8)
    manual = settings.docs_dir / "manual.md"
    manual.write_text(long_doc(3), encoding="utf-8")
    ingest(settings)
    before = served_chunks(settings)
    manual.write_text(long_doc(80), encoding="utf-8")  # dozens of new chunks: staged by 8

    failing = FailingEmbedder(embedder_from_settings(settings), fail_on=4)
    monkeypatch.setattr(ingest_module, "embedder_from_settings", lambda _: failing)
    with pytest.raises(RuntimeError, match="killed mid-document"):
        ingest(settings)

    # The old version still serves, complete; record and Chroma agree.
    assert served_chunks(settings) == before
    [(doc_id, staged, total)] = staged_progress(settings.home)
    assert (doc_id, staged) == ("manual.md", 24)  # three batches of 8 made it

    resumed = FailingEmbedder(embedder_from_settings(settings))
    monkeypatch.setattr(ingest_module, "embedder_from_settings", lambda _: resumed)
    summary = ingest(settings)
    assert summary.chunks_resumed == 24
    assert summary.chunks_reused >= 24
    assert summary.chunks_added == total - 24 == resumed.texts  # only the rest is embedded
    assert served_chunks(settings) == expected_chunks(settings)
    assert not settings.staging_db.exists()  # nothing part-way: the file is gone


def test_corrupt_staging_db_names_itself_and_the_fix(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(indexer_module, "UPSERT_BATCH", 8)
    (settings.docs_dir / "manual.md").write_text(long_doc(40), encoding="utf-8")
    settings.home.mkdir(parents=True)
    settings.staging_db.write_bytes(os.urandom(8192))
    with pytest.raises(IndexStoreError) as caught:
        ingest(settings)
    assert caught.value.kind == "corrupt"
    assert str(caught.value).startswith(f"{settings.staging_db}: staging.db is corrupt")
    assert "delete it" in str(caught.value)
    settings.staging_db.unlink()
    ingest(settings)
    assert served_chunks(settings) == expected_chunks(settings)


# 3. symlinks ------------------------------------------------------------------------


def test_symlinks_out_of_docs_are_refused_and_inside_ones_followed(
    settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write_docs(outside, {"secret.md": "# Secret\n\nThe launch code is zebra-4471."})
    docs = settings.docs_dir
    (docs / "x.md").symlink_to(outside / "secret.md")
    (docs / "ext").symlink_to(outside, target_is_directory=True)
    (docs / "alias.md").symlink_to(docs / "costs.md")  # stays inside: fine
    (docs / "loop").symlink_to(docs, target_is_directory=True)  # inside, and a cycle

    summary = ingest(settings)

    reasons = {f["path"]: f["reason"] for f in summary.failures}
    assert set(reasons) == {"x.md", "ext"}
    assert all("outside the docs folder; refused, nothing read" in r for r in reasons.values())
    served = served_chunks(settings)
    assert "alias.md" in served
    assert not {"x.md", "ext/secret.md"} & set(served)
    retriever = Retriever(settings, embedder_from_settings(settings), chroma_client(settings))
    assert all("zebra" not in hit.text for hit in retriever.retrieve("launch code", k=10))

    followed = ingest(settings.model_copy(update={"follow_symlinks": True}))
    assert {"x.md", "ext/secret.md"} <= set(served_chunks(settings))
    assert followed.failures == []
    # Switched back off: what was indexed through the links leaves the index.
    refused = ingest(settings)
    assert refused.docs_removed == 2
    assert not {"x.md", "ext/secret.md"} & set(served_chunks(settings))


def test_scan_reports_broken_and_looping_links_without_keeping_them(tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.md": "# A\n\nText."})
    (docs / "gone.md").symlink_to(docs / "missing.md")
    (docs / "self.md").symlink_to(docs / "self.md")
    found = scan(docs)
    assert [p.name for p in found.files] == ["a.md"]
    reasons = {f.path: (f.reason, f.keep) for f in found.failures}
    assert reasons["gone.md"] == ("broken symlink (its target does not exist); not indexed", False)
    assert reasons["self.md"][1] is False
    assert found.seen == 3


# 6. store errors ----------------------------------------------------------------------


def test_chroma_disk_full_is_one_line_naming_the_folder(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chromadb.api.models.Collection import Collection
    from chromadb.errors import InternalError

    def full(*_: Any, **__: Any) -> None:  # what Chroma 1.5 raised on a full tmpfs
        raise InternalError(
            "Query error: Database error: error returned from database: (code: 13)"
            " database or disk is full"
        )

    monkeypatch.setattr(Collection, "upsert", full)
    with pytest.raises(IndexStoreError) as caught:
        ingest(settings)
    assert caught.value.kind == "full"
    assert str(caught.value).startswith(f"disk full: free space under {settings.chroma_path}")
    monkeypatch.undo()
    ingest(settings)
    assert served_chunks(settings) == expected_chunks(settings)


def test_corrupt_pages_in_index_db_are_one_line_and_full_rebuilds(settings: Settings) -> None:
    ingest(settings)
    with settings.index_db.open("r+b") as db:  # keep the header, destroy the tables
        db.seek(4096)
        db.write(os.urandom(4096 * 8))
    with pytest.raises(IndexStoreError) as caught:
        ingest(settings)
    assert caught.value.kind == "corrupt"
    assert "index.db is corrupt" in str(caught.value)
    assert "ragwright index run --full" in str(caught.value)

    rebuilt = ingest(settings, rebuild=True)
    assert rebuilt.docs_new == 4
    assert served_chunks(settings) == expected_chunks(settings)
    assert list(settings.home.glob("index.db.corrupt-*"))


def test_garbage_index_db_fails_status_with_one_line(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    settings.index_db.write_bytes(os.urandom(8192))
    result = run_cli("index", "status", cwd=settings.project_root)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.strip().splitlines()
    assert "index.db is corrupt" in line
    assert "ragwright index run --full" in line


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("database or disk is full", "full"),
        ("database disk image is malformed", "corrupt"),
        ("file is not a database", "corrupt"),
        ("database is locked", "locked"),
        ("attempt to write a readonly database", "readonly"),
    ],
)
def test_sqlite_errors_are_classified(tmp_path: Path, message: str, kind: str) -> None:
    import sqlite3

    error = sqlite_error(tmp_path / "index.db", sqlite3.OperationalError(message))
    assert error.kind == kind
    assert str(error).startswith(f"{tmp_path / 'index.db'}: ")


# 5. the ingest lock -------------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from ragwright.flows.lock import ingest_lock
with ingest_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_ingest_fails_fast_and_a_killed_holder_frees_the_lock(
    settings: Settings,
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(settings.home)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(IngestBusyError) as caught:
            ingest(settings)
        assert caught.value.pid == holder.pid
        assert f"another ingest is running (pid {holder.pid}, since " in str(caught.value)
        assert str(caught.value).endswith("wait for it or stop it")
        assert lock_holder(settings.home) is not None
        assert not settings.index_db.exists()  # refused before touching anything
    finally:
        holder.kill()  # SIGKILL: no cleanup runs; the kernel drops the lock
        holder.wait()
    assert lock_holder(settings.home) is None
    assert ingest(settings).docs_new == 4


def test_the_lock_is_reentrant_in_one_process(settings: Settings) -> None:
    with ingest_lock(settings.home):
        assert ingest(settings).docs_new == 4  # the CLI holds it, then runs the flow
    assert lock_holder(settings.home) is None
