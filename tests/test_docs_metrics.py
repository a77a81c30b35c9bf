"""docs/metrics.md's examples, run as written: its TOML, its Python and its rubric prompt."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from ragwright.evals import evaluate
from ragwright.flows.ingest import ingest
from ragwright.providers.guard import override_allow_model_requests
from ragwright.settings import Settings
from tests.conftest import REPO, make_prompt, write_golden
from tests.openai_server import OpenAIServer

DOC = REPO / "docs" / "metrics.md"
CASES: list[dict[str, object]] = [
    {"id": "a", "question": "How do I roll back the production prompt?"},
    {"id": "b", "question": "Which Java SDK version is supported?", "tags": ["unanswerable"]},
]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)


def rubric(body: dict[str, Any]) -> str:
    return json.dumps({"score": 4, "label": "compliant", "reason": "polite"})


def test_every_example_runs(tmp_path: Path, small_docs: Path) -> None:
    toml = "\n".join(blocks("toml"))
    names = [m["name"] for m in tomllib.loads(toml)["metrics"]]
    assert len(names) == 9
    python = [b for b in blocks("python") if "def " in b]
    (tmp_path / "project_metrics.py").write_text(python[0], encoding="utf-8")
    [prompt] = blocks("jinja")
    make_prompt(tmp_path / "prompts", "tone", {"v1": prompt})
    (tmp_path / "ragwright.toml").write_text(
        f'docs_dir = "{small_docs.name}"\nchunk_tokens = 64\nchunk_overlap = 8\n\n{toml}', "utf-8"
    )
    write_golden(tmp_path / "golden.jsonl", CASES)
    with OpenAIServer(default=rubric) as server, override_allow_model_requests(True):
        settings = Settings(openai_base_url=server.base_url, openai_max_retries=0)
        ingest(settings)
        comparison = evaluate(
            settings,
            ["rag_answer@v1", "rag_answer@v2"],
            tmp_path / "golden.jsonl",
            log_mlflow=False,
        )
    run = comparison.runs[-1]
    assert [m.name for m in run.custom_metrics] == names
    assert list(run.summary.metrics)[-len(names) :] == names  # after the built-ins
    for name in names:
        summary = run.summary.metrics[name]
        assert summary.errors == summary.unparseable == 0, name
    assert run.summary.metrics["tone"].mean == 4.0
    assert run.summary.metrics["policy"].mean == 1.0
    assert run.summary.metrics["refuses"].mean == 1.0  # the Java question is declined
    assert run.summary.metrics["json_reply"].mean == 0.0  # prose is not JSON
    gate = comparison.gate
    assert gate is not None
    ids = {r.id for r in gate.rules}
    assert {"metric:no_french:floor", "metric:cites:margin", "metric:tone:margin"} <= ids
    assert not any(i.startswith("metric:json_reply") for i in ids)  # gate = false
    assert gate.uncalibrated == ["tone", "policy"]


@pytest.mark.parametrize("snippet", ["from ragwright.evals import evaluate"])
def test_library_example_names_real_entry_points(snippet: str) -> None:
    [library] = [b for b in blocks("python") if snippet in b]
    compile(library, "docs/metrics.md", "exec")
    import ragwright.evals

    assert callable(ragwright.evals.evaluate)
    assert callable(ragwright.evals.compare)
