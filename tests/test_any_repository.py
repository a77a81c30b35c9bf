"""ragwright in anyone's repository: the wheel, a fresh venv, a new git repository, no network.

The wheel is installed with ``--no-deps`` into a new virtual environment that borrows
the dev environment's dependencies (a ``.pth`` line), so the package under test is
the wheel's, never this checkout. Every command runs with only a loopback interface.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.conftest import network_can_be_cut

pytestmark = [
    pytest.mark.slow,
    pytest.mark.network_cut,
    pytest.mark.skipif(not network_can_be_cut(), reason="unshare -n is not permitted here"),
]

GIT_IDENTITY = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with only the wheel installed, borrowing the dev env's dependencies."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path line: the dev env's own .pth files (its editable ragwright) stay inactive.
    dependencies = sysconfig.get_paths()["purelib"]
    Path(purelib, "dev-dependencies.pth").write_text(dependencies + "\n", encoding="utf-8")
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    return root


def package_dir(venv: Path) -> Path:
    located = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import ragwright; print(ragwright.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=venv,
    ).stdout.strip()
    return Path(located).parent


def digest(folder: Path) -> dict[str, str]:
    """Every file of the installed package but bytecode (which Python may cache there)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture
def env(tmp_path: Path, venv: Path) -> dict[str, str]:
    """No RAGWRIGHT_* variable: the project alone decides where state lives."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAGWRIGHT_", "GIT_"))}
    return {
        **clean,
        **GIT_IDENTITY,
        "PATH": f"{venv / 'bin'}{os.pathsep}{clean['PATH']}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "HF_HOME": str(tmp_path / "empty-hf-home"),
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-tiktoken-cache"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


def offline(
    env: dict[str, str], cwd: Path, *args: str, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command in a network namespace that has only loopback."""
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result.stdout


def git(env: dict[str, str], repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def test_the_whole_loop_in_a_new_repository(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, venv: Path, env: dict[str, str]
) -> None:
    installed = package_dir(venv)
    assert installed.is_relative_to(venv), f"ragwright imported from {installed}, not the wheel"
    before = digest(installed)
    repo = tmp_path / "acme-support"
    repo.mkdir()
    git(env, repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# Acme support bot\n", encoding="utf-8")

    created = ok(offline(env, repo, "ragwright", "init"))
    for path in (
        "ragwright.toml",
        "prompts/rag_answer/v1.jinja2",
        "prompts/rag_answer/prompt.yaml",
        "golden_sets/starter.jsonl",
        ".github/workflows/ragwright.yml",
        "prefect.yaml",
    ):
        assert (repo / path).is_file(), path
        assert path in created
    assert sorted(p.name for p in (repo / "docs").iterdir())
    assert ".ragwright/" in (repo / ".gitignore").read_text(encoding="utf-8").splitlines()
    manifest = yaml.safe_load((repo / "prompts/rag_answer/prompt.yaml").read_text("utf-8"))
    assert manifest["aliases"] == {"production": "v1"}
    assert "v1" in manifest["versions"]
    git(env, repo, "add", "-A")
    git(env, repo, "commit", "-qm", "ragwright init")

    ok(offline(env, repo, "ragwright", "index", "run"))
    # From a subfolder: the same root, the same state, no second .ragwright
    answer = ok(offline(env, repo / "docs", "ragwright", "ask", "How do I roll back a prompt?"))
    assert "rollback" in answer
    assert not (repo / "docs" / ".ragwright").exists()
    evaluated = ok(offline(env, repo / "golden_sets", "ragwright", "eval", "run"))
    assert "hallucination rate" in evaluated
    assert "starter" in evaluated

    git(env, repo, "switch", "-qc", "shorter-answers")
    ok(offline(env, repo / "prompts", "ragwright", "prompts", "new", "rag_answer", "--from", "v1"))
    draft = repo / "prompts" / "rag_answer" / "v2.jinja2"
    text = draft.read_text(encoding="utf-8")
    draft.write_text(text.replace("description: ", "description: Shorter. ", 1), "utf-8")
    ok(offline(env, repo, "ragwright", "prompts", "publish", "rag_answer", "v2"))
    git(env, repo, "add", "-A")
    git(env, repo, "commit", "-qm", "rag_answer v2: shorter answers")

    gated = offline(
        env, repo / "docs", "ragwright", "eval", "gate", "--changed", "--base", "main",
        "--comment", "../comment.md",
    )  # fmt: skip
    # a wording-only change the local answerer cannot see: not informative (exit 3), not a pass
    assert gated.returncode == 3, gated.stdout[-4000:] + gated.stderr[-4000:]
    comment = (repo / "comment.md").read_text(encoding="utf-8")
    assert comment.startswith("<!-- ragwright-prompt-gate -->")
    assert "| `rag_answer@v2` | `rag_answer:production` | added | 🔍 not informative |" in comment
    assert "never its instructions" in comment  # the extractive answerer's blind spot is said

    promoted = ok(
        offline(
            env, repo, "ragwright", "prompts", "promote", "rag_answer", "v2", "--to", "production"
        )
    )
    assert "evidence" in promoted
    assert (
        yaml.safe_load((repo / "prompts/rag_answer/prompt.yaml").read_text("utf-8"))["aliases"][
            "production"
        ]
        == "v2"
    )
    ok(offline(env, repo, "ragwright", "prompts", "rollback", "rag_answer"))
    manifest = yaml.safe_load((repo / "prompts/rag_answer/prompt.yaml").read_text("utf-8"))
    assert manifest["aliases"]["production"] == "v1"
    assert [e["action"] for e in manifest["history"]][-2:] == ["promote", "rollback"]

    shown = json.loads(ok(offline(env, repo / "golden_sets", "ragwright", "config")))
    assert shown["project_root"] == str(repo.resolve())
    assert shown["home"] == str(repo.resolve() / ".ragwright")
    assert not list(repo.glob("*/.ragwright"))
    # a built-in judge prompt is read-only: the command says how to copy it
    refused = offline(env, repo, "ragwright", "prompts", "new", "judge_relevance", "--from", "v1")
    assert refused.returncode == 2
    assert "ragwright prompts copy judge_relevance" in refused.stderr
    assert digest(installed) == before, "a command wrote inside the installed package"

    outside = tmp_path_factory.mktemp("not-a-project")  # tmp_path itself is a test project
    lost = offline(env, outside, "ragwright", "index", "status")
    assert lost.returncode == 2
    assert "ragwright init" in lost.stderr
    assert "Traceback" not in lost.stderr


def test_demo_runs_from_the_wheel(tmp_path: Path, venv: Path, env: dict[str, str]) -> None:
    before = digest(package_dir(venv))
    demo = tmp_path / "demo"
    shown = ok(offline(env, tmp_path, "ragwright", "demo", "--dir", str(demo)))
    assert "gate verdict" in shown
    assert "refused" in shown  # the guardrails step
    assert (demo / "ragwright.toml").is_file()
    assert list((demo / ".ragwright" / "reports").glob("*.html"))
    assert digest(package_dir(venv)) == before
