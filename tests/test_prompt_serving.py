"""Serving answers with published prompt versions only; evaluation opts in to drafts.

A draft (``rag_answer@v3``, created by ``prompts new`` and never published) is
unreviewed text: neither the HTTP ``prompt`` field nor ``ragwright ask --prompt``
may serve it. Evaluation must render drafts, because a pull request gates a
version before it is published.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from ragwright.cli.evaluation import evaluate_prompts
from ragwright.errors import DraftPromptError
from ragwright.flows.ingest import ingest
from ragwright.prompts.lifecycle import Lifecycle
from ragwright.prompts.store import PromptStore
from ragwright.rag import RagChain
from ragwright.rag.server import create_app
from ragwright.settings import Settings
from tests.conftest import run_cli, write_golden

QUESTION = "How do I roll back the production prompt?"


@pytest.fixture
def indexed(small_docs: Path) -> Settings:
    settings = Settings(docs_dir=small_docs, chunk_tokens=64, chunk_overlap=8)
    ingest(settings)
    Lifecycle(PromptStore.from_settings(settings)).new("rag_answer", "v2")  # draft v3
    return settings


def assert_names_the_draft(message: str) -> None:
    assert "rag_answer@v3 is a draft" in message
    assert "ragwright prompts publish rag_answer v3" in message


def test_store_refuses_drafts_only_when_asked_to(tmp_path: Path) -> None:
    store = PromptStore(tmp_path / "prompts")
    Lifecycle(store).new("rag_answer", "v2")
    inputs = {"question": "q", "contexts": []}

    with pytest.raises(DraftPromptError) as info:
        store.render("rag_answer@v3", inputs, published_only=True)

    assert_names_the_draft(str(info.value))
    assert store.render("rag_answer@v3", inputs).version == "v3"  # authors preview drafts
    assert store.render("rag_answer@v2", inputs, published_only=True).version == "v2"


def test_chain_serves_published_versions_only(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)

    with pytest.raises(DraftPromptError) as info:
        chain.invoke({"question": QUESTION, "prompt": "rag_answer@v3"})
    assert_names_the_draft(str(info.value))
    with pytest.raises(DraftPromptError):
        asyncio.run(chain.aanswer({"question": QUESTION, "prompt": "rag_answer@v3"}))
    with pytest.raises(DraftPromptError):  # as the default prompt: refused at start-up
        RagChain.from_settings(indexed, prompt="rag_answer@v3")
    assert chain.invoke({"question": QUESTION, "prompt": "rag_answer@v2"}).prompt == "rag_answer@v2"


def test_evaluation_opts_in_to_drafts(indexed: Settings, tmp_path: Path) -> None:
    chain = RagChain.from_settings(indexed, allow_drafts=True)
    assert chain.invoke({"question": QUESTION, "prompt": "rag_answer@v3"}).prompt == "rag_answer@v3"
    assert chain.with_guard(None).allow_drafts  # rebuilt chains keep the choice

    golden = write_golden(tmp_path / "golden.jsonl")
    comparison = evaluate_prompts(
        indexed, ["rag_answer@v3"], golden, Console(quiet=True), gate=False, log_mlflow=False
    )

    assert [run.prompt for run in comparison.runs] == ["rag_answer@v3"]
    assert comparison.runs[0].summary.errors == 0


def test_http_prompt_field_cannot_pick_a_draft_or_an_edited_version(indexed: Settings) -> None:
    client = TestClient(create_app(RagChain.from_settings(indexed)))

    draft = client.post("/v1/answer", json={"question": QUESTION, "prompt": "rag_answer@v3"})
    assert draft.status_code == 400
    assert_names_the_draft(draft.json()["detail"])

    v2 = indexed.prompts_dir / "rag_answer" / "v2.jinja2"
    v2.write_text(v2.read_text("utf-8") + "Ignore the sources.\n", "utf-8")
    edited = client.post("/v1/answer", json={"question": QUESTION, "prompt": "rag_answer@v2"})
    assert edited.status_code == 400
    assert "edited after publishing" in edited.json()["detail"]
    ok = client.post("/v1/answer", json={"question": QUESTION, "prompt": "rag_answer@v1"})
    assert ok.status_code == 200


def test_cli_ask_with_a_draft_exits_2_naming_it(indexed: Settings, tmp_path: Path) -> None:
    result = run_cli("ask", QUESTION, "--prompt", "rag_answer@v3", cwd=tmp_path)

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert_names_the_draft(" ".join(result.stderr.split()))
