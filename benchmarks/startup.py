"""CLI start-up: `ragwright --help` against a bare interpreter, measured in the same run.

Target (Foundation issue): `ragwright --help` answers in under 2 s, which holds only
while heavy libraries (torch, chromadb, mlflow, prefect) are imported inside commands.

    .venv/bin/python benchmarks/startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    python = sys.executable
    baseline = median_seconds([python, "-c", "pass"], runs)
    cases = {
        "ragwright --help": [python, "-m", "ragwright.cli.app", "--help"],
        "import ragwright.rag (lazy)": [python, "-c", "import ragwright.rag"],
        "import chromadb (for scale)": [python, "-c", "import chromadb"],
    }
    print(f"baseline `python -c pass`: median {baseline * 1000:.0f} ms over {runs} runs")
    print(f"{'command':32} {'median ms':>10} {'x baseline':>11}")
    for label, command in cases.items():
        seconds = median_seconds(command, runs)
        print(f"{label:32} {seconds * 1000:10.0f} {seconds / baseline:11.1f}")
    help_seconds = median_seconds(cases["ragwright --help"], runs)
    verdict = "PASS" if help_seconds < 2.0 else "FAIL"
    print(f"target: ragwright --help < 2 s -> {help_seconds:.2f} s {verdict}")


if __name__ == "__main__":
    main()
