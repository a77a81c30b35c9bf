"""Cost monitor overhead: what recording costs the calling thread, and report time at scale.

    .venv/bin/python benchmarks/monitor.py [--calls 20000] [--rows 100000]

Targets (cost monitor issue): recording overhead on the calling thread <= 50 us p50;
`ragwright costs report` over 100,000 recorded calls <= 1 s. The baseline is a bare
function call that appends to a list, measured in the same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    from ragwright.costs.monitor import CostMonitor
    from ragwright.costs.record import CallRecord
    from ragwright.costs.store import CostStore
    from ragwright.usage import Usage

    work = Path(tempfile.mkdtemp(prefix="ragwright-monitor-"))
    monitor = CostMonitor(work / "costs.db", flush_interval_s=0.5)
    usage = Usage(812, 95, calls=1)
    sink: list[object] = []

    def baseline(**kwargs: object) -> None:
        sink.append(kwargs)

    def timed(fn: object, n: int) -> list[float]:
        samples = []
        for _ in range(n):
            started = time.perf_counter_ns()
            fn(
                provider="openai",
                model="gpt-4o-mini",
                operation="generate",  # type: ignore[operator]
                prompt="rag_answer@v1",
                usage=usage,
                latency_ms=412.0,
                tags=(("app", "bench"),),
            )
            samples.append((time.perf_counter_ns() - started) / 1000)
        return samples

    timed(monitor.record_call, 1000)  # warm up
    base = timed(baseline, args.calls)
    rec = timed(monitor.record_call, args.calls)
    monitor.close()
    b50, r50 = statistics.median(base), statistics.median(rec)
    r99 = statistics.quantiles(rec, n=100)[98]
    print(f"recording, {args.calls} calls on the calling thread (background flush every 0.5 s)")
    print(f"  baseline (append a dict): p50 {b50:6.2f} us")
    print(
        f"  monitor.record_call:      p50 {r50:6.2f} us  p99 {r99:6.2f} us"
        f"  ({r50 / b50:.1f} x baseline)"
    )
    print(f"  target p50 <= 50 us -> {'PASS' if r50 <= 50 else 'FAIL'}")
    written = CostStore(work / "costs.db").count()
    print(f"  rows flushed to SQLite: {written} of {args.calls + 1000} (none lost)")

    store = CostStore(work / "report.db")
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=30)
    models = ["gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "llama3.1", "extractive"]
    rows = [
        CallRecord(
            ts=(start + timedelta(seconds=i * 25)).isoformat(timespec="milliseconds"),
            provider="openai",
            model=rng.choice(models),
            operation="generate",
            prompt=f"rag_answer@v{rng.randint(1, 4)}",
            prompt_tokens=rng.randint(100, 2000),
            completion_tokens=rng.randint(10, 400),
            estimated=False,
            latency_ms=rng.lognormvariate(6, 0.5),
            cost_usd=rng.random() / 1000,
            status="ok" if rng.random() > 0.02 else "error",
            tags=(("team", rng.choice("abc")),),
        )
        for i in range(args.rows)
    ]
    for chunk in range(0, len(rows), 10_000):
        store.insert(rows[chunk : chunk + 10_000])
    print(f"\nreport over {store.count()} recorded calls (median of 5)")
    for by in ("model", "day", "prompt", "tag"):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            store.group(by)  # type: ignore[arg-type]
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(
            f"  group by {by:6} {median * 1000:7.0f} ms  target <= 1000 ms ->"
            f" {'PASS' if median <= 1 else 'FAIL'}"
        )


if __name__ == "__main__":
    main()
