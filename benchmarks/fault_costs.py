"""Cost records under load and SIGKILL: how many seconds of records does a hard crash lose?

    .venv/bin/python benchmarks/fault_costs.py [--procs 12] [--threads 8] [--rate 500]
        [--seconds 8] [--store sqlite|postgres|both] [--pg-url URL] [--seed 1] [--verbose]

N writer processes, each with ``--threads`` threads recording calls through one
``CostMonitor`` at ``--rate`` calls/s per process (the monitor's defaults: what
users get), once the monitor has opened its store (``wait_open``; the time that
takes is printed: records made before then wait in memory that long). Every call
is logged to a per-process side channel *after* ``record_call`` returns: one
``os.write`` on an ``O_APPEND`` file, which is in the kernel once the syscall
returns and so survives SIGKILL. Half the processes are SIGKILLed at random
times; the others stop and exit normally.

For a killed process, the loss window is kill time minus the time of the oldest
logged call missing from the store: everything older than that was kept.
docs/costs.md promises about one second. A process that exits normally must lose
nothing. Postgres runs in a throwaway cluster (``tests/postgres_server.py``) unless
``--pg-url`` names one; it is skipped when the server binaries are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def worker(args: argparse.Namespace) -> None:
    """One writer process: record calls from ``threads`` threads until told to stop."""
    from ragwright.costs.monitor import CostMonitor
    from ragwright.usage import Usage

    started = time.monotonic()
    monitor = CostMonitor(args.target)
    monitor.wait_open(120)  # as a service would before taking traffic
    fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    usage = Usage(812, 95, calls=1)
    go = Path(args.go)
    Path(args.log + ".ready").write_text(f"{time.monotonic() - started:.3f}")
    while not go.exists():
        time.sleep(0.005)
    per_thread = args.rate / args.threads
    stop_at = time.monotonic() + args.seconds

    def run(thread: int) -> None:
        started = time.monotonic()
        n = 0
        while (now := time.monotonic()) < stop_at:
            due = started + n / per_thread
            if due > now:
                time.sleep(due - now)
            call = f"{args.proc}.{thread}.{n}"
            monitor.record_call(
                provider="openai",
                model="gpt-4o-mini",
                operation="generate",
                prompt="rag_answer@v1",
                usage=usage,
                latency_ms=400.0,
                tags=(("bench", args.run), ("call", call)),
            )
            os.write(fd, f"{call} {time.time():.6f}\n".encode())
            n += 1

    threads = [threading.Thread(target=run, args=(t,)) for t in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monitor.close()


def logged_calls(path: Path) -> dict[str, float]:
    calls = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:  # a SIGKILL cannot tear an O_APPEND write this small, but be safe
            calls[parts[0]] = float(parts[1])
    return calls


def stored_calls(target: str, run: str) -> tuple[set[str], int]:
    """The call ids the store holds for this run, and the store's total row count."""
    from ragwright.costs.store import open_cost_store

    store = open_cost_store(target)
    try:
        ids = set()
        for row in store.rows():
            tags = json.loads(row.tags)
            if tags.get("bench") == run:
                ids.add(tags["call"])
        return ids, store.count()
    finally:
        store.close()


def trial(target: str, args: argparse.Namespace, label: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="ragwright-fault-"))
    run = f"r{random.randrange(10**9)}"
    rng = random.Random(args.seed)
    go = work / "go"
    procs = []
    for proc in range(args.procs):
        log = work / f"calls-{proc}.log"
        command = [sys.executable, __file__, "--worker", "--target", target, "--log", str(log)]
        command += ["--go", str(go), "--proc", str(proc), "--run", run]
        command += ["--threads", str(args.threads), "--rate", str(args.rate)]
        command += ["--seconds", str(args.seconds)]
        procs.append((proc, log, subprocess.Popen(command)))
    deadline = time.monotonic() + 120
    while not all(Path(f"{log}.ready").exists() for _, log, _ in procs):
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start")
        time.sleep(0.05)
    opening = max(float(Path(f"{log}.ready").read_text() or 0) for _, log, _ in procs)
    go.touch()
    started = time.time()
    victims = rng.sample(range(args.procs), args.procs // 2)
    kills = sorted((rng.uniform(1.0, args.seconds - 0.5), proc) for proc in victims)
    killed_at: dict[int, float] = {}
    for at, proc in kills:
        time.sleep(max(0.0, started + at - time.time()))
        killed_at[proc] = time.time()
        procs[proc][2].send_signal(signal.SIGKILL)
    for _, _, popen in procs:
        popen.wait()
    elapsed = time.time() - started

    stored, total_rows = stored_calls(target, run)
    windows, lost_killed, lost_clean, logged_total = [], 0, 0, 0
    for proc, log, _ in procs:
        calls = logged_calls(log)
        logged_total += len(calls)
        missing = [ts for call, ts in calls.items() if call not in stored]
        if proc in killed_at:
            lost_killed += len(missing)
            windows.append(killed_at[proc] - min(missing) if missing else 0.0)
            if args.verbose:
                print(
                    f"  process {proc}: killed {killed_at[proc] - started:.1f} s in, lost"
                    f" {len(missing)} of {len(calls)}, window {windows[-1]:.2f} s"
                )
        else:
            lost_clean += len(missing)
    print(f"\n{label}: {args.procs} processes x {args.threads} threads, target {args.rate}/s each")
    print(
        f"  store opened in {opening:.1f} s at worst (before calls start, as at a service start:"
        " records made earlier wait that long)"
    )
    print(f"  calls logged {logged_total}, stored rows {len(stored)} (store total {total_rows})")
    print(
        f"  achieved {logged_total / elapsed:,.0f} calls/s;"
        f" stored {len(stored) / elapsed:,.0f} records/s over {elapsed:.1f} s"
    )
    print(
        f"  SIGKILLed {len(killed_at)}: lost {lost_killed} records; loss window worst"
        f" {max(windows):.2f} s, median {statistics.median(windows):.2f} s"
        f"  (promise <= ~1 s -> {'PASS' if max(windows) <= 1.1 else 'FAIL'})"
    )
    print(f"  exited normally {args.procs - len(killed_at)}: lost {lost_clean} records")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--procs", type=int, default=12)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=float, default=500, help="calls/s per process")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--pg-url", help="SQLAlchemy URL of an existing Postgres database")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true", help="one line per killed process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--target", "--log", "--go", "--proc", "--run"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    if args.store in ("sqlite", "both"):
        db = Path(tempfile.mkdtemp(prefix="ragwright-fault-db-")) / "costs.db"
        trial(str(db), args, f"SQLite ({db})")
    if args.store in ("postgres", "both"):
        if args.pg_url:
            trial(args.pg_url, args, "Postgres (--pg-url)")
            return
        from tests.postgres_server import PostgresCluster, PostgresUnavailableError

        try:
            cluster = PostgresCluster.start()
        except PostgresUnavailableError as exc:
            print(f"\nPostgres: skipped ({exc})")
            return
        with cluster:
            trial(cluster.create_database(), args, "Postgres (throwaway cluster, fsync off)")


if __name__ == "__main__":
    main()
