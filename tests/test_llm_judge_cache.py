"""LLM judges and the call cache against a local OpenAI-compatible server, counting requests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from ragwright.evals.golden import load_golden_set
from ragwright.evals.judges.llm import LLMJudge
from ragwright.evals.judges.registry import judge_from_settings
from ragwright.evals.runner import run_evals_blocking
from ragwright.flows.ingest import ingest
from ragwright.prompts.store import PromptStore
from ragwright.providers.guard import override_allow_model_requests
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.rag import RagChain
from ragwright.settings import Settings
from tests.conftest import REPO, write_golden
from tests.openai_server import Completion, Delay, OpenAIServer, openai_server_fixture  # noqa: F401

GROUNDED = {"claims": [{"claim": "x", "supported": True}], "hallucinated": False, "score": 0.0}


def scripted(body: dict[str, Any]) -> str:
    """Answers like a well-behaved model: JSON for judges, a cited answer otherwise."""
    system = body["messages"][0]["content"]
    if "fact checker" in system:
        return json.dumps(GROUNDED)
    if "REFERENCE answer" in system:
        return json.dumps({"verdict": "correct", "reason": "same facts"})
    if "grade whether an ANSWER" in system:
        return json.dumps({"score": 4, "reason": "addresses it"})
    return "The rollback command moves production back. [rollback.md]"


def judge(server: OpenAIServer, samples: int = 1, timeout_s: float = 5.0) -> LLMJudge:
    model = OpenAICompatibleChatModel(
        "gpt-4o-mini", base_url=server.base_url, timeout_s=timeout_s, max_retries=0
    )
    return LLMJudge(model, PromptStore(REPO / "prompts"), samples=samples)


def test_judge_parses_structured_output(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        Completion(
            '```json\n{"claims": [{"claim": "Paris is in Spain",'
            ' "supported": false}], "hallucinated": true,'
            ' "score": 1.0}\n```'
        )
    )
    with override_allow_model_requests(True):
        verdict = asyncio.run(
            judge(openai_server).hallucination("q", "Paris is in Spain.", ["Paris is in France."])
        )
    assert (verdict.outcome, verdict.hallucinated, verdict.score) == ("ok", True, 1.0)
    assert verdict.unsupported_claims == ["Paris is in Spain"]
    body = openai_server.requests[0].body
    assert body is not None
    assert body["response_format"] == {"type": "json_object"}
    assert "Paris is in France." in body["messages"][-1]["content"]


def test_one_repair_then_unparseable(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Completion("I think it is fine."), Completion('{"score": 9}'))
    with override_allow_model_requests(True):
        verdict = asyncio.run(judge(openai_server).relevance("q", "a"))
    assert verdict.outcome == "unparseable"
    assert verdict.score is None
    assert len(openai_server.requests) == 2  # the original and exactly one repair
    repair = openai_server.requests[1].body
    assert repair is not None
    assert repair["messages"][-2] == {"role": "assistant", "content": "I think it is fine."}
    assert "not usable" in repair["messages"][-1]["content"]

    openai_server.enqueue(Completion("not json"), Completion('{"score": 5, "reason": "ok"}'))
    with override_allow_model_requests(True):
        repaired = asyncio.run(judge(openai_server).relevance("q", "a"))
    assert (repaired.outcome, repaired.score) == ("ok", 5)


def test_correctness_judge_uses_its_versioned_prompt(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        Completion('{"verdict": "partially_correct", "reason": "misses the alias"}'),
        Completion('{"verdict": "maybe"}'),
        Completion("still not json"),
    )
    llm = judge(openai_server)
    assert llm.prompt_refs[2].startswith("judge_correctness@v1 sha256:")
    with override_allow_model_requests(True):
        verdict = asyncio.run(
            llm.correctness("Which command?", "Use rollback.", "ragwright prompts rollback NAME")
        )
        broken = asyncio.run(llm.correctness("q", "a", "r"))
    assert (verdict.outcome, verdict.score, verdict.reason) == ("ok", 0.5, "misses the alias")
    body = openai_server.requests[0].body
    assert body is not None
    assert "REFERENCE: ragwright prompts rollback NAME" in body["messages"][-1]["content"]
    assert (broken.outcome, broken.score) == ("unparseable", None)  # one repair, then given up
    assert len(openai_server.requests) == 3


def test_judge_timeout_is_an_error_outcome(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(2.0))
    with override_allow_model_requests(True):
        verdict = asyncio.run(judge(openai_server, timeout_s=0.3).hallucination("q", "a", ["c"]))
    assert verdict.outcome == "error"
    assert verdict.hallucinated is None
    assert "no answer" in verdict.detail


def test_self_consistency_majority(openai_server: OpenAIServer) -> None:
    hallucinated = json.dumps({"claims": [], "hallucinated": True, "score": 0.8})
    openai_server.enqueue(
        Completion(hallucinated), Completion(hallucinated), Completion(json.dumps(GROUNDED))
    )
    with override_allow_model_requests(True):
        verdict = asyncio.run(judge(openai_server, samples=3).hallucination("q", "a", ["c"]))
    assert verdict.hallucinated is True
    assert verdict.score == pytest.approx((0.8 + 0.8 + 0.0) / 3, abs=1e-3)
    samples = [r.body["temperature"] for r in openai_server.requests if r.body]
    assert sorted(samples) == [0.0, 0.7, 0.7]  # extra samples are independent draws


@pytest.fixture
def endpoint_settings(small_docs: Path, openai_server: OpenAIServer) -> Settings:
    openai_server.default = scripted
    settings = Settings(
        docs_dir=small_docs,
        chat_model="gpt-4o-mini",
        judge_model="gpt-4o-mini",
        openai_base_url=openai_server.base_url,
        openai_max_retries=0,
    )
    ingest(settings)
    return settings


def run_once(settings: Settings, golden: Path) -> Any:
    chain = RagChain.from_settings(settings, cached=settings.eval_cache)
    [run] = run_evals_blocking(
        chain,
        load_golden_set(golden),
        judge_from_settings(settings),
        prompts=["rag_answer:production"],
        concurrency=4,
    )
    return run


def test_identical_rerun_makes_zero_model_calls(
    endpoint_settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    golden = write_golden(tmp_path / "set.jsonl")
    with override_allow_model_requests(True):
        first = run_once(endpoint_settings, golden)
        calls = len(openai_server.requests)
        assert calls == 2 * 3  # per case: one answer, two judge calls
        second = run_once(endpoint_settings, golden)
    assert len(openai_server.requests) == calls  # everything came from the cache
    assert [c.answer for c in second.cases] == [c.answer for c in first.cases]
    assert second.summary.hallucination_rate == first.summary.hallucination_rate == 0.0
    assert second.summary.mean_relevance == 4.0
    assert first.judge_prompts[0].startswith("judge_hallucination@v1 sha256:")
    # a changed prompt version is a different request: it misses the cache
    chain = RagChain.from_settings(endpoint_settings, cached=True)
    with override_allow_model_requests(True):
        run_evals_blocking(
            chain,
            load_golden_set(golden),
            judge_from_settings(endpoint_settings),
            prompts=["rag_answer@v2"],
            concurrency=2,
        )
    assert len(openai_server.requests) > calls


def test_cache_hits_are_recorded_as_free_calls(endpoint_settings: Settings, tmp_path: Path) -> None:
    from ragwright.costs.monitor import monitor_for
    from ragwright.costs.store import CostStore

    golden = write_golden(tmp_path / "set.jsonl")
    with override_allow_model_requests(True):
        run_once(endpoint_settings, golden)
        run_once(endpoint_settings, golden)
    monitor_for(endpoint_settings).flush()
    rows = [r for r in CostStore(endpoint_settings.costs_db).rows() if r.operation == "generate"]
    assert len(rows) == 4
    assert sorted(r.cost_usd for r in rows)[:2] == [0.0, 0.0]  # the two cached answers
    assert all((r.cost_usd or 0) > 0 for r in sorted(rows, key=lambda r: r.ts)[:2])


def test_gate_style_runs_share_chain_and_judge_across_loops(
    endpoint_settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    """Baseline then candidate, each on its own loop, with one chain and one judge."""
    golden = load_golden_set(write_golden(tmp_path / "set.jsonl"))
    chain = RagChain.from_settings(endpoint_settings, cached=False)
    llm_judge = judge_from_settings(endpoint_settings)
    with override_allow_model_requests(True):
        runs = [
            run_evals_blocking(chain, golden, llm_judge, prompts=[prompt], concurrency=2)[0]
            for prompt in ("rag_answer@v1", "rag_answer@v2")
        ]
    assert [r.summary.errors for r in runs] == [0, 0]
    assert all(c.relevance == 4 for r in runs for c in r.cases)
    # an answer call per case and run; the candidate's answers are the same text, so
    # their judgements come from the call cache: judge calls for the first run only
    assert len(openai_server.requests) == 2 * len(golden.cases) + 2 * len(golden.cases)


def test_eval_concurrency_bounds_requests_not_cases(
    endpoint_settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    """Each case makes an answer call and then two judge calls at once (six with samples).

    ``concurrency`` promises the endpoint that many requests in flight at most.
    """
    openai_server.delay_s = 0.05
    golden = load_golden_set(write_golden(tmp_path / "set.jsonl"))
    chain = RagChain.from_settings(endpoint_settings, cached=False)
    model = OpenAICompatibleChatModel(
        "gpt-4o-mini", base_url=openai_server.base_url, timeout_s=5, max_retries=0
    )
    three_samples = LLMJudge(model, PromptStore(REPO / "prompts"), samples=3)
    with override_allow_model_requests(True):
        [run] = run_evals_blocking(
            chain, golden, three_samples, prompts=["rag_answer:production"], concurrency=2
        )
    assert run.summary.errors == 0
    assert len(openai_server.requests) == len(golden.cases) * (1 + 2 * 3)
    assert openai_server.peak_in_flight == 2


def test_cached_baseline_and_fresh_candidate_compare_latency_fairly(
    endpoint_settings: Settings, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    """In CI the production run is usually replayed from the cache, the candidate is not."""
    from ragwright.evals.gate import evaluate_gate
    from ragwright.settings import GateSettings

    openai_server.delay_s = 0.15
    golden = load_golden_set(write_golden(tmp_path / "set.jsonl"))

    def run(prompt: str) -> Any:
        chain = RagChain.from_settings(endpoint_settings, cached=True)
        return run_evals_blocking(
            chain, golden, judge_from_settings(endpoint_settings), prompts=[prompt], concurrency=2
        )[0]

    with override_allow_model_requests(True):
        run("rag_answer@v1")
        before = len(openai_server.requests)
        baseline = run("rag_answer@v1")  # every call replayed from the cache
        assert len(openai_server.requests) == before
        candidate = run("rag_answer@v2")  # fresh answers
    assert all(c.latency_ms >= 150 for c in baseline.cases)  # the original call's time
    assert all(c.latency_ms >= 150 for c in candidate.cases)
    decision = evaluate_gate(baseline, candidate, GateSettings(latency_slack_ms=100))
    latency = next(r for r in decision.rules if r.rule.startswith("p95 latency"))
    assert latency.passed, latency.explanation
