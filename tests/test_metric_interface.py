"""The built-in metrics are Metric objects whose scores live in ``CaseResult.scores``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ragwright.evals.builtin_metrics import builtin_metrics
from ragwright.evals.gate import evaluate_gate
from ragwright.evals.golden import GoldenCase
from ragwright.evals.judges.base import HallucinationVerdict, Judge, RelevanceVerdict
from ragwright.evals.results import BUILTIN_INFOS, CaseResult, EvalRun, summarize
from ragwright.evals.scoring import Answer, Metric, Score, score_safely
from ragwright.settings import GateSettings


class BrokenJudge(Judge):
    """A judge whose model failed to load: every call raises."""

    name = "broken"

    async def hallucination(
        self, question: str, answer: str, contexts: Any
    ) -> HallucinationVerdict:
        raise RuntimeError("judge model missing")

    async def relevance(self, question: str, answer: str) -> RelevanceVerdict:
        return RelevanceVerdict(None, "no JSON in reply", outcome="unparseable")


def test_every_builtin_is_a_metric_with_a_recorded_info() -> None:
    metrics = builtin_metrics(BrokenJudge(), top_k=3)
    assert all(isinstance(m, Metric) for m in metrics)
    assert [m.name for m in metrics] == list(BUILTIN_INFOS)
    for metric in metrics:
        info = BUILTIN_INFOS[metric.name]
        assert (info.higher_is_better, info.value_range) == (
            metric.higher_is_better,
            metric.value_range,
        )


def test_retrieval_abstention_cost_and_latency_scores() -> None:
    by_name = {m.name: m for m in builtin_metrics(BrokenJudge(), top_k=2)}
    case = GoldenCase(id="a", question="q?", expected_sources=["x.md"], tags=["unanswerable"])
    answer = Answer(
        "I cannot answer that from the documentation.",
        answered=False,
        sources=["y.md", "x.md", "z.md"],
        latency_ms=120.5,
        cost_usd=None,
    )

    def score(name: str) -> Score:
        return asyncio.run(by_name[name].score(case, answer))

    assert score("recall_at_k").value == 1.0  # x.md is in the first two
    assert score("mrr").value == 0.5
    assert by_name["abstention"].applies(case) is not case.answerable
    assert score("abstention").value == 1.0  # declined
    assert score("cost").value is None  # unpriced: not applicable, not free
    assert score("latency").value == 120.5
    assert not by_name["correctness"].applies(case)  # no reference answer
    crashed = asyncio.run(score_safely(by_name["hallucination"], case, answer))
    assert (crashed.value, crashed.outcome) == (None, "error")
    assert "judge model missing" in crashed.reason
    assert score("relevance") == Score(value=None, outcome="unparseable", reason="no JSON in reply")


def _old_case(i: int, hallucinated: bool, error: bool = False) -> dict[str, Any]:
    """A case as run.json stored it before the built-ins moved into ``scores``."""
    if error:
        return {
            "case_id": f"c{i}", "question": "q", "tags": [], "answerable": True,
            "error": "ProviderHTTPError: HTTP 500", "hallucination_outcome": "error",
            "relevance_outcome": "error", "correctness_outcome": None,
        }  # fmt: skip
    return {
        "case_id": f"c{i}", "question": "q", "tags": [], "answerable": True,
        "answer": "a", "answered": True, "recall_at_k": 1.0, "reciprocal_rank": 0.5,
        "hallucinated": hallucinated, "hallucination_score": 0.9 if hallucinated else 0.1,
        "unsupported_claims": ["made up"] if hallucinated else [],
        "hallucination_outcome": "ok", "relevance": 5, "relevance_outcome": "ok",
        "latency_ms": 100.0, "cost_usd": 0.001,
        "scores": {"tone": {"value": 1.0, "outcome": "ok", "reason": ""}},
    }  # fmt: skip


def _old_run(prompt: str, hallucinated: list[bool]) -> str:
    cases = [_old_case(i, h) for i, h in enumerate(hallucinated)] + [_old_case(99, False, True)]
    now = datetime.now(UTC).isoformat()
    record = {
        "run_id": prompt, "started_at": now, "finished_at": now, "prompt": prompt,
        "prompt_hash": f"sha256:{prompt}", "golden_set": "g", "golden_set_hash": "sha256:g",
        "chat_model": "openai/m", "chat_model_local": False, "judge": "local/judge",
        "judge_local": True, "judge_balanced_accuracy": 0.9, "index_version": "v", "top_k": 3,
        "metrics": [{"name": "tone", "kind": "python", "floor": 0.9}],
        "cases": cases,
        "summary": {
            "cases": len(cases), "errors": 1, "unparseable": 0, "hallucination_rate": 0.0,
            "mean_relevance": 5.0, "recall_at_k": 1.0, "mrr": 0.5, "answered_rate": 1.0,
            "abstention_rate": None, "p50_latency_ms": 100.0, "p95_latency_ms": 100.0,
            "total_tokens": 0, "tokens_estimated": False, "cost_usd": 0.02,
            "metrics": {"tone": {"mean": 0.95, "scored": 20, "errors": 0, "unparseable": 0}},
        },
    }  # fmt: skip
    return json.dumps(record)


def test_runs_stored_with_flat_fields_read_and_gate_as_new_ones() -> None:
    """`eval compare` re-gates MLflow runs logged before the built-ins were metrics."""
    base = EvalRun.model_validate_json(_old_run("p@v1", [False] * 20))
    cand = EvalRun.model_validate_json(_old_run("p@v2", [True] * 10 + [False] * 10))
    case = cand.cases[0]
    assert case.scores["hallucination"] == Score(value=1.0, raw=0.9, evidence=["made up"])
    assert (case.hallucinated, case.unsupported_claims, case.relevance) == (True, ["made up"], 5)
    assert case.scores["mrr"].value == 0.5
    failed = cand.cases[-1]
    assert failed.scores["hallucination"].outcome == "error"
    assert failed.scores["tone"].outcome == "error"  # old failed cases count as the worst
    assert [m.name for m in cand.metrics] == [*BUILTIN_INFOS, "tone"]
    assert cand.summary.metrics["hallucination"].mean == pytest.approx(11 / 21)
    gate = evaluate_gate(base, cand, GateSettings())
    by_id = {r.id: r for r in gate.rules}
    assert not by_id["metric:hallucination:margin"].passed
    assert by_id["metric:tone:floor"].candidate == 0.95  # the mean the run was logged with
    assert by_id["metric:relevance:margin"].passed
    assert gate.verdict == "fail"
    # a run written now round-trips unchanged
    again = EvalRun.model_validate_json(cand.model_dump_json())
    assert again.cases == cand.cases
    assert again.summary == cand.summary


def test_new_cases_store_scores_only() -> None:
    case = CaseResult(
        case_id="a",
        question="q",
        tags=[],
        answerable=True,
        scores={"hallucination": Score(value=0.0), "relevance": Score(value=4.0)},
        latency_ms=50.0,
    )
    dumped = case.model_dump()
    assert "hallucinated" not in dumped
    assert "relevance_outcome" not in dumped
    assert dumped["scores"]["latency"]["value"] == 50.0
    assert summarize([case]).mean_relevance == 4.0
