"""``index run`` on an unchanged corpus answers without Prefect; any real change runs the flow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ragwright.flows.fastpath import unchanged_summary
from ragwright.flows.ingest import ingest
from ragwright.rag.records import IndexRecords
from ragwright.settings import Settings
from tests.conftest import run_cli, write_docs


@pytest.fixture
def indexed(small_docs: Path) -> Settings:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    return settings


def test_unchanged_corpus_is_a_no_op(indexed: Settings) -> None:
    summary = unchanged_summary(indexed, indexed.docs_dir)
    assert summary is not None
    assert summary.docs_seen == summary.docs_unchanged == 4
    assert summary.docs_new == summary.docs_changed == summary.docs_removed == 0


def test_nothing_indexed_yet_runs_the_flow(small_docs: Path) -> None:
    assert unchanged_summary(Settings(docs_dir=small_docs), small_docs) is None


def test_a_changed_document_runs_the_flow(indexed: Settings) -> None:
    (indexed.docs_dir / "costs.md").write_text("# Costs\n\nNow priced per call.\n")
    assert unchanged_summary(indexed, indexed.docs_dir) is None


def test_a_new_document_runs_the_flow(indexed: Settings) -> None:
    write_docs(indexed.docs_dir, {"new.md": "# New\n\nA new page."})
    assert unchanged_summary(indexed, indexed.docs_dir) is None


def test_a_removed_document_runs_the_flow(indexed: Settings) -> None:
    (indexed.docs_dir / "gardening.txt").unlink()
    assert unchanged_summary(indexed, indexed.docs_dir) is None


def test_a_chunking_change_runs_the_flow(indexed: Settings) -> None:
    changed = indexed.model_copy(update={"chunk_tokens": indexed.chunk_tokens // 2})
    assert unchanged_summary(changed, indexed.docs_dir) is None


def test_a_run_that_never_finished_runs_the_flow(indexed: Settings) -> None:
    records = IndexRecords(indexed.index_db)
    try:
        records.start_run(records.versions()[0].version)  # as a SIGKILLed run leaves it
    finally:
        records.close()
    assert unchanged_summary(indexed, indexed.docs_dir) is None


NO_PREFECT = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('heavy:', sorted(m for m in ('prefect', 'chromadb', 'torch')"
    " if m in sys.modules)))\n"
    "sys.argv = ['ragwright', *sys.argv[1:]]\n"
    "from ragwright.cli.app import main\n"
    "main()\n"
)


def test_cli_no_op_skips_prefect_and_a_change_runs_the_flow(indexed: Settings) -> None:
    cwd = indexed.docs_dir.parent
    done = subprocess.run(
        [sys.executable, "-c", NO_PREFECT, "index", "run"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "nothing to do: 4 document(s) unchanged" in done.stdout
    assert "heavy: []" in done.stdout

    (indexed.docs_dir / "costs.md").write_text("# Costs\n\nNow priced per call.\n")
    flowed = run_cli("index", "run", "--json", cwd=cwd)
    assert flowed.returncode == 0, flowed.stderr
    summary = json.loads(flowed.stdout)
    assert summary["docs_changed"] == 1
    assert summary["docs_unchanged"] == 3


def test_docs_elsewhere_needs_replace(indexed: Settings, tmp_path: Path) -> None:
    other = write_docs(tmp_path / "other", {"a.md": "# A\n\nText."})
    result = run_cli("index", "run", "--docs", str(other), cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--replace" in line
    assert str(other) in line


def test_missing_docs_folder_is_one_line(tmp_path: Path) -> None:
    result = run_cli("index", "run", "--docs", str(tmp_path / "nope"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'nope'}: documents folder does not exist"
    ]


def test_summary_counts_add_up() -> None:
    from ragwright.cli.index_output import summary_rows

    summary = {
        "files_seen": 7,
        "docs_seen": 6,
        "docs_new": 6,
        "docs_failed": 1,
        "chunks_added": 12,
    }
    rows = dict(summary_rows(summary))
    assert rows["documents loaded"] == "6 = 6 new + 0 changed + 0 unchanged"
    assert rows["skipped"].startswith("1 ")
    assert rows["chunks"].startswith("12 embedded")
