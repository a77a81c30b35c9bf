"""``ragwright init``: a working project, nothing overwritten, every conflict listed first."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from ragwright.errors import InputFileError, ScaffoldConflictError
from ragwright.evals.golden import load_golden_set
from ragwright.prompts.lint import lint_store
from ragwright.prompts.store import PromptStore
from ragwright.scaffold import create_demo_project, init_project
from ragwright.scaffold.init import TEMPLATE
from ragwright.settings import Settings, load_settings
from tests.conftest import run_cli


def digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside any project and any git repository."""
    return tmp_path_factory.mktemp("new") / "acme"


def test_init_scaffolds_a_project_that_validates(target: Path) -> None:
    result = init_project(target)

    root = target.resolve()
    assert result.root == root
    created = {p.relative_to(root).as_posix() for p in result.created}
    assert {
        "ragwright.toml",
        "prefect.yaml",
        ".gitignore",
        ".github/workflows/ragwright.yml",
        "golden_sets/starter.jsonl",
        "prompts/rag_answer/v1.jinja2",
        "prompts/rag_answer/prompt.yaml",
    } <= created
    starter_docs = sorted(p.name for p in (TEMPLATE / "docs").glob("*.md"))
    assert sorted(p.name for p in (root / "docs").iterdir()) == starter_docs
    assert result.overwritten == ()

    settings = Settings(project_root=root)
    assert settings.collection == "acme_docs"
    assert settings.golden_set == root / "golden_sets" / "starter.jsonl"
    written = tomllib.loads((root / "ragwright.toml").read_text(encoding="utf-8"))
    assert set(written) <= set(Settings.model_fields), "init writes only real settings"

    store = PromptStore(settings.prompts_dir)
    manifest = store.manifest("rag_answer")
    assert manifest.aliases == {"production": "v1"}
    assert store.get("rag_answer:production").published
    assert [e.action for e in manifest.history] == ["publish", "promote"]
    assert not [f for f in lint_store(store) if f.level == "error"]


def test_the_starter_golden_set_is_about_the_starter_documents() -> None:
    golden = load_golden_set(TEMPLATE / "golden_sets" / "starter.jsonl")
    docs = {p.name for p in (TEMPLATE / "docs").glob("*.md")}
    answerable = [c for c in golden.cases if c.answerable]
    assert len(golden.cases) >= 10
    assert len(golden.cases) - len(answerable) >= 3
    for case in answerable:
        assert case.reference_answer, case.id
        assert case.expected_sources, case.id
        assert set(case.expected_sources) <= docs, case.id


def test_a_second_init_lists_conflicts_and_writes_nothing(target: Path) -> None:
    init_project(target)
    (target / "ragwright.toml").write_text("top_k = 9\n", encoding="utf-8")
    before = digest(target)

    with pytest.raises(ScaffoldConflictError) as caught:
        init_project(target)
    message = str(caught.value)
    for name in (
        "ragwright.toml",
        "prompts/rag_answer/v1.jinja2",
        "prompts/rag_answer/prompt.yaml",
    ):
        assert name in message
    assert "nothing was written" in message
    assert "--force" in message
    assert digest(target) == before

    forced = init_project(target, force=True)
    assert target.resolve() / "ragwright.toml" in forced.overwritten
    assert "top_k = 9" not in (target / "ragwright.toml").read_text(encoding="utf-8")
    assert (target / ".gitignore").read_text(encoding="utf-8").count(".ragwright/") == 1


def test_own_documents_are_kept_and_named(tmp_path: Path, target: Path) -> None:
    kb = target / "knowledge"
    kb.mkdir(parents=True)
    (kb / "faq.md").write_text("# FAQ\n", encoding="utf-8")
    (target / ".gitignore").write_text("node_modules/", encoding="utf-8")

    result = init_project(target, docs=kb)

    assert not (target / "docs").exists()
    assert load_settings(project_root=target).docs_dir == kb.resolve()
    assert 'docs_dir = "knowledge"' in (target / "ragwright.toml").read_text(encoding="utf-8")
    assert (kb.resolve(), "--docs given: your documents are indexed") in result.skipped
    assert any("starter.jsonl" in note for note in result.notes)
    assert (target / ".gitignore").read_text(encoding="utf-8") == (
        "node_modules/\n\n# ragwright's local state: index, cost records, MLflow runs,"
        " reports; lock files\n.ragwright/\n.ragwright.lock\n"
    )
    with pytest.raises(InputFileError, match="documents folder does not exist"):
        init_project(tmp_path / "other", docs=tmp_path / "missing")


def test_an_existing_docs_folder_is_not_touched(target: Path) -> None:
    (target / "docs").mkdir(parents=True)
    (target / "docs" / "mine.md").write_text("# Mine\n", encoding="utf-8")
    result = init_project(target)
    assert [p.name for p in (target / "docs").iterdir()] == ["mine.md"]
    assert (target.resolve() / "docs", "exists: your documents are indexed") in result.skipped


def test_a_project_in_a_monorepo_gets_its_workflow_at_the_repository_root(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    repo = tmp_path_factory.mktemp("mono")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    init_project(repo / "services" / "bot")

    assert not (repo / "services" / "bot" / ".github").exists()
    workflow = yaml.safe_load((repo / ".github/workflows/ragwright.yml").read_text("utf-8"))
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "services/bot/prompts/**" in triggers["pull_request"]["paths"]
    [_, gate] = workflow["jobs"]["prompt-gate"]["steps"]
    assert gate["uses"].startswith("ragwright/ragwright@v")
    assert gate["with"] == {"working-directory": "services/bot"}


def test_the_demo_project_stages_a_candidate(target: Path) -> None:
    result = create_demo_project(target)
    store = PromptStore(target / "prompts")
    assert store.manifest("rag_answer").aliases == {"production": "v1", "staging": "v2"}
    assert target.resolve() / "prompts/rag_answer/v2.jinja2" in result.created


def test_cli_lists_what_it_did(target: Path) -> None:
    target.mkdir(parents=True)
    first = run_cli("init", cwd=target)
    assert first.returncode == 0, first.stderr
    assert "created     ragwright.toml" in first.stdout
    assert "next: ragwright index run" in first.stdout

    again = run_cli("init", str(target), cwd=target.parent)
    assert again.returncode == 2
    assert "would overwrite" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_file_where_a_folder_must_go_stops_init_before_any_write(target: Path) -> None:
    target.mkdir(parents=True)
    (target / "prompts").write_text("not a folder", encoding="utf-8")
    for force in (False, True):
        with pytest.raises(
            ScaffoldConflictError, match=r"needs folders where files are \(prompts\)"
        ):
            init_project(target, force=force)
    assert [p.name for p in target.iterdir()] == ["prompts"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes whatever the mode")
def test_an_unwritable_folder_is_a_clear_error(target: Path) -> None:
    target.mkdir(parents=True)
    target.chmod(0o500)
    try:
        result = run_cli("init", cwd=target)
    finally:
        target.chmod(0o700)
    assert result.returncode == 2
    assert "cannot write the project: Permission denied" in result.stderr
    assert "Traceback" not in result.stderr
