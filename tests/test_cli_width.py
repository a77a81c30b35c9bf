"""Every command's output at 80 columns (CI logs, a default terminal): key values whole.

At 80 columns, tables once cropped collection names to "collec…", model names to
"local…", dates to "2026-11-22…", and the answer to its first line. Each command
runs as the real CLI with COLUMNS=80; the values a reader copies must appear whole,
and no cell may end in an ellipsis.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragwright.flows.ingest import ingest
from ragwright.prompts.store import PromptStore
from ragwright.rag.records import IndexRecords
from ragwright.settings import Settings, load_settings
from tests.conftest import record_spend, run_cli, write_golden

NARROW = {"COLUMNS": "80"}
LONG_MODEL = "gpt-4o-mini-2024-07-18"


@pytest.fixture
def project(small_docs: Path) -> Settings:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    record_spend(settings.costs_db, 0.0003, model=LONG_MODEL)
    return settings


def narrow(*args: str, cwd: Path, env: dict[str, str] | None = None, fits: bool = True) -> str:
    """stdout at 80 columns; with ``fits``, no line is wider (tables wrap their cells).

    Free text (a template, an answer) is printed as whole lines for the terminal to wrap.
    """
    result = run_cli(*args, cwd=cwd, env={**NARROW, **(env or {})})
    assert result.returncode in (0, 1), result.stderr
    out = result.stdout
    if fits:
        assert all(len(line) <= 80 for line in out.splitlines()), out
    return out


def no_cropped_cells(out: str) -> None:
    assert "…" not in out, out


def test_index_status_at_80_columns(project: Settings) -> None:
    records = IndexRecords(project.index_db)
    try:
        [version] = records.versions()
    finally:
        records.close()
    out = narrow("index", "status", cwd=project.project_root)
    no_cropped_cells(out)
    assert version.collection in out
    assert version.embedding_model in out
    assert version.completed_at is not None
    assert version.completed_at in out


def test_costs_at_80_columns(project: Settings) -> None:
    out = narrow("costs", "report", cwd=project.project_root)
    no_cropped_cells(out)
    assert re.search(rf"^ ?openai/{re.escape(LONG_MODEL)} ", out, re.MULTILINE), out
    assert "0.0003" in out
    out = narrow("costs", "report", "--by", "day", cwd=project.project_root)
    assert datetime.now(UTC).date().isoformat() in out
    budgets = json.dumps([{"name": "assistant-daily", "limit_usd": 0.0005}])
    out = narrow("costs", "check", cwd=project.project_root, env={"RAGWRIGHT_BUDGETS": budgets})
    no_cropped_cells(out)
    assert "assistant-daily" in out
    assert "0.0005" in out


def test_prompts_at_80_columns(project: Settings) -> None:
    store = PromptStore.from_settings(load_settings())
    out = narrow("prompts", "list", cwd=project.project_root)
    no_cropped_cells(out)
    for name in store.names():
        assert re.search(rf"^ ?{name} ", out, re.MULTILINE), out
    [entry, *_] = store.manifest("rag_answer").history
    out = narrow("prompts", "history", "rag_answer", cwd=project.project_root)
    no_cropped_cells(out)
    assert entry.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") in out
    out = narrow("prompts", "show", "rag_answer@v1", cwd=project.project_root, fits=False)
    assert store.get("rag_answer@v1").hash in out


@pytest.mark.slow
def test_ask_and_eval_at_80_columns(project: Settings) -> None:
    question = "How do I roll back the production prompt?"
    full = run_cli("ask", question, "--json", cwd=project.project_root)
    assert full.returncode == 0, full.stderr
    answer = json.loads(full.stdout)["answer"]
    assert len(answer) > 80
    result = run_cli("ask", question, cwd=project.project_root, env=NARROW)
    assert result.returncode == 0, result.stderr
    assert answer in result.stdout  # printed in full, one line, the terminal wraps it
    assert "rollback.md" in result.stdout

    out = narrow("index", "query", "tomatoes sun", "-k", "2", cwd=project.project_root)
    assert "gardening.txt" in out

    golden = write_golden(project.project_root / "set.jsonl")
    out = narrow(
        "eval",
        "run",
        "--prompt",
        "rag_answer@v1",
        "--golden-set",
        str(golden),
        "--no-mlflow",
        cwd=project.project_root,
        fits=False,  # the report paths are whole lines, never split
    )
    no_cropped_cells(out)
    assert "rag_answer@v1" in out
    assert "hallucination rate" in out
