"""The local MLflow store is created once, however many commands start at the same time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RACER = """
import sys, time
from ragwright.experiments import use_tracking
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
use_tracking(sys.argv[1])
import mlflow
print(len(mlflow.search_experiments()))
"""


def test_first_commands_racing_on_a_fresh_store_all_succeed(tmp_path: Path) -> None:
    """Two `prompts promote` in a fresh project raced MLflow's migrations (alembic traceback)."""
    import time

    uri = f"sqlite:///{tmp_path / 'home' / 'mlflow.db'}"
    start = time.time() + 8  # every process imported mlflow by then
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(r.wait(timeout=120), *r.communicate()) for r in racers]
    for code, out, err in results:
        assert code == 0, err[-2000:]
        assert out.strip() == "1"  # the Default experiment, created exactly once
