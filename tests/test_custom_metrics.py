"""Custom metrics from [[metrics]]: checks, Python callables, LLM rubrics, through real runs.

Every metric here lives in the test's own project (tmp_path): adding one needs no
change to ragwright's files. Runs use the real chain, index and local judge; the
LLM rubric talks to the local OpenAI-compatible test server.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ragwright.errors import ConfigError
from ragwright.evals import Answer, Metric, Score, evaluate
from ragwright.evals.custom import build_metrics
from ragwright.evals.golden import GoldenCase
from ragwright.flows.ingest import ingest
from ragwright.providers.guard import override_allow_model_requests
from ragwright.settings import MetricSettings, Settings
from tests.conftest import make_prompt, write_golden
from tests.openai_server import Completion, OpenAIServer, openai_server_fixture  # noqa: F401

CASES: list[dict[str, object]] = [
    {"id": "a", "question": "How do I roll back the production prompt?"},
    {"id": "b", "question": "How many hours of sun do tomatoes need?"},
    {"id": "c", "question": "Which Java SDK version is supported?", "tags": ["unanswerable"]},
]


def metric(**fields: Any) -> MetricSettings:
    return MetricSettings.model_validate(fields)


def score(config: MetricSettings, text: str, **answer: Any) -> Score:
    [built] = build_metrics(Settings(), [config])
    case = GoldenCase(id="x", question="q?", tags=answer.pop("tags", []))
    view = Answer(text=text, answered=answer.pop("answered", True), **answer)
    return asyncio.run(built.score(case, view))


# -- checks -----------------------------------------------------------------------------------


def test_regex_check_must_and_must_not_match() -> None:
    cites = metric(name="cites", kind="check", check="regex", pattern=r"\[[^\]]+\]")
    assert score(cites, "Use rollback [rollback.md].").value == 1.0
    assert score(cites, "Use rollback.").value == 0.0
    no_french = metric(
        name="fr", kind="check", check="regex", pattern="(?i)bonjour", must_match=False
    )
    assert score(no_french, "Bonjour !").value == 0.0
    assert "must not" in score(no_french, "Bonjour !").reason
    assert score(no_french, "Hello").value == 1.0


def test_json_schema_check() -> None:
    config = metric(
        name="shape",
        kind="check",
        check="json_schema",
        json_schema={"type": "object", "required": ["answer"]},
    )
    assert score(config, '{"answer": "yes"}').value == 1.0
    missing = score(config, '{"other": 1}')
    assert (missing.value, "answer" in missing.reason) == (0.0, True)
    assert score(config, "not json").reason.startswith("not JSON")


def test_max_words_check() -> None:
    config = metric(name="short", kind="check", check="max_words", max_words=3)
    assert score(config, "one two three").value == 1.0
    assert score(config, "one two three four").reason == "4 words > 3"


def test_cites_sources_check() -> None:
    config = metric(name="cites", kind="check", check="cites_sources")
    shown = {"sources": ["a.md", "b.md"]}
    assert score(config, "x", citations=["a.md"], **shown).value == 1.0
    assert score(config, "x", citations=[], **shown).reason == "answer cites no source"
    assert score(config, "x", citations=["z.md"], **shown).value == 0.0
    assert score(config, "I cannot answer.", answered=False).value == 1.0


def test_refuses_when_unanswerable_check() -> None:
    config = metric(name="refuses", kind="check", check="refuses_when_unanswerable")
    assert score(config, "no", answered=False, tags=["unanswerable"]).value == 1.0
    assert score(config, "yes", answered=True, tags=["unanswerable"]).value == 0.0
    not_applicable = score(config, "yes", answered=True)
    assert (not_applicable.value, not_applicable.outcome) == (None, "ok")


def test_broken_metric_tables_are_config_errors() -> None:
    with pytest.raises(ValidationError, match="needs 'pattern'"):
        metric(name="r", kind="check", check="regex")
    with pytest.raises(ValidationError, match="exactly one of 'scale' or 'labels'"):
        metric(name="tone", kind="llm_judge", prompt="tone")
    with pytest.raises(ConfigError, match="not a regex"):
        build_metrics(Settings(), [metric(name="r", kind="check", check="regex", pattern="(")])
    twice = [metric(name="n", kind="check", check="cites_sources")] * 2
    with pytest.raises(ConfigError, match="used twice"):
        build_metrics(Settings(), twice)
    with pytest.raises(ConfigError, match="built-in"):
        build_metrics(Settings(), [metric(name="relevance", kind="check", check="cites_sources")])
    with pytest.raises(ConfigError, match="cannot import 'nowhere'"):
        build_metrics(Settings(), [metric(name="p", kind="python", function="nowhere:f")])


# -- Python metrics through a real run ------------------------------------------------------

PROJECT_METRICS = """
from ragwright.evals import Score


def polite(case, answer):
    return not answer.text.lower().startswith("no")


async def length_score(case, answer):
    return Score(value=min(len(answer.text.split()) / 50, 1.0), reason="words / 50")


def broken(case, answer):
    if case.id == "b":
        raise RuntimeError("metric bug on b")
    return 1
"""


@pytest.fixture
def project(tmp_path: Path, small_docs: Path) -> Path:
    (tmp_path / "project_metrics.py").write_text(PROJECT_METRICS, encoding="utf-8")
    (tmp_path / "ragwright.toml").write_text(
        textwrap.dedent(
            f"""
            docs_dir = "{small_docs.name}"
            chunk_tokens = 64
            chunk_overlap = 8

            [[metrics]]
            name = "polite"
            kind = "python"
            function = "project_metrics:polite"

            [[metrics]]
            name = "length"
            kind = "python"
            function = "project_metrics:length_score"
            floor = 0.01

            [[metrics]]
            name = "broken"
            kind = "python"
            function = "project_metrics:broken"

            [[metrics]]
            name = "refuses"
            kind = "check"
            check = "refuses_when_unanswerable"
            margin = 0.0
            """
        ),
        encoding="utf-8",
    )
    write_golden(tmp_path / "golden.jsonl", CASES)
    return tmp_path


def test_python_metrics_by_import_path_and_a_raising_one(project: Path) -> None:
    settings = Settings()
    ingest(settings)
    comparison = evaluate(
        settings, ["rag_answer@v1"], project / "golden.jsonl", gate=False, log_mlflow=False
    )
    [run] = comparison.runs
    assert [m.name for m in run.custom_metrics] == ["polite", "length", "broken", "refuses"]
    builtin = ["hallucination", "relevance", "correctness", "recall_at_k", "mrr", "abstention"]
    assert [m.name for m in run.metrics][:8] == [*builtin, "cost", "latency"]
    assert len(run.cases) == 3  # the raising metric dropped no row
    by_id = {c.case_id: c for c in run.cases}
    assert by_id["b"].scores["broken"].outcome == "error"
    assert "metric bug on b" in by_id["b"].scores["broken"].reason
    assert by_id["a"].scores["broken"] == Score(value=1.0)
    summary = run.summary.metrics
    assert summary["broken"].errors == 1
    assert summary["broken"].mean == pytest.approx(2 / 3)  # the error counts as the worst, 0
    assert summary["polite"].mean == 1.0
    assert 0 < (summary["length"].mean or 0) <= 1
    assert by_id["c"].scores["refuses"].value == 1.0  # the Java question is declined
    assert by_id["a"].scores["refuses"].value is None  # not applicable: left out of the mean
    assert summary["refuses"].mean == 1.0


# -- an LLM rubric through the test server, and the gate failing on it ----------------------

RUBRIC = """---
description: Tone rubric - is the answer friendly? Score 1-5.
model: gpt-4o-mini
variables:
  question: {type: str, required: true}
  answer: {type: str, required: true}
parameters:
  temperature: 0
---
{% block system %}
Rate how friendly the ANSWER is, 1 (curt) to 5 (warm). Reply JSON: {"score": <1-5>, "reason": "..."}
{% endblock %}
{% block user %}
QUESTION: {{ question }}
ANSWER: {{ answer }}
{% endblock %}
"""


def rubric_reply(body: dict[str, Any]) -> str:
    """Friendliness 2 for every answer; a non-JSON reply for the tomato case."""
    text = json.dumps(body["messages"])
    if "tomatoes" in text:
        return "I think it is fine."
    return json.dumps({"score": 2, "reason": "curt"})


def test_llm_rubric_metric_gates(tmp_path: Path, small_docs: Path) -> None:
    server = OpenAIServer(default=rubric_reply).start()
    try:
        make_prompt(tmp_path / "prompts", "tone", {"v1": RUBRIC})  # a draft rubric
        settings = Settings(
            docs_dir=small_docs,
            chunk_tokens=64,
            chunk_overlap=8,
            openai_base_url=server.base_url,
            openai_max_retries=0,
            metrics=[
                metric(
                    name="tone",
                    kind="llm_judge",
                    prompt="tone@v1",
                    model="gpt-4o-mini",
                    scale=[1, 5],
                    floor=3.0,
                )
            ],
        )
        ingest(settings)
        golden = write_golden(tmp_path / "golden.jsonl", CASES)
        with override_allow_model_requests(True):
            comparison = evaluate(
                settings, ["rag_answer@v1", "rag_answer@v2"], golden, log_mlflow=False
            )
    finally:
        server.stop()
    run = comparison.runs[-1]
    by_id = {c.case_id: c for c in run.cases}
    assert by_id["a"].scores["tone"] == Score(value=2.0, reason="curt")
    assert by_id["b"].scores["tone"].outcome == "unparseable"  # after one repair retry
    assert run.summary.metrics["tone"].unparseable == 1
    gate = comparison.gate
    assert gate is not None
    assert gate.verdict == "fail"
    [floor] = [r for r in gate.rules if r.id == "metric:tone:floor"]
    assert not floor.passed
    assert floor.candidate == pytest.approx((2 + 1 + 2) / 3)  # unparseable counts as 1
    assert gate.uncalibrated == ["tone"]
    assert run.judge_monitor is not None  # rubric calls are judge spend, shown in the table
    assert run.judge_monitor.calls >= 6  # 3 cases x 2 versions, plus the repair retries
    assert "tone (uncalibrated)" in (tmp_path / "home").joinpath("reports").glob(
        "*.md"
    ).__next__().read_text(encoding="utf-8")


class AnswerLength(Metric):
    """A Metric subclass in user code, passed straight to the runner."""

    name = "answer_words"
    higher_is_better = False
    value_range = (0.0, 1000.0)

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        return Score(value=float(len(answer.text.split())))


def test_metric_subclass_through_the_runner(tmp_path: Path, small_docs: Path) -> None:
    from ragwright.evals.golden import load_golden_set
    from ragwright.evals.judges.local import LocalJudge
    from ragwright.evals.runner import metric_info, run_evals_blocking
    from ragwright.providers.registry import embedder_from_settings
    from ragwright.rag import RagChain

    settings = Settings(docs_dir=small_docs, chunk_tokens=64, chunk_overlap=8)
    ingest(settings)
    metric = AnswerLength()
    [run] = run_evals_blocking(
        RagChain.from_settings(settings),
        load_golden_set(write_golden(tmp_path / "g.jsonl", CASES)),
        LocalJudge(embedder_from_settings(settings)),
        prompts=["rag_answer@v1"],
        metrics=[metric],
        metric_infos=[metric_info(metric, "custom", (None, None, True))],
    )
    words = [len(c.answer.split()) for c in run.cases]
    assert [c.scores["answer_words"].value for c in run.cases] == words
    assert run.summary.metrics["answer_words"].mean == pytest.approx(sum(words) / 3)


def test_each_project_gets_its_own_metric_module(tmp_path: Path) -> None:
    """Two projects in one process (a notebook, a flow worker): no stale module is reused."""
    built = []
    for name, value in (("one", 0.25), ("two", 0.75)):
        root = tmp_path / name
        root.mkdir()
        (root / "ragwright.toml").write_text("", encoding="utf-8")
        (root / "shared_name.py").write_text(f"def {name}(case, answer):\n    return {value}\n")
        config = metric(name="m", kind="python", function=f"shared_name:{name}")
        [built_metric] = build_metrics(Settings(project_root=root), [config])
        built.append(built_metric)
    case, answer = GoldenCase(id="x", question="q?"), Answer(text="a", answered=True)
    assert [asyncio.run(m.score(case, answer)).value for m in built] == [0.25, 0.75]
