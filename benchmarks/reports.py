"""Cost and monitoring reports at 100,000 and 1,000,000 rows: library call and one-shot CLI.

    PYTHONPATH=. .venv/bin/python benchmarks/reports.py [--sizes 100000 1000000] [--rounds 5]

Fills a temporary project per size (``.ragwright/costs.db`` and ``traces.db``,
SQLite, migrated by the stores themselves) with generated calls and traces
shaped like production ones: 90 days, several providers and models, twenty
prompt versions, one or two tags, 2 % failures, unpriced local models, 30 %
streamed; traces carry their spans, answer and three retrieved contexts
(about 2 KB each). The files are made once per run, reused by every round and
deleted at the end (``--keep`` keeps them: 2.4 GB at 1,000,000 rows).

Then, round after round (the order of the reports rotates each round, so load
on a shared machine falls on all of them alike), times every grouping of
``costs report`` and ``monitor report`` plus ``monitor check``: the library call
(open the store, aggregate, close) and the real command as a subprocess
(interpreter start, imports, settings, query, printing). Prints medians (wall
seconds, CPU seconds beside them), the growth ratio 1M/100k, and the target
(the command <= 1 s at 100,000 rows) beside each. ``--reference`` also times
the in-memory Python aggregation the stores used before (one round, 100k only).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
COST_GROUPINGS = ("model", "day", "prompt", "operation", "tag")
MONITOR_GROUPINGS = ("day", "prompt", "index")
MODELS = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"),
    ("openai", "text-embedding-3-small"), ("anthropic", "claude-3-5-haiku"),
    ("ollama", "llama3.1"), ("local", "extractive"),
]  # fmt: skip
PROMPTS = [
    f"{name}@v{v}"
    for name in ("rag_answer", "judge", "relevance", "summary", "route")
    for v in "1234"
]
SPAN_S = 90 * 86_400


def _timestamps(n: int) -> Iterator[str]:
    start = datetime.now(UTC) - timedelta(seconds=SPAN_S)
    step = SPAN_S / n
    for i in range(n):
        yield (start + timedelta(seconds=i * step)).isoformat(timespec="milliseconds")


def cost_rows(n: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """Rows in ``ragwright.costs.store.COLUMNS`` order."""
    rng = random.Random(seed)
    tag_sets = [json.dumps({"team": t}) for t in "abc"]
    tag_sets += [json.dumps({"env": e, "team": t}) for e in ("prod", "staging") for t in "abc"]
    for ts in _timestamps(n):
        provider, model = MODELS[rng.randrange(len(MODELS))]
        unpriced = provider in ("ollama", "local") and rng.random() < 0.5
        failed = rng.random() < 0.02
        yield (
            ts, provider, model, ("generate", "generate", "judge", "embed")[rng.randrange(4)],
            PROMPTS[rng.randrange(len(PROMPTS))] if rng.random() > 0.1 else None,
            rng.randint(100, 2000), rng.randint(10, 400), int(rng.random() < 0.05),
            rng.lognormvariate(6, 0.5), None if unpriced else rng.random() / 1000,
            "error" if failed else "ok", "APITimeoutError" if failed else None, 0,
            tag_sets[rng.randrange(len(tag_sets))],
            rng.lognormvariate(5, 0.5) if rng.random() < 0.3 else None,
        )  # fmt: skip


def trace_rows(n: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    context = {"chunk_id": "c", "source": "docs/guide.md", "score": 0.7, "text": "lorem " * 60}
    contexts = json.dumps([context] * 3)
    answer = "An answer that cites its sources [1][2]. " * 8
    spans = json.dumps({"guard_in": 1.2, "retrieve": 35.1, "render": 0.4, "generate": 612.0})
    for i, ts in enumerate(_timestamps(n)):
        failed = rng.random() < 0.03
        scored = not failed and rng.random() < 0.6
        row: dict[str, Any] = {
            "request_id": f"req-{i:08d}", "ts": ts, "question": f"How do I do thing {i % 500}?",
            "prompt": PROMPTS[rng.randrange(4)], "index_version": f"idx-{1 + i * 4 // n}",
            "model": "openai/gpt-4o-mini", "spans": spans,
        }  # fmt: skip
        if failed:
            row |= {"error": "upstream timed out", "error_type": "ProviderTimeoutError"}
        else:
            row |= {
                "prompt_tokens": rng.randint(300, 3000), "completion_tokens": rng.randint(20, 400),
                "cost_usd": rng.random() / 1000, "latency_ms": rng.lognormvariate(6.5, 0.4),
                "answered": int(rng.random() < 0.9), "answer": answer, "citations": "[1, 2]",
                "contexts": contexts, "top_score": rng.random(), "findings": "[]",
                "feedback": rng.choice((None,) * 8 + (1, -1)),
            }  # fmt: skip
        if scored:
            row |= {
                "eval_status": "scored", "hallucination": rng.random(),
                "hallucinated": int(rng.random() < 0.1), "relevance": rng.randint(1, 5),
                "judge": "local", "scored_at": ts,
            }  # fmt: skip
        yield row


def build_project(folder: Path, n: int) -> None:
    """A project whose stores hold ``n`` calls and ``n`` traces (schema by the stores)."""
    from ragwright.costs.store import COLUMNS, CostStore
    from ragwright.traces.store import TraceStore, traces

    home = folder / ".ragwright"
    home.mkdir(parents=True)
    (folder / "ragwright.toml").write_text("[monitor]\nmax_p95_latency_ms = 5000\n")
    CostStore(home / "costs.db").close()
    TraceStore(f"sqlite:///{home / 'traces.db'}").close()
    names = [c.name for c in traces.columns]
    for path, sql, rows in (
        (
            home / "costs.db",
            f"INSERT INTO calls ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            cost_rows(n),
        ),
        (
            home / "traces.db",
            f"INSERT INTO ragwright_traces ({', '.join(names)})"
            f" VALUES ({', '.join(':' + c for c in names)})",
            ({c: r.get(c) for c in names} for r in trace_rows(n)),
        ),
    ):
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
        conn.close()


def library_calls(folder: Path) -> dict[str, Callable[[], object]]:
    """Each report as a library call: open the store, aggregate, close."""
    from ragwright.costs.store import CostStore
    from ragwright.settings import MonitorSettings
    from ragwright.traces.aggregate import store_report
    from ragwright.traces.check import check_store
    from ragwright.traces.store import open_trace_store

    home = folder / ".ragwright"

    def cost(by: str) -> Callable[[], object]:
        def run() -> object:
            store = CostStore(home / "costs.db")
            try:
                return store.group(by)  # type: ignore[arg-type]
            finally:
                store.close()

        return run

    def monitor(by: str) -> Callable[[], object]:
        def run() -> object:
            store = open_trace_store(home / "traces.db")
            try:
                return store_report(store, by=by)
            finally:
                store.close()

        return run

    def check() -> object:
        store = open_trace_store(home / "traces.db")
        since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        try:
            return check_store(store, MonitorSettings(max_p95_latency_ms=5000), since=since)
        finally:
            store.close()

    calls = {f"costs report --by {by}": cost(by) for by in COST_GROUPINGS}
    calls |= {f"monitor report --by {by}": monitor(by) for by in MONITOR_GROUPINGS}
    return calls | {"monitor check": check}


def timed_call(fn: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_cli(folder: Path, name: str) -> tuple[float, float]:
    """The real command in a fresh interpreter: wall and the child's CPU seconds."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ragwright.cli.app", *name.split()],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        check=False,
    )  # fmt: skip
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # monitor check exits 1 when a threshold is crossed
        raise SystemExit(f"{name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def reference(folder: Path) -> None:
    """The in-memory Python aggregation the stores used before, for comparison (one round)."""
    from ragwright.costs.stats import group_rows
    from ragwright.costs.store import CostStore
    from ragwright.traces.report import report
    from ragwright.traces.store import open_trace_store

    home = folder / ".ragwright"
    print("\nreference: the same reports aggregated in Python (one round, wall s (cpu s))")
    for by in COST_GROUPINGS:
        store = CostStore(home / "costs.db")
        wall, cpu = timed_call(lambda: group_rows(store.rows(), by))  # type: ignore[arg-type]  # noqa: B023
        store.close()
        print(f"  costs report --by {by:<9} {wall:6.2f} ({cpu:5.2f})")
    for by in MONITOR_GROUPINGS:
        traces = open_trace_store(home / "traces.db")
        wall, cpu = timed_call(lambda: report(traces.select(), by=by))  # noqa: B023
        traces.close()
        print(f"  monitor report --by {by:<7} {wall:6.2f} ({cpu:5.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-cli", action="store_true", help="Library calls only.")
    parser.add_argument("--reference", action="store_true", help="Also time the Python path.")
    parser.add_argument("--keep", action="store_true", help="Keep the generated databases.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ragwright-reports-"))
    try:
        run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)  # 2.4 GB at 1,000,000 rows


def run(args: argparse.Namespace, work: Path) -> None:
    """Generate the projects under ``work``, time every report, print the table."""
    folders = {}
    for n in args.sizes:
        folders[n] = work / f"rows-{n}"
        started = time.perf_counter()
        build_project(folders[n], n)
        size_mb = sum(p.stat().st_size for p in (folders[n] / ".ragwright").glob("*.db")) / 1e6
        print(f"generated {n:,} calls and {n:,} traces in {time.perf_counter() - started:.0f} s"
              f" ({size_mb:,.0f} MB) under {work}")  # fmt: skip

    modes = ["lib"] + ([] if args.no_cli else ["cli"])
    names = list(library_calls(folders[args.sizes[0]]))
    samples: dict[tuple[str, int, str], list[tuple[float, float]]] = {}
    calls = {n: library_calls(folders[n]) for n in args.sizes}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate: interleaved
        for name in order:
            for n in args.sizes:
                for mode in modes:
                    got = (
                        timed_call(calls[n][name]) if mode == "lib" else timed_cli(folders[n], name)
                    )
                    samples.setdefault((name, n, mode), []).append(got)

    def median(name: str, n: int, mode: str) -> tuple[float, float]:
        runs = samples[(name, n, mode)]
        return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)

    small, large = args.sizes[0], args.sizes[-1]
    print(f"\nmedians of {args.rounds} rounds, reports interleaved; wall s (cpu s)."
          f" Target: <= {TARGET_S:.0f} s at {small:,} rows (the command, cli)")  # fmt: skip
    header = "".join(f"{f'{n // 1000}k {m}':>16}" for n in args.sizes for m in modes)
    growth = f"{f'{large // small}x rows: ' + ' / '.join(modes):>24}" if large != small else ""
    print(f"{'report':32}{header}{growth}  target")
    for name in names:
        cells = "".join(
            f"{'{:.2f} ({:.2f})'.format(*median(name, n, m)):>16}"
            for n in args.sizes
            for m in modes
        )
        mode = modes[-1]
        ratios = [median(name, large, m)[0] / median(name, small, m)[0] for m in modes]
        grows = f"{' / '.join(f'{r:.1f}x' for r in ratios):>24}" if large != small else ""
        verdict = "PASS" if median(name, small, mode)[0] <= TARGET_S else "FAIL"
        print(f"{name:32}{cells}{grows}  <= {TARGET_S:.0f} s ({small // 1000}k {mode}) {verdict}")
    if args.reference:
        reference(folders[small])


if __name__ == "__main__":
    main()
