"""One-shot CLI commands, run as the real `ragwright` in a subprocess: medians against targets.

Targets (issue 14, wall time, warm disk cache): `index run` with nothing changed <= 2 s;
`ask` cold with local models <= 5 s; `prompts list/show/lint`, `costs report`,
`eval compare` <= 1.5 s. Baselines measured in the same run: `python -c pass`,
`ragwright --help`, and `ask` with `RAGWRIGHT_EMBEDDING_ONNX=false` (MiniLM through
sentence-transformers and torch, as before the ONNX runtime; its answer must equal the
ONNX one, which the benchmark checks). Commands run interleaved (every command once per round), so a
busy machine slows all of them alike; each row prints its median and its ratio to
the `python -c pass` baseline.

Set-up (not timed): `ragwright demo` in a temporary folder, which ingests, answers,
evaluates two prompt versions (two MLflow runs for `eval compare`) and records costs;
its answer writes MiniLM's ONNX export under `.ragwright/cache/onnx`, which every timed
`ask` then starts from (set-up checks it is there).

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


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the child (user + system), and its stdout."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if done.returncode not in (0, 1):  # eval compare exits 1 when the candidate is worse
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr}")
    return seconds, cpu, done.stdout


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
    if not list((project / ".ragwright" / "cache" / "onnx").glob("*/model.onnx")):
        raise SystemExit("the demo left no ONNX export under .ragwright/cache/onnx")

    cases: dict[str, tuple[list[str], float | None]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], None),
        "ragwright --help": (ragwright("--help"), None),
        "index run (nothing changed)": (ragwright("index", "run"), 2.0),
        "ask (cold, local models)": (ragwright("ask", QUESTION, "--json"), 5.0),
        "ask (cold, torch runtime)": (ragwright("ask", QUESTION, "--json"), None),
        "prompts list": (ragwright("prompts", "list"), 1.5),
        "prompts show": (ragwright("prompts", "show", "rag_answer:production"), 1.5),
        "prompts lint": (ragwright("prompts", "lint"), 1.5),
        "costs report": (ragwright("costs", "report"), 1.5),
        "eval compare": (ragwright("eval", "compare", run_a, run_b), 1.5),
    }
    torch_env = {**env, "RAGWRIGHT_EMBEDDING_ONNX": "false"}
    samples: dict[str, list[float]] = {label: [] for label in cases}
    cpu: dict[str, list[float]] = {label: [] for label in cases}
    latency: dict[str, list[float]] = {"onnx": [], "torch": []}
    load: dict[str, list[float]] = {"onnx": [], "torch": []}
    answers: dict[str, set[str]] = {"onnx": set(), "torch": set()}
    for _ in range(options.rounds):
        for label, (command, _target) in cases.items():
            runtime = "torch" if "torch" in label else "onnx"
            seconds, used, out = timed(command, project, torch_env if runtime == "torch" else env)
            samples[label].append(seconds)
            cpu[label].append(used)
            if label.startswith("ask"):
                answer = json.loads(out)
                latency[runtime].append(answer["latency_ms"])
                load[runtime].append(answer["load_ms"])
                contexts = [(c["chunk_id"], round(c["score"], 3)) for c in answer["contexts"]]
                answers[runtime].add(json.dumps([answer["answer"], answer["citations"], contexts]))
    baseline = statistics.median(samples["python -c pass"])
    print(f"{options.rounds} rounds, interleaved; medians; project {project}")
    print(f"{'command':30} {'median s':>9} {'cpu s':>7} {'x python':>9} {'target':>8}  verdict")
    for label, (_command, target) in cases.items():
        median = statistics.median(samples[label])
        verdict = "" if target is None else ("PASS" if median <= target else "FAIL")
        shown = "" if target is None else f"<= {target:g} s"
        used = statistics.median(cpu[label])
        ratio = median / baseline
        print(f"{label:30} {median:9.2f} {used:7.2f} {ratio:9.1f} {shown:>8}  {verdict}")
    for runtime in ("onnx", "torch"):
        print(
            f"ask ({runtime}): latency_ms median {statistics.median(latency[runtime]):.0f}"
            f" (the call), model load median {statistics.median(load[runtime]):.0f} ms"
            " (reported apart)"
        )
    same = len(answers["onnx"]) == 1 and answers["onnx"] == answers["torch"]
    print(f"ask: same answer, citations and contexts through both runtimes: {same}")


if __name__ == "__main__":
    main()
