"""The ``ragwright`` command as users run it: exit codes, messages, stores left untouched."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import network_can_be_cut, run_cli, write_docs, write_golden


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm", ".lock"))  # locks: not state
    }


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys; from ragwright.cli.app import app; "
        "heavy = {'torch', 'chromadb', 'mlflow', 'prefect', 'sentence_transformers',"
        " 'langchain_core'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "argv",
    [
        ["prompts", "list"],
        ["prompts", "show", "rag_answer@v1"],
        ["prompts", "lint"],
        ["prompts", "history", "rag_answer"],
        ["costs", "report"],
        ["costs", "check"],
        ["index", "status"],
    ],
    ids=" ".join,
)
def test_one_shot_commands_import_no_heavy_library(argv: list[str], tmp_path: Path) -> None:
    """These answer in about a second only while torch, Chroma, MLflow and Prefect stay out."""
    code = (
        "import atexit, sys\n"
        "heavy = ('torch', 'chromadb', 'mlflow', 'prefect', 'sentence_transformers')\n"
        "atexit.register(lambda: print('heavy:', sorted(m for m in heavy if m in sys.modules)))\n"
        "sys.argv = ['ragwright', *sys.argv[1:]]\n"
        "from ragwright.cli.app import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "heavy: []", done.stdout + done.stderr


def test_help_lists_command_groups(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for group in ("index", "prompts", "eval", "costs", "demo", "config", "ask"):
        assert group in result.stdout


def test_config_masks_secrets(tmp_path: Path) -> None:
    result = run_cli("config", cwd=tmp_path, env={"RAGWRIGHT_OPENAI_API_KEY": "sk-live-123"})
    assert result.returncode == 0
    assert "sk-live-123" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["openai_api_key"] == "**********"


def test_invalid_setting_exits_2_naming_the_field(tmp_path: Path) -> None:
    result = run_cli("config", cwd=tmp_path, env={"RAGWRIGHT_TOP_K": "zero"})
    assert result.returncode == 2
    assert "top_k" in result.stderr


@pytest.fixture
def built(tmp_path: Path, isolated_home: Path) -> Path:
    """A project folder with an index built by `ragwright index run`."""
    write_docs(tmp_path / "docs")
    result = run_cli("index", "run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "documents loaded" in result.stdout
    return tmp_path


@pytest.mark.slow
def test_bad_inputs_exit_2_and_change_nothing(built: Path, isolated_home: Path) -> None:
    before = tree_digest(isolated_home)
    golden = built / "bad.jsonl"
    golden.write_text('{"id": "a", "question": "ok?"}\n{oops\n', encoding="utf-8")
    result = run_cli("eval", "run", "--golden-set", str(golden), "--no-mlflow", cwd=built)
    assert result.returncode == 2
    assert f"{golden}:2" in result.stderr
    assert "not valid JSON" in result.stderr

    golden.write_text('{"id": "a", "question": "ok?"}\n{"id": "b"}\n', encoding="utf-8")
    result = run_cli("eval", "run", "--golden-set", str(golden), "--no-mlflow", cwd=built)
    assert result.returncode == 2
    assert f"{golden}:2 (field 'question')" in result.stderr

    result = run_cli("index", "run", "--docs", str(built / "missing"), cwd=built)
    assert result.returncode == 2
    assert "does not exist" in result.stderr

    result = run_cli("demo", "--dir", str(golden), cwd=built)  # a file, not a folder
    assert result.returncode == 2
    assert f"{golden}: not a folder" in result.stderr

    result = run_cli("prompts", "render", "rag_answer@v1", "--input", "question=hi", cwd=built)
    assert result.returncode == 2
    assert "contexts" in result.stderr

    assert tree_digest(isolated_home) == before


@pytest.mark.slow
def test_ask_query_status_costs(built: Path) -> None:
    result = run_cli("ask", "How do I roll back the production prompt?", cwd=built)
    assert result.returncode == 0, result.stderr
    assert "rollback.md" in result.stdout
    result = run_cli("index", "query", "tomatoes sun", "-k", "2", "--hybrid", cwd=built)
    assert result.returncode == 0
    assert "gardening.txt" in result.stdout
    result = run_cli("index", "status", cwd=built)
    assert result.returncode == 0
    assert "yes" in result.stdout
    assert " unchanged" in result.stdout
    result = run_cli("costs", "report", "--by", "prompt", "--format", "json", cwd=built)
    assert result.returncode == 0
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["rag_answer@v1"]["calls"] == 1
    assert rows["rag_answer@v1"]["cost_usd"] == 0.0


@pytest.mark.slow
def test_eval_gate_logs_to_mlflow(built: Path, isolated_home: Path) -> None:
    import mlflow

    golden = built / "set.jsonl"
    write_golden(golden)
    result = run_cli(
        "eval", "gate", "--candidate", "rag_answer@v1", "--golden-set", str(golden), cwd=built
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = next((isolated_home / "reports").glob("eval-*.md")).read_text()
    assert "gate passed" in report
    assert "rag_answer@v1" in report
    mlflow.set_tracking_uri(f"sqlite:///{isolated_home / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["ragwright-evals"], output_format="list")
    assert len(runs) == 2
    params = runs[0].data.params
    assert params["prompt"] == "rag_answer@v1"
    assert params["golden_set_hash"].startswith("sha256:")
    assert "index_version" in params
    assert "gate_passed" in runs[0].data.metrics | runs[1].data.metrics
    assert params["judge_prompts"] == "none (local judge)"

    # Re-gate the two logged runs from MLflow alone: no model call, same verdict.
    baseline, candidate = sorted(runs, key=lambda r: r.info.start_time)
    compared = run_cli("eval", "compare", baseline.info.run_id, candidate.info.run_id, cwd=built)
    assert compared.returncode == 0, compared.stderr
    assert "gate verdict" in compared.stdout
    missing = run_cli("eval", "compare", "nope", candidate.info.run_id, cwd=built)
    assert missing.returncode == 2
    assert "has no ragwright eval run" in missing.stderr
    # a local store is read without importing MLflow (seconds of `eval compare`)
    code = (
        "import sys; from ragwright.settings import load_settings;"
        " from ragwright.evals.tracking import load_run;"
        f" run = load_run(load_settings(), {candidate.info.run_id!r});"
        " print(run.prompt, 'mlflow' in sys.modules)"
    )
    direct = subprocess.run(
        [sys.executable, "-c", code], cwd=built, capture_output=True, text=True, check=True
    )
    assert direct.stdout.split() == ["rag_answer@v1", "False"]


@pytest.mark.slow
@pytest.mark.network_cut
@pytest.mark.skipif(not network_can_be_cut(), reason="unshare -n is not permitted here")
def test_demo_runs_with_the_network_cut(tmp_path: Path, isolated_home: Path) -> None:
    """The demo's whole path with no network at all, in a project it scaffolds itself."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-tiktoken-cache"),
        "HF_HOME": str(tmp_path / "empty-hf-home"),
    }
    demo = tmp_path / "elsewhere" / "demo"
    command = f"ip link set lo up && {sys.executable} -m ragwright.cli.app demo --dir {demo}"
    result = subprocess.run(
        ["unshare", "-n", "sh", "-c", command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (demo / "ragwright.toml").is_file()
    assert (demo / "prompts" / "rag_answer" / "v2.jinja2").is_file()
    assert "gate verdict" in result.stdout
    assert "hallucination rate" in result.stdout
    assert "refused" in result.stdout  # the guardrails step blocks the injection
    assert "the model saw: I am <EMAIL_ADDRESS>, card <CREDIT_CARD>" in result.stdout
    assert (isolated_home / "mlflow.db").exists()
    assert list((isolated_home / "reports").glob("*.html"))


@pytest.mark.slow
def test_wheel_has_one_top_level_package(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"ragwright"}
    for needed in (
        "ragwright/rag/chain.py",
        "ragwright/evals/gate.py",
        "ragwright/prompts/builtin/judge_relevance/v1.jinja2",
        "ragwright/prompts/builtin/judge_relevance/prompt.yaml",
        "ragwright/evals/templates/report.html.jinja2",
        "ragwright/evals/judges/local_weights.json",
        "ragwright/evals/judges/local_calibration.json",  # the record a fresh project cites
        "ragwright/guardrails/injection_weights.json",
        "ragwright/pricing.yaml",
        "ragwright/flows/ingest.py",
        "ragwright/guardrails/__init__.py",
        "ragwright/scaffold/template/ragwright.toml",
        "ragwright/scaffold/template/workflow.yml",
        "ragwright/scaffold/template/prompts/rag_answer/v1.jinja2",
        "ragwright/scaffold/template/demo/rag_answer_v2.jinja2",
        "ragwright/scaffold/template/golden_sets/starter.jsonl",
        "ragwright/scaffold/template/docs/getting-started.md",
    ):
        assert needed in names
    # this repository's own prompts are project data, not package data
    assert not [n for n in names if n.startswith("ragwright/prompts/rag_answer/")]
