"""The production loop: online scores, reports, thresholds, golden cases and labels from traces."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragwright.evals.calibration import load_labels
from ragwright.evals.golden import load_golden_set
from ragwright.evals.online import OnlineEvaluator, in_sample, local_judge
from ragwright.evals.trace_export import golden_case, label_row, write_jsonl
from ragwright.flows.ingest import ingest
from ragwright.rag import RagChain
from ragwright.settings import MonitorSettings, Settings
from ragwright.traces import TraceRecorder
from ragwright.traces.check import check, retrieval_drop
from ragwright.traces.report import report
from ragwright.traces.store import TraceFilter
from tests.conftest import run_cli, write_docs

QUESTIONS = [
    "How do I roll back a prompt?",
    "How does Chroma run without a server?",
    "What does a model with no known price cost?",
    "How much sun do tomatoes need?",
]


@pytest.fixture(scope="module")
def judge() -> object:
    return local_judge(Settings())


@pytest.fixture
def chain(small_docs: Path, tmp_path: Path) -> Iterator[RagChain]:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    chain = RagChain.from_settings(settings)
    chain.tracer = TraceRecorder(tmp_path / "traces.db", flush_interval_s=0.05)
    for question in QUESTIONS:
        chain.invoke({"question": question})
    chain.tracer.flush()
    yield chain
    chain.tracer.close()


def test_scores_land_on_traces_and_a_crash_loses_none(chain: RagChain, judge: object) -> None:
    assert chain.tracer is not None
    store = chain.tracer.store
    first = OnlineEvaluator(store, judge, batch=1)  # type: ignore[arg-type]
    assert first.run_once() == 1  # ... and the worker dies here
    assert len(store.unscored()) == len(QUESTIONS) - 1
    restarted = OnlineEvaluator(store, judge)  # type: ignore[arg-type]
    assert restarted.run_until_idle() == len(QUESTIONS) - 1
    rows = store.select()
    assert {r["eval_status"] for r in rows} == {"scored"}
    for row in rows:
        assert 0 <= row["hallucination"] <= 1
        assert 1 <= row["relevance"] <= 5
        assert row["judge"] == "local/judge"
    tomatoes = next(r for r in rows if "tomatoes" in r["question"])
    assert tomatoes["hallucinated"] == 0  # answered from gardening.txt, word for word


def test_background_worker_scores_without_being_asked(chain: RagChain, judge: object) -> None:
    assert chain.tracer is not None
    worker = OnlineEvaluator(chain.tracer.store, judge, interval_s=0.05)  # type: ignore[arg-type]
    worker.start()
    try:
        chain.invoke({"question": "What is recorded for every model call?"})
        chain.tracer.flush()
        for _ in range(200):
            if not chain.tracer.store.unscored():
                break
            worker._stop.wait(0.05)
    finally:
        worker.stop(5)
    assert not chain.tracer.store.unscored()
    assert worker.scored == len(QUESTIONS) + 1


def test_sampling_is_a_stable_share() -> None:
    ids = [f"{n:032x}" for n in range(2000)]
    chosen = [i for i in ids if in_sample(i, 0.25)]
    assert 400 < len(chosen) < 600
    assert chosen == [i for i in ids if in_sample(i, 0.25)]
    assert all(in_sample(i, 1.0) for i in ids[:10])


def test_report_and_thresholds(chain: RagChain, judge: object) -> None:
    assert chain.tracer is not None
    store = chain.tracer.store
    OnlineEvaluator(store, judge).run_until_idle()  # type: ignore[arg-type]
    rows = store.select()
    chain.feedback(rows[0]["request_id"], -1)
    chain.feedback(rows[1]["request_id"], 1)
    result = report(store.select(), by="prompt")
    overall = result["overall"]
    assert overall["traces"] == len(QUESTIONS)
    assert overall["negative_feedback_rate"] == 0.5
    assert overall["scored"] == len(QUESTIONS)
    assert overall["p50_latency_ms"] <= overall["p95_latency_ms"]
    assert [g["key"] for g in result["groups"]] == ["rag_answer@v1"]
    crossed = check(store.select(), MonitorSettings(max_negative_feedback_rate=0.4))
    assert [(f.name, f.crossed) for f in crossed] == [("negative_feedback_rate", True)]
    fine = check(store.select(), MonitorSettings(max_negative_feedback_rate=0.6))
    assert not fine[0].crossed


def test_a_retrieval_drop_after_reindex_is_measured() -> None:
    rows = [
        {"index_version": "a", "ts": "2026-01-01T00:00", "top_score": 0.8},
        {"index_version": "a", "ts": "2026-01-01T01:00", "top_score": 0.6},
        {"index_version": "b", "ts": "2026-01-02T00:00", "top_score": 0.4},
    ]
    assert retrieval_drop(rows) == pytest.approx(0.3)
    found = check(rows, MonitorSettings(max_retrieval_score_drop=0.2))
    assert found[0].crossed


def test_traces_become_golden_cases_and_labels(chain: RagChain, tmp_path: Path) -> None:
    assert chain.tracer is not None
    store = chain.tracer.store
    rows = store.select(TraceFilter(prompt="rag_answer"))
    assert len(rows) == len(QUESTIONS)
    golden = tmp_path / "from_traces.jsonl"
    write_jsonl(golden, (golden_case(r) for r in rows))
    cases = load_golden_set(golden).cases
    assert {c.question for c in cases} == set(QUESTIONS)
    answered = next(c for c in cases if "roll back" in c.question)
    assert answered.reference_answer
    assert answered.expected_sources == ["rollback.md"]
    assert answered.metadata["contexts"][0]["text"]
    store.label(rows[0]["request_id"], supported=False, correct=False)
    store.label(rows[1]["request_id"], supported=True, correct=True)
    labels = tmp_path / "labels.jsonl"
    assert write_jsonl(labels, (x for r in store.select() if (x := label_row(r)))) == 2
    parsed = load_labels(labels).examples
    assert sorted(e.hallucinated for e in parsed) == [False, True]


@pytest.mark.slow
def test_the_loop_from_the_command_line(tmp_path: Path) -> None:
    write_docs(tmp_path / "docs")
    assert run_cli("index", "run", cwd=tmp_path).returncode == 0
    for question in QUESTIONS[:2]:
        result = run_cli("ask", question, "--json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    request_id = json.loads(result.stdout)["request_id"]
    evaluated = run_cli("monitor", "evaluate", cwd=tmp_path)
    assert "2 traces handled, 2 scored" in evaluated.stdout, evaluated.stderr
    listed = run_cli("traces", "list", cwd=tmp_path)
    assert request_id in listed.stdout
    shown = run_cli("traces", "show", request_id, cwd=tmp_path)
    assert json.loads(shown.stdout)["eval_status"] == "scored"
    assert run_cli("traces", "show", "nope", cwd=tmp_path).returncode == 2
    bad = run_cli("traces", "list", "--since", "yesterday", cwd=tmp_path)
    assert bad.returncode == 2
    assert "--since" in bad.stderr
    report_json = run_cli("monitor", "report", "--by", "index", "--json", cwd=tmp_path)
    assert json.loads(report_json.stdout)["overall"]["scored"] == 2
    golden = tmp_path / "golden_from_traces.jsonl"
    exported = run_cli("traces", "export", "--to-golden", str(golden), cwd=tmp_path)
    assert "2 golden cases" in exported.stdout
    evaluated_set = run_cli("eval", "run", "--golden-set", str(golden), "--no-mlflow", cwd=tmp_path)
    assert evaluated_set.returncode == 0, evaluated_set.stderr
    (tmp_path / "ragwright.toml").write_text(
        "[monitor]\nmax_p95_latency_ms = 0.001\n", encoding="utf-8"
    )
    assert run_cli("monitor", "check", cwd=tmp_path).returncode == 1


def test_the_demo_step_scores_its_questions_and_writes_a_golden_case(small_docs: Path) -> None:
    from io import StringIO

    from rich.console import Console

    from ragwright.cli.demo_traces import show_production_loop
    from ragwright.traces.recorder import recorder_for

    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    chain = RagChain.from_settings(settings)
    assert chain.tracer is recorder_for(settings)
    chain.invoke({"question": QUESTIONS[0]})
    chain.invoke({"question": "not one of the demo's questions"})
    out = StringIO()
    path = show_production_loop(settings, Console(file=out, width=200), QUESTIONS[:1])
    assert path is not None
    case = load_golden_set(path).cases[0]
    assert case.question == QUESTIONS[0]
    scored = [t for t in chain.tracer.store.select() if t["eval_status"] == "scored"]
    assert [t["question"] for t in scored] == [QUESTIONS[0]]
    assert "one trace as a golden case" in out.getvalue()
    chain.tracer.close()


def test_the_report_goes_to_mlflow(chain: RagChain, judge: object) -> None:
    import mlflow
    from typer.testing import CliRunner

    from ragwright.cli.app import app

    assert chain.tracer is not None
    OnlineEvaluator(chain.tracer.store, judge).run_until_idle()  # type: ignore[arg-type]
    settings = Settings(traces_url=f"sqlite:///{chain.tracer.target}")
    result = CliRunner().invoke(
        app,
        ["monitor", "export-mlflow", "--by", "prompt"],
        env={"RAGWRIGHT_TRACES_URL": settings.traces_url},
    )
    assert result.exit_code == 0, result.output
    mlflow.set_tracking_uri(settings.tracking_uri)
    [run] = mlflow.search_runs(experiment_names=["ragwright-monitoring"], output_format="list")
    metrics = run.data.metrics
    assert metrics["rag_answer_v1.traces"] == len(QUESTIONS)  # @: not allowed in names
    assert metrics["all.scored"] == len(QUESTIONS)
    assert "all.negative_feedback_rate" not in metrics  # no feedback: absent, never 0


def test_serve_starts_the_worker_from_settings(small_docs: Path) -> None:
    from ragwright.evals.online import start_online_eval
    from ragwright.settings import OnlineEvalSettings

    settings = Settings(docs_dir=small_docs, online_eval=OnlineEvalSettings(interval_s=0.05))
    ingest(settings)
    chain = RagChain.from_settings(settings)
    assert chain.tracer is not None
    chain.invoke({"question": QUESTIONS[0]})
    worker = start_online_eval(settings)
    assert worker is not None
    try:
        for _ in range(300):
            chain.tracer.flush()
            if worker.scored:
                break
            time.sleep(0.05)
    finally:
        worker.stop(5)
        chain.tracer.close()
    assert [t["eval_status"] for t in chain.tracer.store.select()] == ["scored"]
    off = settings.model_copy(update={"online_eval": OnlineEvalSettings(enabled=False)})
    assert start_online_eval(off) is None
