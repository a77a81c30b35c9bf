"""Judge failures are counted per metric and shown, never folded silently into the scores."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ragwright.cli.evaluation import Comparison, print_runs
from ragwright.evals.golden import load_golden_set
from ragwright.evals.judges.base import HallucinationVerdict, Judge, RelevanceVerdict
from ragwright.evals.judges.registry import judge_from_settings
from ragwright.evals.report import render_html, render_markdown
from ragwright.evals.results import EvalRun
from ragwright.evals.runner import run_evals_blocking
from ragwright.flows.ingest import ingest
from ragwright.providers.guard import override_allow_model_requests
from ragwright.rag import RagChain
from ragwright.settings import Settings
from tests.conftest import write_golden
from tests.openai_server import Error, OpenAIServer, Raw, openai_server_fixture  # noqa: F401

GROUNDED = {"claims": [{"claim": "x", "supported": True}], "hallucinated": False, "score": 0.0}


def judge_relevance_fails(body: dict[str, Any]) -> str | Error | Raw:
    """Answers and hallucination judgements work; every relevance judgement fails."""
    system = body["messages"][0]["content"]
    if "fact checker" in system:
        return json.dumps(GROUNDED)
    if "grade whether an ANSWER" in system:
        return Error(503)
    return "The rollback command moves production back. [rollback.md]"


@pytest.fixture
def settings(small_docs: Path, openai_server: OpenAIServer) -> Settings:
    openai_server.default = judge_relevance_fails
    settings = Settings(
        docs_dir=small_docs,
        chat_model="gpt-4o-mini",
        judge_model="gpt-4o-mini",
        openai_base_url=openai_server.base_url,
        openai_max_retries=0,
        eval_cache=False,
    )
    ingest(settings)
    return settings


def table(run: EvalRun) -> str:
    console = Console(record=True, width=200)
    print_runs(console, Comparison([run], None))
    return console.export_text()


def test_judge_errors_are_counted_per_metric_and_shown(settings: Settings, tmp_path: Path) -> None:
    golden = load_golden_set(write_golden(tmp_path / "set.jsonl"))
    chain = RagChain.from_settings(settings)
    with override_allow_model_requests(True):
        [run] = run_evals_blocking(
            chain, golden, judge_from_settings(settings), prompts=["rag_answer@v1"], concurrency=2
        )
    cases = len(golden.cases)
    assert run.summary.errors == 0  # every answer call worked
    assert run.summary.judge_errors == {"hallucination": 0, "relevance": cases, "correctness": 0}
    assert run.summary.unparseable == 0
    assert all(c.relevance_outcome == "error" and "503" in c.relevance_reason for c in run.cases)
    assert run.summary.mean_relevance == 1.0  # scored as the worst value ...

    text = table(run)  # ... and the table says so
    row = next(line for line in text.splitlines() if line.startswith("│ errors (answer / judge)"))
    assert row.split("│")[2].strip() == f"0 / {cases}"
    assert f"judge errors: relevance {cases}" in text
    assert "count as the worst score" in text
    markdown = render_markdown([run], None)
    assert f"| 0 / {cases} / 0 |" in markdown
    assert "relevance judge error" in render_html([run], None)


class CrashingJudge(Judge):
    """A judge with a bug that only some answers trigger."""

    name = "crashing"
    is_local = True

    async def hallucination(
        self, question: str, answer: str, contexts: Sequence[str]
    ) -> HallucinationVerdict:
        if "tomatoes" in question:
            raise ZeroDivisionError("no contexts to divide by")
        return HallucinationVerdict(False, 0.0)

    async def relevance(self, question: str, answer: str) -> RelevanceVerdict:
        return RelevanceVerdict(5)


def test_crashing_judge_is_an_error_outcome_not_an_abort(small_docs: Path, tmp_path: Path) -> None:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    golden = load_golden_set(write_golden(tmp_path / "set.jsonl"))
    [run] = run_evals_blocking(
        RagChain.from_settings(settings),
        golden,
        CrashingJudge(),
        prompts=["rag_answer@v1"],
        concurrency=2,
    )
    assert len(run.cases) == len(golden.cases)
    [crashed] = [c for c in run.cases if c.hallucination_outcome == "error"]
    assert "tomatoes" in crashed.question
    assert crashed.hallucination_detail == "ZeroDivisionError: no contexts to divide by"
    assert run.summary.judge_errors["hallucination"] == 1
    assert run.summary.hallucination_rate == 0.5  # the crashed case counts as hallucinated
    assert "judge errors: hallucination 1" in table(run)


def test_runs_logged_before_judge_errors_were_counted_still_load() -> None:
    """run.json artifacts in MLflow written by older versions have no judge_errors."""
    from ragwright.evals.results import RunSummary

    old = {
        "cases": 1, "errors": 0, "unparseable": 0, "hallucination_rate": 0.0,
        "mean_relevance": 5.0, "recall_at_k": None, "mrr": None, "answered_rate": 1.0,
        "abstention_rate": None, "p50_latency_ms": 1.0, "p95_latency_ms": 1.0,
        "total_tokens": 1, "tokens_estimated": False, "cost_usd": 0.0,
    }  # fmt: skip
    assert RunSummary.model_validate(old).judge_error_count == 0


def test_failure_texts_never_carry_a_secret_into_reports() -> None:
    """A provider that echoes the Authorization header put it into the HTML report."""
    from ragwright.evals.results import CaseResult

    case = CaseResult(
        case_id="a",
        question="q",
        tags=[],
        answerable=True,
        error="ProviderHTTPError: HTTP 401: bad header Authorization: Bearer sk-live-abcdef123456",
        hallucination_detail="judge said Basic dXNlcjpwYXNz",
    )
    assert "sk-live-abcdef123456" not in case.model_dump_json()
    assert "dXNlcjpwYXNz" not in case.model_dump_json()
    assert "HTTP 401" in (case.error or "")
