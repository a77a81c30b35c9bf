"""The PR comment of ``eval gate --changed`` and the GitHub Action that posts it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ragwright.evals.comment import MARKER, CandidateOutcome, exit_code, render_comment
from ragwright.scaffold.init import init_project
from tests.conftest import REPO

PASSED = CandidateOutcome(
    "rag_answer@v3", "rag_answer:production", "added", "passed", "7 rules passed", "## report A"
)
FAILED = CandidateOutcome(
    "rag_answer@v4",
    "rag_answer:production",
    "published",
    "failed",
    "failed: answer correctness: no drop beyond margin",
    "## report B",
    local_answerer=True,
)
ERROR = CandidateOutcome(
    "rag_answer@v5", "rag_answer:production", "modified", "error", "RenderError: a | b\nc"
)
SKIPPED = CandidateOutcome(
    "judge_relevance@v2", "judge_relevance:production", "added", "skipped", "a judge prompt"
)


def test_verdict_first_then_one_table_then_reports() -> None:
    text = render_comment([PASSED, FAILED, SKIPPED], base="origin/main", run_url="https://x/1")
    lines = text.splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "## ragwright prompt gate: ❌ 1 of 2 candidate(s) failed the gate"
    assert "since its merge-base with `origin/main`" in text
    assert text.count("| candidate | baseline | change | verdict | detail |") == 1
    assert "| `rag_answer@v4` | `rag_answer:production` | published | ❌ failed |" in text
    assert "| `judge_relevance@v2` | `judge_relevance:production` | added | ➖ skipped |" in text
    assert text.index("<summary><code>rag_answer@v3</code>: ✅ passed</summary>") < text.index(
        "## report B"
    )
    assert "never its instructions" in text  # v4 was answered by local/extractive
    assert text.rstrip().endswith("<sub>[workflow run](https://x/1)</sub>")


def test_headlines_and_exit_codes() -> None:
    assert exit_code([]) == 0
    assert "nothing to gate" in render_comment([], base="main")
    assert "nothing to gate" in render_comment([SKIPPED], base="main")
    assert exit_code([SKIPPED]) == 0
    assert "✅ 1 candidate(s) passed the gate" in render_comment([PASSED], base="main")
    assert exit_code([PASSED]) == 0
    assert exit_code([PASSED, FAILED]) == 1
    assert exit_code([FAILED, ERROR]) == 2
    assert "⚠️ 1 of 3 candidate(s) could not be gated" in render_comment(
        [PASSED, FAILED, ERROR], base="main"
    )
    assert "never its instructions" not in render_comment([PASSED, ERROR], base="main")


def test_cells_stay_one_line_and_reports_are_cut_to_the_limit() -> None:
    text = render_comment([ERROR], base="main")
    assert "| RenderError: a \\| b c |" in text
    big = [
        CandidateOutcome(f"p@v{i}", "p:production", "added", "passed", "ok", "x" * 5000)
        for i in range(1, 30)
    ]
    cut = render_comment(big, base="main", limit=20_000)
    assert len(cut) <= 20_000
    assert cut.count("| `p@v") == 29  # the table is always complete
    assert "report cut to fit a GitHub comment" in cut


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def test_the_action_declares_what_it_uses() -> None:
    text = (REPO / "action.yml").read_text(encoding="utf-8")
    action = load(REPO / "action.yml")
    assert action["runs"]["using"] == "composite"
    declared = set(action["inputs"])
    used = set(re.findall(r"inputs\.([a-z][a-z0-9-]*)", text))
    assert used == declared, "every input is used, every used input is declared"
    steps = action["runs"]["steps"]
    ids = {s["id"] for s in steps if "id" in s}
    for output in action["outputs"].values():
        [step] = re.findall(r"steps\.([a-z-]+)\.outputs", output["value"])
        assert step in ids
    for step in steps:
        assert step.get("name"), "every step is named for the log"
        if "run" in step:
            assert step.get("shell") == "bash", "composite run steps must name their shell"
            assert "${{" not in step["run"], "values reach scripts through env, never pasted"
    assert MARKER in text, "the comment is found again by ragwright's marker"
    assert "eval gate --changed" in text


def test_workflows_call_the_action_with_inputs_it_has(
    tmp_path_factory: Any,
) -> None:
    declared = set(load(REPO / "action.yml")["inputs"])
    project = tmp_path_factory.mktemp("p") / "project"
    init_project(project)
    for path in (
        REPO / ".github/workflows/ragwright.yml",
        project / ".github/workflows/ragwright.yml",
    ):
        workflow = load(path)
        assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
        steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
        checkout = next(s for s in steps if s["uses"].startswith("actions/checkout@"))
        assert checkout["with"]["fetch-depth"] == 0
        [gate] = [s for s in steps if not s["uses"].startswith("actions/")]
        assert set(gate.get("with", {})) <= declared, path
