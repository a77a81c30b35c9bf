"""Production traces: what recording costs a request, whether online scoring keeps up, serve load.

    .venv/bin/python benchmarks/traces.py [--requests 300] [--rounds 3] [--load 400]

Targets (issue 17): tracing adds <= 100 us p50 per request, against the same
chain with tracing off; the local judge scores traces at least as fast as the
server answers them; `ragwright serve` at concurrency 16 with tracing on vs off.
Every comparison runs in this process, rounds interleaved (off, on, off, on...),
medians of the rounds' figures. The serve figure here runs uvicorn in a thread of
this process, with client threads beside it; ``benchmarks/serve.py`` measures
`ragwright serve` in its own process against the chain in-process (issue 19).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

DOCS = {
    "rollback.md": "# Rolling back prompts\n\nThe ragwright prompts rollback command moves the"
    " production alias back to the previous production version.\n",
    "chroma.md": "# Chroma modes\n\nSetting RAGWRIGHT_CHROMA_URL switches ragwright from the"
    " embedded Chroma database to a Chroma server.\n",
    "costs.md": "# Costs\n\nEvery model call records its tokens, latency and cost in a SQLite"
    " database. A model with no known price gets a null cost.\n",
    "garden.txt": "Tomatoes need six hours of sun a day and regular watering in summer.\n",
}
QUESTIONS = [
    "How do I roll back a prompt?",
    "What does RAGWRIGHT_CHROMA_URL do?",
    "What is recorded for every model call?",
    "How much sun do tomatoes need?",
]


def project(work: Path) -> Any:
    import shutil

    from ragwright.flows.ingest import ingest
    from ragwright.settings import Settings

    docs = work / "docs"
    docs.mkdir(parents=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    repo = Path(__file__).resolve().parent.parent
    shutil.copytree(repo / "prompts" / "rag_answer", work / "prompts" / "rag_answer")
    (work / "ragwright.toml").write_text("", encoding="utf-8")
    os.chdir(work)
    settings = Settings(home=work / "home", docs_dir=docs)
    ingest(settings)
    return settings


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def per_request_us(chain: Any, n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter_ns()
        chain.invoke({"question": QUESTIONS[i % len(QUESTIONS)]})
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def hot_path_us(recorder: Any, answer: Any, n: int) -> list[float]:
    state = {"_marks": {"started": time.perf_counter()}}
    answers = [answer.model_copy(update={"request_id": uuid.uuid4().hex}) for _ in range(n)]
    samples = []
    for each in answers:
        started = time.perf_counter_ns()
        recorder.answered(state, each)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def load(url: str, n: int, concurrency: int) -> tuple[float, float, float]:
    import httpx

    latencies: list[float] = []
    lock = threading.Lock()
    with httpx.Client(base_url=url, timeout=60) as client:

        def one(i: int) -> None:
            started = time.perf_counter()
            response = client.post("/v1/answer", json={"question": QUESTIONS[i % len(QUESTIONS)]})
            response.raise_for_status()
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(n)))
        elapsed = time.perf_counter() - started
    return n / elapsed, p(latencies, 0.5), p(latencies, 0.99)


def serve(app: Any) -> tuple[Any, str]:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--load", type=int, default=400, help="requests per serve round")
    parser.add_argument("--online-only", action="store_true", help="only the scoring figure")
    args = parser.parse_args()

    from ragwright.rag import RagChain
    from ragwright.traces import TraceRecorder

    work = Path(tempfile.mkdtemp(prefix="ragwright-traces-"))
    settings = project(work)
    chain = RagChain.from_settings(settings)
    recorder = TraceRecorder(work / "traces.db")
    per_request_us(chain, 50)  # warm up: models loaded, caches filled
    if args.online_only:  # traces to score, then only the scoring figure
        chain.tracer = recorder
        per_request_us(chain, args.load)
        served_rps = 0.0
    else:
        served_rps = answer_and_serve(chain, recorder, args)
    score_online(settings, recorder, served_rps)


def answer_and_serve(chain: Any, recorder: Any, args: argparse.Namespace) -> float:
    from ragwright.rag.server import create_app

    # 1. per-request overhead, interleaved rounds
    off_p50, on_p50, hot_p50 = [], [], []
    answer = chain.invoke({"question": QUESTIONS[0]})
    for _ in range(args.rounds):
        chain.tracer = None
        off_p50.append(statistics.median(per_request_us(chain, args.requests)))
        chain.tracer = recorder
        on_p50.append(statistics.median(per_request_us(chain, args.requests)))
        hot_p50.append(statistics.median(hot_path_us(recorder, answer, args.requests)))
    recorder.flush()
    print(
        f"chain p50 per request: off {statistics.median(off_p50):.0f} us,"
        f" on {statistics.median(on_p50):.0f} us,"
        f" added {statistics.median(on_p50) - statistics.median(off_p50):+.0f} us"
        f" (rounds: off {[round(x) for x in off_p50]}, on {[round(x) for x in on_p50]})"
    )
    print(f"recorder hot path p50: {statistics.median(hot_p50):.1f} us (target <= 100 us)")

    # 2. serve under concurrency 16, tracing off vs on, interleaved
    results: dict[str, list[tuple[float, float, float]]] = {"off": [], "on": []}
    for _ in range(args.rounds):
        for mode in ("off", "on"):
            chain.tracer = recorder if mode == "on" else None
            server, url = serve(create_app(chain))
            load(url, 32, 16)  # warm up
            results[mode].append(load(url, args.load, 16))
            server.should_exit = True
            time.sleep(0.3)
    for mode, rounds in results.items():
        rps = statistics.median(r[0] for r in rounds)
        print(
            f"serve c=16 tracing {mode}: {rps:.0f} req/s,"
            f" p50 {statistics.median(r[1] for r in rounds):.1f} ms,"
            f" p99 {statistics.median(r[2] for r in rounds):.1f} ms"
        )
    return statistics.median(r[0] for r in results["on"])


def score_online(settings: Any, recorder: Any, served_rps: float) -> None:
    """3. online evaluation throughput vs the answered rate."""
    from ragwright.evals.online import OnlineEvaluator, local_judge

    recorder.flush()
    store = recorder.store
    judge = local_judge(settings)
    OnlineEvaluator(store, judge, batch=16).run_once()  # warm up the judge
    started, scored = time.perf_counter(), 0
    evaluator = OnlineEvaluator(store, judge)
    while time.perf_counter() - started < 20:
        # the traces repeat four questions: a cold cache per batch keeps the judge from
        # answering most of them from memory, as distinct real traffic would not let it
        judge._cache.clear()
        if not evaluator.run_once():
            break
    scored = evaluator.scored
    rate = scored / (time.perf_counter() - started)
    versus = (
        f" vs {served_rps:.0f} answered req/s: ratio {rate / served_rps:.2f}" if served_rps else ""
    )
    print(f"online evaluation: {rate:.1f} traces/s scored ({scored} in the run){versus}")
    recorder.close()


if __name__ == "__main__":
    main()
