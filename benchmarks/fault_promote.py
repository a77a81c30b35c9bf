"""Concurrent promotions: how many survive when two `ragwright prompts promote` run at once.

    .venv/bin/python benchmarks/fault_promote.py [--rounds 10] [--parallel 2]

Each round starts `--parallel` real CLI processes together, each forcing a promotion
of rag_answer@v2 to its own alias (`--force --reason x`), in a fresh temporary
project. Every promotion exited 0, so every one must be in prompt.yaml afterwards:
its alias, and its history entry. Before the store lock, each process's
read-modify-write of prompt.yaml overwrote the other's (10 of 20 lost); the target
is all of them kept. Run it with another checkout first on PYTHONPATH to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def make_project(folder: Path) -> None:
    (folder / "ragwright.toml").write_text("# fault_promote benchmark\n", encoding="utf-8")
    shutil.copytree(REPO / "prompts" / "rag_answer", folder / "prompts" / "rag_answer")
    (folder / "golden_sets").mkdir()
    case = {"id": "a", "question": "How do I roll back?", "expected_sources": ["a.md"]}
    (folder / "golden_sets" / "starter.jsonl").write_text(json.dumps(case) + "\n", "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    project = Path(tempfile.mkdtemp(prefix="ragwright-fault-promote-"))
    make_project(project)
    env = {**os.environ, "RAGWRIGHT_HOME": str(project / "home"), "NO_COLOR": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("RAGWRIGHT_") or k == "RAGWRIGHT_HOME"}

    def promote(alias: str) -> subprocess.Popen[str]:
        command = ["prompts", "promote", "rag_answer", "v2", "--to", alias, "--force"]
        return subprocess.Popen(
            [sys.executable, "-m", "ragwright.cli.app", *command, "--reason", "x"],
            cwd=project,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    # One promotion alone first: it creates the MLflow database that evidence lookups
    # read. Two processes creating it at once race in MLflow's own migrations, which
    # is not what this benchmark measures.
    if promote("warm_up").wait(timeout=300):
        print("warm-up promotion failed", file=sys.stderr)
        return 1
    started = time.perf_counter()
    exits: list[int] = []
    wanted: list[str] = []
    for round_ in range(args.rounds):
        aliases = [f"r{round_}_p{i}" for i in range(args.parallel)]
        processes = [promote(alias) for alias in aliases]
        for process in processes:
            _, stderr = process.communicate(timeout=300)
            exits.append(process.returncode)
            if process.returncode:
                print(f"  exit {process.returncode}: {stderr.strip()}", file=sys.stderr)
        wanted += aliases
    import yaml

    manifest = yaml.safe_load((project / "prompts" / "rag_answer" / "prompt.yaml").read_text())
    aliases_kept = sum(1 for a in wanted if manifest["aliases"].get(a) == "v2")
    history = {e.get("alias") for e in manifest["history"] if e["action"] == "promote"}
    history_kept = sum(1 for a in wanted if a in history)
    total = len(wanted)
    print(f"{args.rounds} rounds x {args.parallel} concurrent `ragwright prompts promote`")
    print(f"exit 0: {exits.count(0)}/{total}")
    print(f"promotions kept {aliases_kept}/{total} (history entries kept {history_kept}/{total})")
    print(f"wall time {time.perf_counter() - started:.1f} s; project {project}")
    shutil.rmtree(project, ignore_errors=True)
    return 0 if aliases_kept == history_kept == total else 1


if __name__ == "__main__":
    sys.exit(main())
