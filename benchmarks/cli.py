"""One-shot CLI commands, run as the real `ragwright` in a subprocess: medians against targets.

Targets (issue 14, wall time, warm disk cache): `index run` with nothing changed <= 2 s;
`ask` cold with local models <= 5 s; `prompts list/show/lint`, `costs report`,
`eval compare` <= 1.5 s. Baselines measured in the same run: `python -c pass` and
`ragwright --help`. Commands run interleaved (every command once per round), so a
busy machine slows all of them alike; each row prints its median and its ratio to
the `python -c pass` baseline.

Set-up (not timed): `ragwright demo` in a temporary folder, which ingests, answers,
evaluates two prompt versions (two MLflow runs for `eval compare`) and records costs.

    .venv/bin/python benchmarks/cli.py [--rounds 5] [--dir PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTION = "How do I roll back the production prompt?"


def ragwright(*args: str) -> list[str]:
    return [sys.executable, "-m", "ragwright.cli.app", *args]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):  # eval compare exits 1 when the candidate is worse
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return seconds, done.stdout


def eval_run_ids(project: Path) -> tuple[str, str]:
    conn = sqlite3.connect(project / ".ragwright" / "mlflow.db")
    try:
        rows = conn.execute(
            "SELECT run_uuid FROM runs WHERE status = 'FINISHED' ORDER BY start_time DESC LIMIT 2"
        ).fetchall()
    finally:
        conn.close()
    if len(rows) < 2:
        raise SystemExit("the demo logged fewer than two MLflow runs")
    return rows[1][0], rows[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="demo project to reuse (made when missing)")
    options = parser.parse_args()
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    env.pop("RAGWRIGHT_HOME", None)
    project = options.dir or Path(tempfile.mkdtemp(prefix="ragwright-cli-bench-")) / "demo"
    if not (project / ".ragwright" / "mlflow.db").is_file():
        print(f"set-up: ragwright demo --dir {project} (not timed)", flush=True)
        subprocess.run(
            ragwright("demo", "--dir", str(project)), env=env, check=True, capture_output=True
        )
    subprocess.run(ragwright("index", "run"), cwd=project, env=env, check=True, capture_output=True)
    run_a, run_b = eval_run_ids(project)

    cases: dict[str, tuple[list[str], float | None]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "ragwright --help": (ragwright("--help"), None),
        "index run (nothing changed)": (ragwright("index", "run"), 2.0),
        "ask (cold, local models)": (ragwright("ask", QUESTION, "--json"), 5.0),
        "prompts list": (ragwright("prompts", "list"), 1.5),
        "prompts show": (ragwright("prompts", "show", "rag_answer:production"), 1.5),
        "prompts lint": (ragwright("prompts", "lint"), 1.5),
        "costs report": (ragwright("costs", "report"), 1.5),
        "eval compare": (ragwright("eval", "compare", run_a, run_b), 1.5),
    }
    samples: dict[str, list[float]] = {label: [] for label in cases}
    latency, load = [], []
    for _ in range(options.rounds):
        for label, (command, _target) in cases.items():
            seconds, out = timed(command, project, env)
            samples[label].append(seconds)
            if label.startswith("ask"):
                answer = json.loads(out)
                latency.append(answer["latency_ms"])
                load.append(answer["load_ms"])
    baseline = statistics.median(samples["python -c pass"])
    print(f"{options.rounds} rounds, interleaved; medians; project {project}")
    print(f"{'command':30} {'median s':>9} {'x python':>9} {'target':>8}  verdict")
    for label, (_command, target) in cases.items():
        median = statistics.median(samples[label])
        verdict = "" if target is None else ("PASS" if median <= target else "FAIL")
        shown = "" if target is None else f"<= {target:g} s"
        print(f"{label:30} {median:9.2f} {median / baseline:9.1f} {shown:>8}  {verdict}")
    print(
        f"ask: latency_ms median {statistics.median(latency):.0f} (the call),"
        f" model load median {statistics.median(load):.0f} ms (reported apart)"
    )


if __name__ == "__main__":
    main()
