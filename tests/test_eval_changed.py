"""``changed_prompt_versions`` on real git repositories.

Each test builds a repository in ``tmp_path`` with the shipped ``rag_answer`` prompt
committed on ``main``, branches ``feature`` off it, makes the change a pull request
would, and asks which versions CI must gate. Git runs with no global or system
config, so a developer's hooks, signing or ``diff.renames`` setting cannot leak in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ragwright.errors import PromptFileError, UserError
from ragwright.evals.changes import ChangedVersion, changed_prompt_versions
from ragwright.prompts.files import read_manifest, write_manifest
from ragwright.prompts.lifecycle import Lifecycle
from ragwright.prompts.store import PromptStore
from tests.conftest import REPO, run_cli, write_docs, write_golden

PROMPTS = Path("prompts")

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}
# Would point git at another repository (they are set inside git hooks, for instance).
GIT_LEAKS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


@pytest.fixture(autouse=True)
def _isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code under test inherits the environment: isolate it like the helpers."""
    for key in GIT_LEAKS:
        monkeypatch.delenv(key, raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in GIT_LEAKS} | GIT_ENV
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    )
    return done.stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)


def changed(
    repo: Path, base: str = "main", prompts_dir: Path = PROMPTS, head: str | None = None
) -> list[tuple[str, str, str]]:
    found = changed_prompt_versions(repo, base, prompts_dir, head=head)
    return [(c.name, c.version, c.change) for c in found]


def write_version(repo: Path, name: str, version: str, tweak: str = "") -> Path:
    """A new version file: a copy of rag_answer v2 with a different system line."""
    source = (REPO / "prompts" / "rag_answer" / "v2.jinja2").read_text(encoding="utf-8")
    path = repo / "prompts" / name / f"{version}.jinja2"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        source.replace("at most two sentences", f"at most one sentence{tweak}"), encoding="utf-8"
    )
    return path


def publish(repo: Path, name: str, version: str) -> None:
    Lifecycle(PromptStore(repo / "prompts")).publish(name, version, by="test")


def new_prompt(repo: Path, name: str, version: str = "v1") -> None:
    """A second prompt folder, built from rag_answer's files, with ``version`` published."""
    folder = repo / "prompts" / name
    folder.mkdir(parents=True)
    manifest = read_manifest(REPO / "prompts" / "rag_answer" / "prompt.yaml")
    write_manifest(
        folder / "prompt.yaml", manifest.model_copy(update={"name": name, "versions": {}})
    )
    write_version(repo, name, version)
    publish(repo, name, version)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """``main``: rag_answer (v1, v2 published) and a README; ``feature`` checked out."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    shutil.copytree(REPO / "prompts" / "rag_answer", root / "prompts" / "rag_answer")
    (root / "ragwright.toml").write_text("# a project\n", encoding="utf-8")
    (root / "README.md").write_text("# demo\n", encoding="utf-8")
    commit(root, "base")
    git(root, "switch", "-q", "-c", "feature")
    return root


def test_new_draft_is_added(repo: Path) -> None:
    write_version(repo, "rag_answer", "v3")
    commit(repo, "draft v3")
    assert changed(repo) == [("rag_answer", "v3", "added")]


def test_added_and_published_is_one_added_entry(repo: Path) -> None:
    write_version(repo, "rag_answer", "v3")
    publish(repo, "rag_answer", "v3")
    commit(repo, "rag_answer v3")
    assert changed(repo) == [("rag_answer", "v3", "added")]


def test_edited_published_version_is_modified(repo: Path) -> None:
    path = repo / "prompts" / "rag_answer" / "v2.jinja2"
    path.write_text(path.read_text(encoding="utf-8") + "\nBe brief.\n", encoding="utf-8")
    commit(repo, "edit v2 in place (lint rejects this; the gate still runs)")
    assert changed(repo) == [("rag_answer", "v2", "modified")]


def test_alias_move_is_not_a_change(repo: Path) -> None:
    path = repo / "prompts" / "rag_answer" / "prompt.yaml"
    manifest = read_manifest(path)
    manifest.aliases["production"] = "v2"
    manifest.versions["v2"] = manifest.versions["v2"].model_copy(update={"eval_run": "run-1"})
    write_manifest(path, manifest)
    commit(repo, "promote v2")
    assert changed(repo) == []


def test_publishing_an_existing_draft_is_published(repo: Path) -> None:
    git(repo, "switch", "-q", "main")
    write_version(repo, "rag_answer", "v3")
    commit(repo, "draft v3 on main")
    git(repo, "switch", "-q", "-c", "publish-v3")
    publish(repo, "rag_answer", "v3")
    commit(repo, "publish v3")
    assert changed(repo) == [("rag_answer", "v3", "published")]


def test_published_version_without_its_file_is_not_a_candidate(repo: Path) -> None:
    write_version(repo, "rag_answer", "v3")
    publish(repo, "rag_answer", "v3")
    (repo / "prompts" / "rag_answer" / "v3.jinja2").unlink()
    commit(repo, "manifest lists v3, file forgotten")
    assert changed(repo) == []


def test_changes_outside_the_store_or_not_versions_are_ignored(repo: Path) -> None:
    (repo / "README.md").write_text("# changed\n", encoding="utf-8")
    elsewhere = repo / "backup" / "rag_answer" / "v7.jinja2"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("---\n---\n", encoding="utf-8")
    store = repo / "prompts"
    (store / "__init__.py").write_text("", encoding="utf-8")
    (store / "rag_answer" / "notes on v2.md").write_text("spaces survive -z\n", encoding="utf-8")
    (store / "rag_answer" / "partials").mkdir()
    (store / "rag_answer" / "partials" / "v4.jinja2").write_text("nested\n", encoding="utf-8")
    (store / "rag_answer" / "v3.txt").write_text("wrong suffix\n", encoding="utf-8")
    (store / "rag_answer" / "v03.jinja2").write_text("not a version id\n", encoding="utf-8")
    (store / "Bad-Name").mkdir()
    (store / "Bad-Name" / "v1.jinja2").write_text("not a prompt name\n", encoding="utf-8")
    commit(repo, "unrelated")
    assert changed(repo) == []


def test_deleted_version_is_not_a_candidate(repo: Path) -> None:
    git(repo, "rm", "-q", "prompts/rag_answer/v2.jinja2")
    commit(repo, "drop v2")
    assert changed(repo) == []


def test_renamed_prompt_folder_yields_the_new_refs(repo: Path) -> None:
    git(repo, "mv", "prompts/rag_answer", "prompts/answer")
    path = repo / "prompts" / "answer" / "prompt.yaml"
    write_manifest(path, read_manifest(path).model_copy(update={"name": "answer"}))
    commit(repo, "rename rag_answer to answer")
    assert "R100\tprompts/rag_answer/v1.jinja2" in git(
        repo, "diff", "--name-status", "-M", "main...feature"
    )
    assert changed(repo) == [("answer", "v1", "added"), ("answer", "v2", "added")]


def test_renamed_version_file_is_added(repo: Path) -> None:
    write_version(repo, "rag_answer", "v3")
    commit(repo, "draft v3")
    git(repo, "switch", "-q", "main")
    git(repo, "merge", "-q", "--ff-only", "feature")
    git(repo, "switch", "-q", "-c", "renumber")
    git(repo, "mv", "prompts/rag_answer/v3.jinja2", "prompts/rag_answer/v4.jinja2")
    commit(repo, "renumber the draft")
    assert changed(repo) == [("rag_answer", "v4", "added")]


def test_unknown_base_names_the_fetch(repo: Path) -> None:
    with pytest.raises(UserError, match=r"base 'origin/main' not found: .*git fetch origin main"):
        changed_prompt_versions(repo, "origin/main", PROMPTS)


def test_unknown_head_and_option_like_revisions_are_user_errors(repo: Path) -> None:
    with pytest.raises(UserError, match="head 'nope' not found"):
        changed_prompt_versions(repo, "main", PROMPTS, head="nope")
    with pytest.raises(UserError, match="not a git revision"):
        changed_prompt_versions(repo, "--output=/tmp/x", PROMPTS)


def test_not_a_repository_and_store_outside_it(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(UserError, match="not inside a git work tree"):
        changed_prompt_versions(outside, "main", PROMPTS)
    with pytest.raises(UserError, match="outside the git repository"):
        changed_prompt_versions(repo, "main", outside)


def test_multiple_prompts_sorted_and_deduplicated(repo: Path) -> None:
    write_version(repo, "rag_answer", "v10")
    write_version(repo, "rag_answer", "v3")
    commit(repo, "two drafts")
    write_version(repo, "rag_answer", "v3", tweak=", really")
    publish(repo, "rag_answer", "v3")
    new_prompt(repo, "zeta")
    new_prompt(repo, "alpha")
    commit(repo, "edit and publish v3, two new prompts")
    assert changed(repo) == [
        ("alpha", "v1", "added"),
        ("rag_answer", "v3", "added"),
        ("rag_answer", "v10", "added"),
        ("zeta", "v1", "added"),
    ]


def test_merge_base_semantics_ignore_what_landed_on_base(repo: Path) -> None:
    write_version(repo, "rag_answer", "v4")
    commit(repo, "branch drafts v4")
    git(repo, "switch", "-q", "main")
    write_version(repo, "rag_answer", "v3")
    publish(repo, "rag_answer", "v3")
    commit(repo, "main gains v3 meanwhile")
    git(repo, "switch", "-q", "feature")
    assert changed(repo) == [("rag_answer", "v4", "added")]
    # An explicit head works from any checkout, and matches HEAD's answer.
    git(repo, "switch", "-q", "main")
    assert changed(repo, head="feature") == [("rag_answer", "v4", "added")]


def test_only_commits_count_not_the_working_tree(repo: Path) -> None:
    write_version(repo, "rag_answer", "v3")
    git(repo, "add", "prompts/rag_answer/v3.jinja2")  # staged, not committed
    write_version(repo, "rag_answer", "v4")  # untracked
    assert changed(repo) == []


def test_prompts_dir_absolute_through_a_symlink_or_from_a_subfolder(repo: Path) -> None:
    write_version(repo, "rag_answer", "v3")
    (repo / "pkg").mkdir()
    (repo / "pkg" / "prompts").symlink_to("../prompts")  # like ragwright/prompts -> ../prompts
    commit(repo, "draft v3")
    expected = [("rag_answer", "v3", "added")]
    assert changed(repo, prompts_dir=(repo / "prompts").resolve()) == expected
    assert changed(repo, prompts_dir=Path("pkg/prompts")) == expected
    assert changed(repo / "pkg", prompts_dir=Path("prompts")) == expected


def test_prompt_store_at_the_repository_root(repo: Path) -> None:
    write_version(repo, "rag_answer", "v3")
    commit(repo, "draft v3")
    assert changed(repo / "prompts", prompts_dir=Path(".")) == [("rag_answer", "v3", "added")]


def test_broken_manifest_at_head_names_the_file(repo: Path) -> None:
    (repo / "prompts" / "rag_answer" / "prompt.yaml").write_text("versions: [\n", encoding="utf-8")
    commit(repo, "break the manifest")
    with pytest.raises(PromptFileError, match=r"prompts/rag_answer/prompt\.yaml at [0-9a-f]+"):
        changed_prompt_versions(repo, "main", PROMPTS)


def test_changed_version_ref_and_json() -> None:
    change = ChangedVersion("rag_answer", "v3", "published")
    assert change.ref == "rag_answer@v3"
    assert json.loads(json.dumps([change.as_dict()])) == [
        {"ref": "rag_answer@v3", "name": "rag_answer", "version": "v3", "change": "published"}
    ]


def test_cli_lists_candidates_as_json(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ragwright eval changed` is the command CI calls; run it for real in the repo."""
    write_version(repo, "rag_answer", "v3", tweak="Be brief.")
    publish(repo, "rag_answer", "v3")
    commit(repo, "rag_answer v3")
    monkeypatch.setenv("RAGWRIGHT_PROMPTS_DIR", str(repo / "prompts"))
    result = subprocess.run(
        [sys.executable, "-m", "ragwright.cli.app", "eval", "changed", "--base", "main", "--json"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"ref": "rag_answer@v3", "name": "rag_answer", "version": "v3", "change": "added"}
    ]
    missing = subprocess.run(
        [sys.executable, "-m", "ragwright.cli.app", "eval", "changed", "--base", "origin/nope"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "git fetch" in missing.stderr


@pytest.mark.slow
def test_gate_changed_gates_each_candidate_and_writes_one_comment(
    repo: Path, isolated_home: Path
) -> None:
    """`eval gate --changed`, run for real: one pass, one fail, one skip, one comment."""
    write_docs(repo / "docs")
    (repo / "golden_sets").mkdir()
    write_golden(repo / "golden_sets" / "starter.jsonl")
    commit(repo, "docs and golden set")
    ok = repo / "prompts" / "rag_answer" / "v3.jinja2"
    ok.write_text(
        (repo / "prompts/rag_answer/v1.jinja2")
        .read_text("utf-8")
        .replace("You answer questions", "You answer short questions"),
        encoding="utf-8",
    )
    blind = repo / "prompts" / "rag_answer" / "v4.jinja2"  # shows the model no sources
    blind.write_text(
        re.sub(
            r"{% for c in contexts %}.*?{% endfor %}",
            "{# sources withheld #}",
            ok.read_text("utf-8"),
            flags=re.DOTALL,
        ),
        encoding="utf-8",
    )
    publish(repo, "rag_answer", "v3")
    store = PromptStore(repo / "prompts")
    Lifecycle(store).copy("judge_relevance")
    commit(repo, "v3, v4 and a judge override")

    assert run_cli("index", "run", cwd=repo).returncode == 0
    result = run_cli(
        "eval", "gate", "--changed", "--base", "main", "--comment", "out/c.md", "--no-mlflow",
        cwd=repo / "docs",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    comment = (repo / "docs" / "out" / "c.md").read_text(encoding="utf-8")
    assert "## ragwright prompt gate: ❌ 1 of 2 candidate(s) failed the gate" in comment
    # a wording-only change local/extractive cannot read: not a pass (issue 15)
    assert "| `rag_answer@v3` | `rag_answer:production` | added | 🔍 not informative |" in comment
    assert "| `rag_answer@v4` | `rag_answer:production` | added | ❌ failed |" in comment
    assert "| `judge_relevance@v1` | `judge_relevance:production` | added | ➖ skipped |" in (
        comment
    )
    assert comment.count("<details>") == 2
    assert "never its instructions" in comment
