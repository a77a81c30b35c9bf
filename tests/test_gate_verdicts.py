"""Verdicts that say what they could not see; golden-set history; the eval CLI's --json.

A wording-only prompt change under ``local/extractive`` (which never reads the
wording) must not pass as if it had been measured: the gate says "not
informative" (exit 3). The same change answered by an endpoint model is gated.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from ragwright.cli.evaluation import print_runs
from ragwright.errors import GoldenSetError
from ragwright.evals import evaluate
from ragwright.evals.gate import evaluate_gate
from ragwright.evals.golden import load_golden_set
from ragwright.evals.runner import chain_input
from ragwright.flows.ingest import ingest
from ragwright.providers.guard import override_allow_model_requests
from ragwright.settings import GateSettings, Settings
from tests.conftest import run_cli, write_golden
from tests.openai_server import OpenAIServer
from tests.test_gate_rules import run as hand_built_run

CASES: list[dict[str, object]] = [
    {"id": "a", "question": "How do I roll back the production prompt?"},
    {"id": "b", "question": "How many hours of sun do tomatoes need?"},
    {"id": "c", "question": "Which variable switches Chroma to a server?"},
]
FRENCH = "Always answer in French, in one word, and never cite a source.\n"


def add_wording_only_draft(project: Path) -> str:
    """rag_answer@v9: v1 with one more instruction and nothing else (a draft)."""
    folder = project / "prompts" / "rag_answer"
    text = (folder / "v1.jinja2").read_text(encoding="utf-8")
    marker = "{% block system %}\n"
    (folder / "v9.jinja2").write_text(text.replace(marker, marker + FRENCH), encoding="utf-8")
    return "rag_answer@v9"


@pytest.fixture
def project(tmp_path: Path, small_docs: Path) -> Path:
    (tmp_path / "ragwright.toml").write_text(
        f'docs_dir = "{small_docs.name}"\nchunk_tokens = 64\nchunk_overlap = 8\n', "utf-8"
    )
    ingest(Settings())
    write_golden(tmp_path / "golden.jsonl", CASES)
    add_wording_only_draft(tmp_path)
    return tmp_path


def test_wording_only_change_under_local_extractive_is_not_informative(project: Path) -> None:
    comparison = evaluate(
        Settings(), ["rag_answer@v1", "rag_answer@v9"], project / "golden.jsonl", log_mlflow=False
    )
    gate = comparison.gate
    assert gate is not None
    assert gate.passed  # every rule passed on identical answers...
    assert gate.verdict == "not_informative"  # ...which says nothing about this change
    assert gate.not_informative is not None
    assert "does not read prompt wording" in gate.not_informative
    # no latency rule for a local model; the shipped calibration record satisfies 0.80
    assert not any(r.id == "metric:latency:margin" for r in gate.rules)
    [judge_rule] = [r for r in gate.rules if r.id == "judge:calibrated"]
    assert judge_rule.passed
    assert comparison.runs[-1].calibration == "shipped:local_calibration.json"
    report = next(p for p in comparison.reports if p.suffix == ".md").read_text("utf-8")
    assert report.splitlines()[0].endswith("gate not informative for this change")
    # the terminal table at 80 columns: wrapped, nothing cropped, the verdict first
    console = Console(width=80, record=True, color_system=None)
    print_runs(console, comparison)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.index("not informative") < text.index("hallucination rate")
    assert "NOT INFORMATIVE" in text
    for run in comparison.runs:
        assert f"{run.summary.hallucination_rate:.3f}" in text
        assert f"{run.summary.mean_relevance:.2f}" in text
    assert "…" not in text  # no cell was cut short


def test_same_change_with_an_endpoint_model_is_gated(project: Path) -> None:
    def reply(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]  # an endpoint reads the instructions
        return "Oui." if "French" in system else "Use ragwright prompts rollback [rollback.md]."

    with OpenAIServer(default=reply) as server, override_allow_model_requests(True):
        settings = Settings(
            chat_model="gpt-4o-mini", openai_base_url=server.base_url, openai_max_retries=0
        )
        comparison = evaluate(
            settings, ["rag_answer@v1", "rag_answer@v9"], project / "golden.jsonl", log_mlflow=False
        )
    gate = comparison.gate
    assert gate is not None
    assert gate.not_informative is None
    assert gate.verdict == "fail"  # one-word French answers lose relevance
    [latency] = [r for r in gate.rules if r.id == "metric:latency:margin"]  # on for endpoints
    assert latency.explanation.startswith("model call p95 ms")  # not the chain around it
    for run in comparison.runs:
        timed = [c.model_latency_ms for c in run.cases if c.error is None]
        assert timed
        assert all(t is not None and t > 0 for t in timed)
        assert all((c.model_latency_ms or 0) <= c.latency_ms for c in run.cases)
        assert all(c.scores["latency"].raw == c.model_latency_ms for c in run.cases)


def test_latency_rule_follows_the_setting() -> None:
    base = hand_built_run("p@v1", [0.0] * 10, [100.0] * 10)
    cand = hand_built_run("p@v2", [0.0] * 10, [100.0] * 10)
    for run in (base, cand):
        run.chat_model_local = True

    def ids(config: GateSettings) -> set[str]:
        return {r.id for r in evaluate_gate(base, cand, config).rules}

    assert "metric:latency:margin" not in ids(GateSettings())
    assert "metric:latency:margin" in ids(GateSettings(latency_rule="on"))
    assert all(r.id for r in evaluate_gate(base, cand, GateSettings(latency_rule="on")).rules)


def test_gate_cli_json_and_exit_code_3(project: Path) -> None:
    done = run_cli(
        "eval", "gate", "--candidate", "rag_answer@v9", "--baseline", "rag_answer@v1",
        "--golden-set", "golden.jsonl", "--no-mlflow", "--json",
        cwd=project,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    data = json.loads(done.stdout)  # stdout carries only the JSON
    assert data["version"] == 1
    assert data["verdict"] == "not_informative"
    assert [r["prompt"] for r in data["runs"]] == ["rag_answer@v1", "rag_answer@v9"]
    assert set(data["runs"][0]["metrics"]) >= {"hallucination_rate", "mean_relevance", "mrr"}
    assert data["runs"][0]["relevance_scale"] == "near-binary (1 or 5)"
    every = data["runs"][0]["every_metric"]
    assert list(every)[:3] == ["hallucination", "relevance", "correctness"]
    assert every["hallucination"]["kind"] == "builtin"
    assert every["hallucination"]["mean"] == data["runs"][0]["metrics"]["hallucination_rate"]
    assert data["runs"][0]["metrics"]["p95_model_latency_ms"] is not None  # timed locally too
    rule = data["gate"]["rules"][0]
    assert set(rule) >= {"id", "rule", "passed", "candidate", "ci_low", "ci_high", "threshold"}


def test_bad_metrics_table_is_one_line_exit_2(project: Path) -> None:
    toml = project / "ragwright.toml"
    toml.write_text(
        toml.read_text("utf-8")
        + textwrap.dedent(
            """
            [[metrics]]
            name = "p"
            kind = "python"
            function = "not_a_module:f"
            """
        ),
        "utf-8",
    )
    done = run_cli("eval", "run", "--golden-set", "golden.jsonl", "--no-mlflow", cwd=project)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "cannot import 'not_a_module'" in done.stderr


def test_golden_history_is_validated_and_passed_to_the_chain(tmp_path: Path) -> None:
    turns = [
        {"role": "user", "content": "Tell me about prompts."},
        {"role": "assistant", "content": "They are versioned."},
    ]
    path = write_golden(
        tmp_path / "g.jsonl", [{"id": "a", "question": "And rollback?", "history": turns}]
    )
    [case] = load_golden_set(path).cases
    assert chain_input(case, "rag_answer@v1", "r1")["history"] == turns
    [plain] = load_golden_set(write_golden(tmp_path / "p.jsonl", CASES[:1])).cases
    assert "history" not in chain_input(plain, "rag_answer@v1", "r1")
    bad = write_golden(
        tmp_path / "bad.jsonl",
        [CASES[0], {"id": "z", "question": "q", "history": [{"role": "system", "content": "x"}]}],
    )
    with pytest.raises(GoldenSetError) as caught:
        load_golden_set(bad)
    assert ":2" in str(caught.value)
    assert "history.0.role" in str(caught.value)


def test_pr_comment_shows_not_informative_first_and_exits_3() -> None:
    from ragwright.evals.comment import CandidateOutcome, exit_code, render_comment

    blind = CandidateOutcome(
        "rag_answer@v9", "rag_answer:production", "added", "not_informative", "same answers",
        local_answerer=True,
    )  # fmt: skip
    passed = CandidateOutcome("other@v2", "other:production", "added", "passed", "9 rules passed")
    text = render_comment([passed, blind], base="origin/main")
    headline = text.splitlines()[1]
    assert "not informative for 1 of 2" in headline
    assert "What this verdict cannot see" in text
    assert exit_code([passed, blind]) == 3
    failed = CandidateOutcome("x@v2", "x:production", "added", "failed", "relevance")
    assert exit_code([passed, blind, failed]) == 1  # a failure outranks it
    both = render_comment([passed, blind, failed], base="origin/main").splitlines()[1]
    assert both.index("failed the gate") < both.index("not informative for 1 of 3")


def test_reports_say_when_the_judge_is_uncalibrated() -> None:
    from ragwright.evals.report import render_html, render_markdown

    run = hand_built_run("p@v1", [0.0] * 3, [100.0] * 3)
    assert "Uncalibrated judge" not in render_markdown([run], None)
    run.calibration, run.judge_balanced_accuracy, run.judge = None, None, "openai/gpt-4o-mini"
    assert "**Uncalibrated judge:** `openai/gpt-4o-mini`" in render_markdown([run], None)
    assert "none: uncalibrated judge" in render_html([run], None)


def render_markdown_of(base: Any, candidate: Any, gate: Any) -> str:
    from ragwright.evals.report import render_markdown

    return render_markdown([base, candidate], gate)


def test_custom_metric_margin_rule_and_regressions() -> None:
    from ragwright.evals.results import MetricInfo, summarize
    from ragwright.evals.scoring import Score

    info = MetricInfo(name="tone", kind="llm_judge", value_range=(1.0, 5.0), margin=0.25)

    def with_tone(prompt: str, values: list[float]) -> Any:
        run = hand_built_run(prompt, [0.0] * len(values), [100.0] * len(values))
        cases = [
            c.model_copy(update={"scores": {"tone": Score(value=v)}})
            for c, v in zip(run.cases, values, strict=True)
        ]
        return run.model_copy(
            update={"cases": cases, "metrics": [info], "summary": summarize(cases, [info])}
        )

    base = with_tone("p@v1", [4.0] * 20)
    worse = with_tone("p@v2", [4.0] * 10 + [2.0] * 10)
    gate = evaluate_gate(base, worse, GateSettings())
    [rule] = [r for r in gate.rules if r.id == "metric:tone:margin"]
    assert not rule.passed
    assert rule.delta == pytest.approx(-1.0)
    assert gate.verdict == "fail"
    assert {r.metric for r in gate.regressions} == {"tone"}
    from ragwright.evals.report import render_html

    html = render_html([base, worse], gate)
    assert "<b>tone</b> 2.00" in html  # each case's custom scores in the drill-down
    assert "<b>hallucination</b>" not in html  # built-ins have their own line
    assert "metric:tone:margin" in render_markdown_of(base, worse, gate)
    same = evaluate_gate(base, with_tone("p@v3", [4.0] * 20), GateSettings())
    assert [r.passed for r in same.rules if r.id == "metric:tone:margin"] == [True]


def test_table_prints_the_mlflow_run_id_that_compare_takes() -> None:
    from ragwright.evals.api import Comparison

    run = hand_built_run("p@v1", [0.0] * 3, [100.0] * 3)
    run.mlflow_run_id = "0123456789abcdef"
    console = Console(width=80, record=True, color_system=None)
    print_runs(console, Comparison([run], None))
    assert "mlflow run p@v1: 0123456789abcdef" in console.export_text()
