"""The layered prompt store: the project's prompts over read-only built-in ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ragwright.errors import PromptError, ReadOnlyPromptError
from ragwright.prompts.lifecycle import Evidence, Lifecycle
from ragwright.prompts.lint import lint_store
from ragwright.prompts.store import BUILTIN_DIR, PromptStore
from tests.conftest import make_prompt, run_cli

JUDGES = ["judge_correctness", "judge_hallucination", "judge_relevance"]
BUILTIN = ["condense_question", *JUDGES]  # package data: the judges and the follow-up condenser


def builtin_digest() -> dict[str, str]:
    return {
        p.relative_to(BUILTIN_DIR).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(BUILTIN_DIR.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def store(tmp_path: Path) -> PromptStore:
    return PromptStore(tmp_path / "prompts")  # the test project's copy of rag_answer


def test_built_in_prompts_lie_beneath_the_project(store: PromptStore) -> None:
    assert store.names() == [*BUILTIN, "rag_answer"]
    assert store.names(layer="project") == ["rag_answer"]
    assert store.names(layer="built-in") == BUILTIN
    assert store.layer_of("judge_relevance").name == "built-in"
    assert store.folder("judge_relevance") == BUILTIN_DIR / "judge_relevance"
    assert store.get("judge_relevance:production").published


def test_a_project_prompt_overrides_the_built_in_one(store: PromptStore) -> None:
    Lifecycle(store).copy("judge_relevance")
    assert store.layer_of("judge_relevance").name == "project"
    copied = store.get("judge_relevance:production")
    assert copied.file.path == store.root / "judge_relevance" / "v1.jinja2"
    assert copied.hash == PromptStore(BUILTIN_DIR, builtin=None).get("judge_relevance@v1").hash
    with pytest.raises(PromptError, match="already a project prompt"):
        Lifecycle(store).copy("judge_relevance")

    # the override is the project's to change, like any other prompt
    draft = Lifecycle(store).new("judge_relevance", "v1")
    assert draft.parent == store.root / "judge_relevance"
    folder = make_prompt(store.root, "judge_hallucination", {"v1": draft.read_text("utf-8")})
    assert store.folder("judge_hallucination") == folder


def test_no_change_ever_writes_inside_the_package(store: PromptStore) -> None:
    before = builtin_digest()
    lifecycle = Lifecycle(store)
    evidence = Evidence("run", "set", "sha256:x")
    for change in (
        lambda: lifecycle.new("judge_relevance", "v1"),
        lambda: lifecycle.publish("judge_relevance", "v2"),
        lambda: lifecycle.promote(
            "judge_relevance", "v1", alias="staging", find_evidence=lambda *_: evidence
        ),
        lambda: lifecycle.rollback("judge_relevance"),
    ):
        with pytest.raises(ReadOnlyPromptError, match="ragwright prompts copy judge_relevance"):
            change()
    assert builtin_digest() == before


def test_an_unknown_prompt_names_both_layers(store: PromptStore) -> None:
    with pytest.raises(PromptError) as caught:
        store.get("judge_tone")
    message = str(caught.value)
    assert f"project prompts in {store.root}" in message
    assert f"built-in prompts in {BUILTIN_DIR}" in message


def test_lint_checks_the_project_layer_and_the_built_ins_are_clean(store: PromptStore) -> None:
    assert {f.prompt for f in lint_store(store)} == {"rag_answer"}
    shipped = lint_store(PromptStore(BUILTIN_DIR, builtin=None))
    assert {f.prompt for f in shipped} == set(BUILTIN)
    assert not [f for f in shipped if f.level == "error"]


def test_cli_list_shows_layers_and_copy_refuses_twice(tmp_path: Path) -> None:
    listed = run_cli("prompts", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "judge_relevance" in listed.stdout
    assert "built-in" in listed.stdout
    copied = run_cli("prompts", "copy", "judge_relevance", cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "prompts" / "judge_relevance" / "prompt.yaml").is_file()
    assert "overrides built-in" in run_cli("prompts", "list", cwd=tmp_path).stdout
    refused = run_cli("prompts", "publish", "judge_hallucination", "v2", cwd=tmp_path)
    assert refused.returncode == 2
    assert "is a built-in prompt" in refused.stderr
