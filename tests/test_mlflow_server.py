"""Eval runs, promotion evidence and the prompt registry against a real ``mlflow server``.

``RAGWRIGHT_MLFLOW_TRACKING_URI=http://127.0.0.1:P``, as a team with a shared
tracking server sets it. Artifacts must land in the server's
``--artifacts-destination``, where every client can read them, not on the disk
of the machine that happened to log the run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from ragwright.flows.ingest import ingest
from ragwright.settings import Settings
from tests import conftest
from tests.conftest import write_docs, write_golden
from tests.mlflow_server import MlflowServer, mlflow_server_fixture  # noqa: F401

pytestmark = pytest.mark.slow


@pytest.fixture
def project(
    tmp_path: Path, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """An indexed project whose tracking URI is the server; env for the CLI."""
    # Two cases on a shared 2-core runner: latency is noise here, not what is tested.
    (tmp_path / "ragwright.toml").write_text("[gate]\nlatency_slack_ms = 60000\n")
    write_docs(tmp_path / "docs")
    golden = write_golden(tmp_path / "set.jsonl")
    ingest(Settings(docs_dir=tmp_path / "docs"))
    env = {
        "RAGWRIGHT_MLFLOW_TRACKING_URI": mlflow_server.uri,
        "RAGWRIGHT_GOLDEN_SET": str(golden),
        "RAGWRIGHT_ACTOR": "ci-bot",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = conftest.run_cli(*args, cwd=cwd, env=env)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_gate_promote_sync_and_compare_through_the_server(
    project: dict[str, str], mlflow_server: MlflowServer, tmp_path: Path, isolated_home: Path
) -> None:
    import mlflow
    from mlflow import MlflowClient

    assert cli("prompts", "new", "rag_answer", "--from", "v1", cwd=tmp_path, env=project)
    published = cli("prompts", "publish", "rag_answer", "v3", cwd=tmp_path, env=project)
    assert published.returncode == 0, published.stderr
    v3_hash = published.stdout.split()[-1]

    gate = cli("eval", "gate", "--candidate", "rag_answer@v3", cwd=tmp_path, env=project)
    assert gate.returncode == 0, gate.stdout + gate.stderr

    # both runs are on the server, with their artifacts in its artifact store
    client = MlflowClient(mlflow_server.uri)
    experiment = client.get_experiment_by_name("ragwright-evals")
    assert experiment is not None
    assert experiment.artifact_location.startswith("mlflow-artifacts:")
    runs = client.search_runs(
        [experiment.experiment_id], filter_string="params.golden_set = 'set'", max_results=50
    )
    candidate = next(r for r in runs if r.data.params["prompt_hash"] == v3_hash)
    baseline = next(r for r in runs if r.data.params["prompt"] == "rag_answer@v1")  # production
    assert candidate.data.metrics["gate_passed"] == 1.0
    stored = list((mlflow_server.root / "artifacts").rglob("run.json"))
    assert any(candidate.info.run_id in str(p) for p in stored)
    assert not (isolated_home / "artifacts").exists()  # nothing written beside the client

    # promotion finds the evidence on the server and mirrors to its prompt registry
    promoted = cli("prompts", "promote", "rag_answer", "v3", cwd=tmp_path, env=project)
    assert promoted.returncode == 0, promoted.stderr
    assert f"evidence {candidate.info.run_id}" in promoted.stdout
    assert "mirrored to MLflow registry" in promoted.stdout
    manifest = yaml.safe_load((tmp_path / "prompts" / "rag_answer" / "prompt.yaml").read_text())
    assert manifest["history"][-1]["evidence"] == candidate.info.run_id
    mlflow.set_tracking_uri(mlflow_server.uri)
    served = mlflow.genai.load_prompt("prompts:/rag_answer@production")
    assert served.tags["ragwright.version"] == "v3"
    assert served.tags["ragwright.eval_run"] == candidate.info.run_id

    synced = cli("prompts", "sync", cwd=tmp_path, env=project)
    assert synced.returncode == 0, synced.stderr
    assert "rag_answer" in synced.stdout

    # compare reads both runs back from the server alone
    compared = cli(
        "eval", "compare", baseline.info.run_id, candidate.info.run_id, cwd=tmp_path, env=project
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert "gate verdict" in compared.stdout


def test_compare_of_an_unknown_run_is_one_line(
    project: dict[str, str], mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    missing = cli("eval", "compare", "0" * 32, "1" * 32, cwd=tmp_path, env=project)
    assert missing.returncode == 2
    assert mlflow_server.uri in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
