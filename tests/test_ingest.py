"""Incremental ingestion against real Chroma and real SQLite records.

Most tests call :func:`ingest` as plain Python (the same steps the flow runs);
``test_prefect_flow_run`` runs the real Prefect flow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragwright.flows.ingest import flow_settings, ingest, ingest_flow
from ragwright.rag.records import IndexRecords
from ragwright.rag.vectorstore import chroma_client, open_collection
from ragwright.settings import Settings
from tests.conftest import write_docs


def chroma_ids(settings: Settings) -> set[str]:
    records = IndexRecords(settings.index_db)
    try:
        version = records.alias(settings.collection)
        assert version is not None
        recorded = records.documents(version.version)
    finally:
        records.close()
    collection = open_collection(chroma_client(settings), version.collection)
    stored = set(collection.get(include=[])["ids"])
    expected = {cid for record in recorded.values() for cid in record.chunk_ids}
    assert stored == expected, "Chroma and the record disagree"
    return stored


def doc_ids_in_index(settings: Settings) -> set[str]:
    version = IndexRecords(settings.index_db).alias(settings.collection)
    assert version is not None
    collection = open_collection(chroma_client(settings), version.collection)
    metadatas = collection.get(include=["metadatas"])["metadatas"] or []
    return {str(m["doc_id"]) for m in metadatas}


@pytest.fixture
def settings(small_docs: Path) -> Settings:
    return Settings(docs_dir=small_docs, chunk_tokens=64, chunk_overlap=8)


def test_first_run_indexes_every_document(settings: Settings) -> None:
    summary = ingest(settings)
    assert (summary.docs_new, summary.docs_unchanged, summary.docs_failed) == (4, 0, 0)
    assert summary.chunks_added > 4
    assert summary.switched_alias
    assert doc_ids_in_index(settings) == {"rollback.md", "chroma.md", "costs.md", "gardening.txt"}
    assert len(chroma_ids(settings)) == summary.chunks_added


def test_unchanged_documents_cost_nothing(settings: Settings) -> None:
    ingest(settings)
    before = chroma_ids(settings)
    again = ingest(settings)
    assert (again.docs_unchanged, again.docs_new, again.docs_changed) == (4, 0, 0)
    assert again.chunks_added == 0
    assert again.chunks_deleted == 0
    assert chroma_ids(settings) == before


def test_changed_document_replaces_only_its_new_chunks(settings: Settings) -> None:
    first = ingest(settings)
    path = settings.docs_dir / "rollback.md"
    path.write_text(
        path.read_text() + "\n## Audit\nAuditors read the history file.\n", encoding="utf-8"
    )
    second = ingest(settings)
    assert (second.docs_changed, second.docs_unchanged) == (1, 3)
    # Untouched paragraphs keep their ids and vectors: only the new section is embedded.
    assert 0 < second.chunks_added < first.chunks_added
    assert second.chunks_reused >= 1
    ids = chroma_ids(settings)
    assert len(ids) == first.chunks_added + second.chunks_added - second.chunks_deleted


def test_deleted_document_leaves_the_index(settings: Settings) -> None:
    ingest(settings)
    (settings.docs_dir / "gardening.txt").unlink()
    summary = ingest(settings)
    assert summary.docs_removed == 1
    assert summary.chunks_deleted >= 1
    assert "gardening.txt" not in doc_ids_in_index(settings)
    chroma_ids(settings)


def test_bad_files_are_reported_and_skipped(settings: Settings) -> None:
    docs = settings.docs_dir
    (docs / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (docs / "empty.md").write_text("   \n", encoding="utf-8")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    (docs / "records.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"id": "r1", "text": "Record one about indexing.", "title": "R1"}),
                "{not json",
                json.dumps({"id": "r2", "body": "no text field"}),
                json.dumps({"id": "r1", "text": "Duplicate id again."}),
                json.dumps({"id": "r3", "text": "Record three.", "year": 2020}),
            ]
        ),
        encoding="utf-8",
    )
    summary = ingest(settings)
    reasons = {(f["path"], f["line"]): f["reason"] for f in summary.failures}
    assert "not UTF-8" in reasons[("latin1.txt", None)]
    assert "empty" in reasons[("empty.md", None)]
    assert ("broken.pdf", None) in reasons
    assert "not JSON" in reasons[("records.jsonl", 2)]
    assert "'text'" in reasons[("records.jsonl", 3)]
    assert any("duplicate document id 'r1'" in r for r in reasons.values())
    indexed = doc_ids_in_index(settings)
    assert {"r1", "r3", "rollback.md"} <= indexed
    assert "latin1.txt" not in indexed
    chroma_ids(settings)


def test_a_file_that_turns_unreadable_keeps_its_chunks(settings: Settings) -> None:
    ingest(settings)
    (settings.docs_dir / "costs.md").write_bytes(b"broken \xc3\x28 now")
    summary = ingest(settings)
    assert summary.docs_failed == 1
    assert summary.docs_removed == 0
    assert "costs.md" in doc_ids_in_index(settings)


@pytest.mark.slow
def test_ten_megabyte_document_and_utf16(settings: Settings) -> None:
    paragraph = "Reindexing keeps the vector index fresh for every team. " * 20 + "\n\n"
    (settings.docs_dir / "huge.md").write_text("# Huge\n\n" + paragraph * 9000, encoding="utf-8")
    assert (settings.docs_dir / "huge.md").stat().st_size > 10_000_000
    (settings.docs_dir / "utf16.txt").write_text("Ünïcode text in UTF-16.", encoding="utf-16")
    summary = ingest(settings.model_copy(update={"chunk_tokens": 512, "chunk_overlap": 32}))
    assert summary.docs_failed == 0
    assert summary.chunks_added > 4000
    assert {"huge.md", "utf16.txt"} <= doc_ids_in_index(settings)


def test_crash_after_upsert_is_repaired(settings: Settings) -> None:
    """Chunks in Chroma that the record does not know (crash before commit) are removed."""
    ingest(settings)
    version = IndexRecords(settings.index_db).alias(settings.collection)
    assert version is not None
    collection = open_collection(chroma_client(settings), version.collection)
    collection.upsert(
        ids=["orphan-1"],
        embeddings=[[0.1] * 384],
        documents=["orphan"],
        metadatas=[{"doc_id": "ghost.md"}],
    )
    records = IndexRecords(settings.index_db)
    records.delete_documents(version.version, ["costs.md"])  # as if its commit never happened
    records.close()
    summary = ingest(settings)
    assert summary.orphans_repaired >= 1
    assert summary.docs_new == 1  # costs.md is rebuilt
    ids = chroma_ids(settings)
    assert "orphan-1" not in ids
    assert "costs.md" in doc_ids_in_index(settings)


def test_changing_chunk_settings_builds_a_new_version_and_switches(settings: Settings) -> None:
    first = ingest(settings)
    rechunked = settings.model_copy(update={"chunk_tokens": 96})
    second = ingest(rechunked)
    assert second.index_version != first.index_version
    assert second.switched_alias
    assert second.docs_new == 4
    records = IndexRecords(settings.index_db)
    serving = records.alias(settings.collection)
    assert serving is not None
    assert serving.version == second.index_version
    assert serving.completed_at is not None
    chroma_ids(rechunked)


def test_missing_docs_folder_is_a_user_error(tmp_path: Path) -> None:
    from ragwright.errors import InputFileError

    with pytest.raises(InputFileError, match="does not exist"):
        ingest(Settings(docs_dir=tmp_path / "nope"))


@pytest.mark.slow
def test_prefect_flow_run(settings: Settings) -> None:
    """The real Prefect flow (local ephemeral API) runs every stage and returns the summary."""
    result = ingest_flow(settings=flow_settings(settings))
    assert result["docs_new"] == 4
    assert result["failures"] == []
    assert set(result["seconds"]) >= {"load", "chunk", "embed+upsert", "delete-stale"}
    write_docs(settings.docs_dir, {"extra.md": "# Extra\n\nOne more page about budgets.\n"})
    second = ingest_flow(settings=flow_settings(settings))
    assert (second["docs_new"], second["docs_unchanged"]) == (1, 4)


def test_flow_parameters_never_carry_secrets(settings: Settings) -> None:
    secret = settings.model_copy(update={"openai_api_key": "sk-do-not-store"})
    assert "sk-do-not-store" not in json.dumps(flow_settings(secret))
