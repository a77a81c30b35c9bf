"""A real ``mlflow server`` on 127.0.0.1 for tests: SQLite backend, proxied artifacts.

Teams point ``RAGWRIGHT_MLFLOW_TRACKING_URI`` at a shared server; what works
against a local ``sqlite:///`` file does not always work over HTTP (artifact
locations, the prompt registry's REST API). The server runs in its own process
group for the session and is stopped with it::

    with MlflowServer.start(tmp) as server:
        server.uri   # http://127.0.0.1:PORT

In pytest, import ``mlflow_server_fixture`` and request ``mlflow_server``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postgres_server import free_port

__all__ = ["MlflowServer", "mlflow_server_fixture"]


@dataclass
class MlflowServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, root: Path, *, timeout_s: float = 120.0) -> MlflowServer:
        root.mkdir(parents=True, exist_ok=True)
        port = free_port()
        mlflow = Path(sys.executable).with_name("mlflow")
        command = [str(mlflow) if mlflow.exists() else "mlflow", "server"]
        command += ["--backend-store-uri", f"sqlite:///{root / 'backend.db'}"]
        command += ["--artifacts-destination", str(root / "artifacts")]
        command += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        log = (root / "server.log").open("wb")
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
        process = subprocess.Popen(
            command, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        server = cls(root, port, process)
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {server.log_tail()}")
            try:
                with urllib.request.urlopen(f"{server.uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return server
            except OSError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"mlflow server not healthy in {timeout_s} s")
            time.sleep(0.3)

    def log_tail(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # uvicorn and its workers
            try:
                self.process.wait(timeout=3)  # a throwaway store: no graceful drain needed
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture(scope="session", name="mlflow_server")
def mlflow_server_fixture() -> Iterator[MlflowServer]:
    root = Path(tempfile.mkdtemp(prefix="ragwright-mlflow-"))
    server = MlflowServer.start(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
