"""Scheduled reindexing: cron validation, the deployment we register, and a real served run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragwright.errors import ConfigError
from ragwright.flows.schedule import build_deployment, validate_cron
from ragwright.settings import load_settings
from tests.conftest import REPO

DEPLOYMENT = "ragwright-ingest/ragwright-reindex"
NEVER_DURING_TEST = "0 0 1 1 *"  # midnight on January 1st


@pytest.mark.parametrize(
    "cron", ["", "* * *", "61 * * * *", "0 0 * * * *", "H * * * *", "every hour", "@bogus"]
)
def test_bad_cron_raises_config_error(cron: str) -> None:
    with pytest.raises(ConfigError, match="invalid cron expression"):
        validate_cron(cron)
    with pytest.raises(ConfigError, match="minute \\(0-59\\)"):
        build_deployment(load_settings(), cron=cron)


@pytest.mark.parametrize("cron", ["0 * * * *", "*/15 * * * *", "30 2 * * 1-5", "@daily"])
def test_good_cron_is_accepted(cron: str) -> None:
    assert validate_cron(f" {cron} ") == cron


def test_deployment_carries_cron_and_parameters_but_no_secret(tmp_path: Path) -> None:
    settings = load_settings(openai_api_key="sk-must-not-leak", collection="kb")
    deployment = build_deployment(
        settings, cron="15 3 * * *", name="nightly", docs_dir=Path("docs")
    )
    assert deployment.flow_name == "ragwright-ingest"
    assert deployment.name == "nightly"
    assert deployment.tags == ["ragwright"]
    assert deployment.entrypoint == "ragwright.flows.ingest.ingest_flow"  # cwd-independent
    [schedule] = deployment.schedules or []
    assert getattr(schedule.schedule, "cron", None) == "15 3 * * *"
    params = deployment.parameters
    assert params["docs_dir"] == str(tmp_path / "docs")  # absolute
    assert params["settings"]["collection"] == "kb"
    assert params["settings"]["home"] == str(tmp_path / "home")
    dumped = json.dumps(params)
    assert "sk-must-not-leak" not in dumped
    assert "openai_api_key" not in dumped


def test_cli_rejects_bad_cron_with_exit_code_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ragwright.cli.app", "index", "schedule", "--cron", "61 * * * *"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "invalid cron expression '61 * * * *'" in result.stderr


def test_prefect_yaml_is_a_valid_project_file() -> None:
    project = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    [deployment] = project["deployments"]
    assert deployment["name"] == "ragwright-reindex"
    assert deployment["work_pool"]["name"] == "ragwright-pool"
    assert deployment["parameters"] == {"rebuild": False}
    # a module path: `prefect deploy` imports the installed flow from any project folder
    from prefect.flows import load_flow_from_entrypoint

    assert load_flow_from_entrypoint(deployment["entrypoint"]).name == "ragwright-ingest"
    [schedule] = deployment["schedules"]
    assert validate_cron(schedule["cron"]) == "0 * * * *"


# --- the real thing: a Prefect server, a served deployment, a triggered run ---------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def background(
    args: list[str], *, cwd: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``args`` in its own process group; always kill the whole group on exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield proc
        finally:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if proc.poll() is not None:
                    break
                with suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
            with suppress(ProcessLookupError):  # children the leader left behind
                os.killpg(proc.pid, signal.SIGKILL)


def wait_for(
    what: str,
    check: Callable[[], Any],
    *,
    timeout: float,
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]],
) -> Any:
    """Poll ``check`` until it returns something truthy; fail early if a process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for label, (proc, log) in procs.items():
            if proc.poll() is not None:
                pytest.fail(
                    f"{label} exited with {proc.returncode} while waiting for {what}:\n" + tail(log)
                )
        result = check()
        if result:
            return result
        time.sleep(0.5)
    logs = "\n".join(f"--- {label}\n{tail(log)}" for label, (_, log) in procs.items())
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log.exists() else ""


def api_healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@pytest.mark.slow
def test_served_schedule_runs_ingestion_on_trigger(
    tmp_path: Path, isolated_home: Path, small_docs: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from ragwright.rag.records import IndexRecords

    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PREFECT_API_") and key != "PREFECT_PROFILE"
    }
    base_env |= {
        "PREFECT_HOME": str(tmp_path / "prefect"),  # database: PREFECT_HOME/prefect.db
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    prefect_cli = [sys.executable, "-m", "prefect"]
    server_cmd = [*prefect_cli, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    serve_cmd = [sys.executable, "-m", "ragwright.cli.app", "index", "schedule"]
    serve_cmd += ["--cron", NEVER_DURING_TEST, "--docs", str(small_docs)]
    serve_env = base_env | {
        "PREFECT_API_URL": api_url,
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "RAGWRIGHT_HOME": str(isolated_home),
        "RAGWRIGHT_OPENAI_API_KEY": "sk-served-secret",
        "PYTHONUNBUFFERED": "1",
    }

    with background(server_cmd, cwd=tmp_path, env=base_env, log=server_log) as server:
        procs = {"prefect server": (server, server_log)}
        wait_for("GET /api/health", lambda: api_healthy(api_url), timeout=60, procs=procs)
        with (
            background(serve_cmd, cwd=tmp_path, env=serve_env, log=serve_log) as served,
            temporary_settings(updates={PREFECT_API_URL: api_url}),
        ):
            procs["ragwright index schedule"] = (served, serve_log)

            def registered() -> Any:
                with get_client(sync_client=True) as client:
                    try:
                        return client.read_deployment_by_name(DEPLOYMENT)
                    except ObjectNotFound:
                        return None

            deployment = wait_for("the deployment", registered, timeout=60, procs=procs)
            printed = serve_log.read_text(encoding="utf-8")
            assert f"serving {DEPLOYMENT} · cron '{NEVER_DURING_TEST}'" in printed
            assert f"Prefect API {api_url}" in printed
            assert [s.schedule.cron for s in deployment.schedules] == [NEVER_DURING_TEST]
            assert "sk-served-secret" not in json.dumps(deployment.parameters)

            flow_run = run_deployment(name=DEPLOYMENT, timeout=120, poll_interval=1)
            assert isinstance(flow_run, FlowRun)  # the sync dispatch, not a coroutine
            assert flow_run.state is not None
            assert flow_run.state.is_completed(), (
                f"{flow_run.state!r}\n--- served process\n{tail(serve_log)}"
            )

    assert (isolated_home / "index.db").exists()
    records = IndexRecords(isolated_home / "index.db")
    try:
        summary = records.last_run()
    finally:
        records.close()
    assert summary is not None
    assert summary["docs_new"] == 4
    assert summary["docs_failed"] == 0
