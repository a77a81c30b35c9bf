"""Golden sets, eval runs and the statistical gate, with the real chain and local judge."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ragwright.errors import GoldenSetError
from ragwright.evals.calibration_record import cited_calibration
from ragwright.evals.gate import evaluate_gate, paired_bootstrap_ci
from ragwright.evals.golden import load_golden_set
from ragwright.evals.judges.local import LocalJudge
from ragwright.evals.results import EvalRun
from ragwright.evals.runner import run_evals_blocking
from ragwright.flows.ingest import ingest
from ragwright.prompts.files import content_hash, read_manifest, write_manifest
from ragwright.prompts.model import VersionRecord
from ragwright.providers.base import ChatRequest
from ragwright.providers.function import FunctionChatModel
from ragwright.providers.registry import embedder_from_settings
from ragwright.rag import RagChain
from ragwright.settings import Settings
from tests.conftest import REPO

CASES = [
    {
        "id": "c1",
        "question": "How do I roll back the production prompt?",
        "reference_answer": "Use ragwright prompts rollback.",
        "expected_sources": ["rollback.md"],
        "tags": ["prompts"],
    },
    {
        "id": "c2",
        "question": "Which variable switches Chroma to a server?",
        "expected_sources": ["chroma.md"],
        "tags": ["index"],
    },
    {
        "id": "c3",
        "question": "What cost is recorded for a model with no known price?",
        "expected_sources": ["costs.md"],
        "tags": ["costs"],
    },
    {
        "id": "c4",
        "question": "How many hours of sun do tomatoes need?",
        "expected_sources": ["gardening.txt"],
        "tags": ["garden"],
    },
    {
        "id": "c5",
        "question": "Where is every promotion and rollback written?",
        "expected_sources": ["rollback.md"],
        "tags": ["prompts"],
    },
    {
        "id": "c6",
        "question": "Which Java SDK version does ragwright ship?",
        "tags": ["unanswerable"],
    },
]

IGNORES_CONTEXT = """---
description: A broken candidate that forgets to show the retrieved sources.
model: local/extractive
variables:
  question: {type: str, required: true}
  contexts: {type: list, required: true}
parameters: {temperature: 0, max_tokens: 300}
---
{% block system %}Answer from your own knowledge.{% endblock %}
{% block user %}<question>{{ question }}</question>{% endblock %}
"""


def write_golden(path: Path, cases: list[dict[str, object]] = CASES) -> Path:
    path.write_text("\n".join(json.dumps(c) for c in cases) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A copy of the built-in store plus v3 (ignores context) and v4 (byte copy of v1)."""
    root = tmp_path / "prompts"
    # the test's project already holds a copy of rag_answer (conftest.isolated_home)
    folder = root / "rag_answer"
    (folder / "v3.jinja2").write_text(IGNORES_CONTEXT, encoding="utf-8")
    shutil.copyfile(folder / "v1.jinja2", folder / "v4.jinja2")
    manifest = read_manifest(folder / "prompt.yaml")
    for version in ("v3", "v4"):
        manifest.versions[version] = VersionRecord(
            hash=content_hash((folder / f"{version}.jinja2").read_bytes()),
            published_at=datetime.now(UTC),
        )
    write_manifest(folder / "prompt.yaml", manifest)
    return root


@pytest.fixture
def settings(small_docs: Path, store: Path) -> Settings:
    settings = Settings(docs_dir=small_docs, prompts_dir=store, chunk_tokens=64, chunk_overlap=8)
    ingest(settings)
    return settings


def evaluate(
    settings: Settings, prompt: str, golden: Path, chain: RagChain | None = None
) -> EvalRun:
    chain = chain or RagChain.from_settings(settings)
    judge = LocalJudge(embedder_from_settings(settings))
    [run] = run_evals_blocking(
        chain, load_golden_set(golden), judge, prompts=[prompt], concurrency=4
    )
    # as ragwright.evals.evaluate does: the local judge cites its shipped record
    run.calibration, run.judge_balanced_accuracy = cited_calibration(settings, run.judge)
    return run


def test_run_scores_every_case(settings: Settings, tmp_path: Path) -> None:
    golden = write_golden(tmp_path / "set.jsonl")
    run = evaluate(settings, "rag_answer:production", golden)
    assert run.prompt == "rag_answer@v1"
    assert [c.case_id for c in run.cases] == [c["id"] for c in CASES]
    s = run.summary
    assert s.cases == 6
    assert s.errors == 0
    assert s.recall_at_k == 1.0
    assert s.mrr is not None
    assert s.mrr > 0.8
    assert s.hallucination_rate == 0.0  # extractive answers quote the context
    assert s.mean_relevance >= 3.0
    assert s.abstention_rate == 1.0  # the Java SDK question is declined
    assert s.cost_usd == 0.0
    assert s.tokens_estimated
    assert run.golden_set_hash == load_golden_set(golden).hash


def test_unchanged_copy_passes_the_gate(settings: Settings, tmp_path: Path) -> None:
    golden = write_golden(tmp_path / "set.jsonl")
    chain = RagChain.from_settings(settings)
    baseline = evaluate(settings, "rag_answer@v1", golden, chain)
    copy = evaluate(settings, "rag_answer@v4", golden, chain)
    gate = evaluate_gate(baseline, copy, settings.gate)
    assert gate.passed, [r for r in gate.rules if not r.passed]
    assert gate.regressions == []


def test_context_ignoring_prompt_fails_the_gate(settings: Settings, tmp_path: Path) -> None:
    golden = write_golden(tmp_path / "set.jsonl")
    chain = RagChain.from_settings(settings)
    baseline = evaluate(settings, "rag_answer@v1", golden, chain)
    broken = evaluate(settings, "rag_answer@v3", golden, chain)
    assert broken.summary.answered_rate == 0.0
    gate = evaluate_gate(baseline, broken, settings.gate)
    assert not gate.passed
    failed = {r.rule for r in gate.rules if not r.passed}
    assert "mean relevance >= floor" in failed
    assert any(r.startswith("relevance: no drop") for r in failed)
    assert {r.case_id for r in gate.regressions} >= {"c1", "c2", "c3", "c4"}


def test_hallucinating_model_is_caught(settings: Settings, tmp_path: Path) -> None:
    golden = write_golden(tmp_path / "set.jsonl")

    def invent(request: ChatRequest) -> str:
        return (
            "The rollback deletes the Kubernetes cluster in 42 seconds."
            " Basil costs 17 dollars per ounce in Paris."
        )

    baseline = evaluate(settings, "rag_answer@v1", golden)
    liar = evaluate(
        settings,
        "rag_answer@v1",
        golden,
        RagChain.from_settings(settings, chat_model=FunctionChatModel(invent)),
    )
    assert liar.summary.hallucination_rate == 1.0
    assert all(c.unsupported_claims for c in liar.cases)
    gate = evaluate_gate(baseline, liar, settings.gate)
    assert not gate.passed
    assert not next(r for r in gate.rules if r.rule.startswith("hallucination:")).passed


REFERENCES = {
    "c1": "Use ragwright prompts rollback.",
    "c2": "Set RAGWRIGHT_CHROMA_URL to use a Chroma server.",
    "c3": "A null cost and a warning, never a silent zero.",
    "c4": "Six hours of sun a day.",
    "c5": "In prompt.yaml, with the user and the time.",
}


def test_answer_correctness_against_references(settings: Settings, tmp_path: Path) -> None:
    """Fluent, grounded, on-topic, and wrong: only the reference answers catch it."""
    cases = [{**c, "reference_answer": REFERENCES.get(str(c["id"]))} for c in CASES]
    golden = write_golden(tmp_path / "set.jsonl", [c for c in cases if c["reference_answer"]])

    def off_by_one(request: ChatRequest) -> str:
        # quotes a real sentence of the documents, the one next to the right one
        prompt = request.messages[-1].content
        if "tomatoes" in prompt.split("<question>")[1].lower():
            return "Basil grows well next to tomatoes and keeps some pests away. [gardening.txt]"
        return "Without it, Chroma runs embedded under the .ragwright folder. [chroma.md]"

    baseline = evaluate(settings, "rag_answer@v1", golden)
    assert all(c.correctness_outcome == "ok" for c in baseline.cases)
    assert baseline.summary.mean_correctness is not None
    assert baseline.summary.mean_correctness >= 0.6
    sun = next(c for c in baseline.cases if c.case_id == "c4")
    assert sun.correctness == 1.0  # "six hours of sun a day" is in the extractive answer
    wrong = evaluate(
        settings,
        "rag_answer@v1",
        golden,
        RagChain.from_settings(settings, chat_model=FunctionChatModel(off_by_one)),
    )
    assert wrong.summary.mean_correctness is not None
    assert wrong.summary.mean_correctness < baseline.summary.mean_correctness - 0.3
    gate = evaluate_gate(baseline, wrong, settings.gate)
    rule = next(r for r in gate.rules if r.rule.startswith("answer correctness"))
    assert not rule.passed
    assert "correctness" in {r.metric for r in gate.regressions}
    # no reference answers: no correctness, no rule
    plain = evaluate(settings, "rag_answer@v1", write_golden(tmp_path / "plain.jsonl", CASES[1:]))
    assert plain.summary.mean_correctness is None
    assert all(c.correctness is None and c.correctness_outcome is None for c in plain.cases)
    assert not any(
        r.rule.startswith("answer correctness")
        for r in evaluate_gate(plain, plain, settings.gate).rules
    )


def test_compared_versions_run_interleaved(settings: Settings, tmp_path: Path) -> None:
    """Each case runs both versions back to back, the first one alternating."""
    golden = load_golden_set(write_golden(tmp_path / "set.jsonl"))
    model = FunctionChatModel(lambda request: "I cannot answer from the provided documents.")
    chain = RagChain.from_settings(settings, chat_model=model)
    finished: list[tuple[int, int]] = []
    runs = run_evals_blocking(
        chain,
        golden,
        LocalJudge(embedder_from_settings(settings)),
        prompts=["rag_answer@v1", "rag_answer@v4"],
        concurrency=1,  # two cases open at once
        progress=lambda index, n: finished.append((index, n)),
    )
    assert [r.prompt for r in runs] == ["rag_answer@v1", "rag_answer@v4"]
    assert runs[0].run_id != runs[1].run_id
    assert [c.case_id for c in runs[0].cases] == [c.case_id for c in runs[1].cases]
    first_of: dict[str, str | None] = {}  # question -> the version that answered it first
    for call in model.calls:
        question = call.messages[-1].content.split("<question>")[1]
        first_of.setdefault(question, call.prompt)
    assert sorted(first_of.values()).count("rag_answer@v1") == len(golden.cases) // 2
    assert sorted(finished) == [(0, 1)] * len(golden.cases) + [(1, 1)] * len(golden.cases)


def test_provider_failure_becomes_an_error_case(settings: Settings, tmp_path: Path) -> None:
    from ragwright.errors import ProviderTimeoutError

    golden = write_golden(tmp_path / "set.jsonl", CASES[:3])

    def flaky(request: ChatRequest) -> str:
        if "Chroma" in request.messages[-1].content.split("<question>")[1]:
            raise ProviderTimeoutError("no answer", provider="function", model="f")
        return "I cannot answer from the provided documents."

    run = evaluate(
        settings,
        "rag_answer@v1",
        golden,
        RagChain.from_settings(settings, chat_model=FunctionChatModel(flaky)),
    )
    errors = [c for c in run.cases if c.error]
    assert [c.case_id for c in errors] == ["c2"]
    assert run.summary.errors == 1
    assert len(run.cases) == 3
    assert "ProviderTimeoutError" in (errors[0].error or "")
    assert not np.isnan(run.summary.hallucination_rate)


def test_bootstrap_interval() -> None:
    zeros = np.zeros(50)
    assert paired_bootstrap_ci(zeros, samples=500, confidence=0.95, seed=1) == (0.0, 0.0)
    diffs = np.array([-1.0] * 30 + [0.0] * 70)
    low, high = paired_bootstrap_ci(diffs, samples=2000, confidence=0.95, seed=1)
    assert low < -0.3 < high < -0.2
    assert (low, high) == paired_bootstrap_ci(diffs, samples=2000, confidence=0.95, seed=1)


@pytest.mark.parametrize(
    ("line", "match", "field"),
    [
        ("{not json", "not valid JSON", None),
        ('{"id": "x"}', "required field is missing", "question"),
        ('{"id": "x", "question": "   "}', "must not be blank", "question"),
        ('{"id": "x", "question": "q", "colour": "red"}', "Extra inputs", "colour"),
        ('["a list"]', "JSON object", None),
    ],
)
def test_broken_golden_set_names_file_line_field(
    tmp_path: Path, line: str, match: str, field: str | None
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(CASES[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(GoldenSetError, match=match) as info:
        load_golden_set(path)
    assert info.value.line == 2
    assert info.value.field == field
    assert str(path) in str(info.value)


def test_duplicate_case_ids_rejected(tmp_path: Path) -> None:
    path = write_golden(tmp_path / "dup.jsonl", [CASES[0], CASES[0]])
    with pytest.raises(GoldenSetError, match="duplicate case id"):
        load_golden_set(path)


def test_shipped_golden_set_is_valid() -> None:
    golden = load_golden_set(REPO / "golden_sets" / "ragwright_docs.jsonl")
    assert len(golden.cases) >= 40
    unanswerable = [c for c in golden.cases if not c.answerable]
    assert len(unanswerable) >= 5
    docs = {p.name for p in (REPO / "docs").glob("*.md")}
    for case in golden.cases:
        assert set(case.expected_sources) <= docs, case.id
