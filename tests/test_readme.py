"""Every Python example in the README runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ragwright.flows.ingest import ingest
from ragwright.scaffold import create_demo_project
from ragwright.settings import Settings
from tests.conftest import REPO

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL)


def test_readme_has_python_examples() -> None:
    assert BLOCKS


@pytest.mark.parametrize("code", BLOCKS)
def test_readme_example_runs(
    code: str, small_docs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(Settings(docs_dir=small_docs))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "[rollback.md]" in out
    assert "rag_answer@v1" in out


def prompt_flow() -> str:
    """The shell block of the README's "A prompt change, start to finish" section."""
    section = (
        (REPO / "README.md")
        .read_text(encoding="utf-8")
        .split("## A prompt change, start to finish", 1)[1]
    )
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.mark.slow
def test_readme_prompt_flow_runs_literally(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The block runs as written, line by line, in a git repository holding a demo project."""
    repo = tmp_path_factory.mktemp("readme") / "project"
    create_demo_project(repo)
    editor = repo.parent / "edit.sh"  # the "edit": v3 answers like production, says it is shorter
    editor.write_text(
        '#!/bin/sh\ncp prompts/rag_answer/v1.jinja2 "$1"\n'
        "sed -i 's/^description: .*/description: Shorter answers./' \"$1\"\n",
        encoding="utf-8",
    )
    editor.chmod(0o755)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RAGWRIGHT_")},
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.com",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.com",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "EDITOR": str(editor),
        "COLUMNS": "200",
    }
    setup = "git init -q -b main && git add -A && git commit -qm init && ragwright index run"
    subprocess.run(["bash", "-c", setup], cwd=repo, env=env, check=True, capture_output=True)

    done = subprocess.run(
        ["bash", "-e", "-x", "-c", prompt_flow()],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    manifest = yaml.safe_load((repo / "prompts/rag_answer/prompt.yaml").read_text("utf-8"))
    assert manifest["versions"]["v3"]["eval_run"]  # promoted with evidence
    assert manifest["aliases"]["production"] == "v1"  # then rolled back
    assert "description: Shorter answers." in (repo / "prompts/rag_answer/v3.jinja2").read_text(
        encoding="utf-8"
    )
    tracked = subprocess.run(
        ["git", "ls-files", "prompts/rag_answer/v3.jinja2"], cwd=repo, env=env, text=True,
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert tracked.strip() == "prompts/rag_answer/v3.jinja2"
