"""Eval runner concurrency and the call cache, against a local OpenAI-compatible server.

    .venv/bin/python benchmarks/evals.py [--cases 100] [--concurrency 16] [--delay 0.2]

The server (tests/openai_server.py, 127.0.0.1) answers every request after a fixed
delay. It runs in its own process, as a real endpoint would: in this process its
request threads would compete with the client for the interpreter lock and the
benchmark would measure the server too. Each case makes one answer call and two
judge calls (hallucination, relevance); ``--concurrency`` bounds the requests in
flight. Targets (eval gate issue): wall time >= 0.8 of the ideal
calls x delay / concurrency; an identical re-run makes 0 calls and takes < 5 % of
the first run's time.

The first run is preceded by a one-case warm-up run on a question outside the set
(its time is printed): it pays once-per-process costs (importing the openai SDK,
loading the embedding model) that are not the runner's concurrency.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DOCS = {
    "rollback.md": "# Rollback\n\nThe ragwright prompts rollback command moves the production"
    " alias back to the previous production version.\n",
    "chroma.md": "# Chroma\n\nSetting RAGWRIGHT_CHROMA_URL switches ragwright from embedded"
    " Chroma to a Chroma server.\n",
    "costs.md": "# Costs\n\nA model with no known price gets a null cost and one warning.\n",
}


def scripted(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    if "fact checker" in system:
        return json.dumps(
            {"claims": [{"claim": "c", "supported": True}], "hallucinated": False, "score": 0.0}
        )
    if "REFERENCE answer" in system:
        return json.dumps({"verdict": "correct", "reason": "same facts"})
    if "grade whether an ANSWER" in system:
        return json.dumps({"score": 4, "reason": "answers the question"})
    return "The rollback command moves production back to the previous version. [rollback.md]"


def serve(conn: Any, delay: float) -> None:
    """The server process: answer until told to stop; report what was received on request."""
    from tests.openai_server import OpenAIServer

    with OpenAIServer(default=scripted, delay_s=delay) as server:
        conn.send(server.base_url)
        while conn.recv() == "stats":
            judge_chars = sum(
                len(body["messages"][0]["content"]) + len(body["messages"][-1]["content"])
                for body in server.bodies
                if body and body.get("response_format")
            )
            conn.send((len(server.requests), judge_chars))


class ServerProcess:
    def __init__(self, delay: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=serve, args=(child, delay), daemon=True)

    def __enter__(self) -> ServerProcess:
        self.process.start()
        self.base_url: str = self.conn.recv()
        return self

    def stats(self) -> tuple[int, int]:
        """(requests received, characters of judge prompts received) so far."""
        self.conn.send("stats")
        requests, judge_chars = self.conn.recv()
        return int(requests), int(judge_chars)

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        self.process.join(timeout=10)


def write_golden(path: Path, cases: int, prefix: str = "Case") -> None:
    topics = [
        "roll back the production prompt",
        "switch Chroma to a server",
        "price an unknown model",
    ]
    path.write_text(
        "\n".join(
            json.dumps({"id": f"c{i:03}", "question": f"{prefix} {i}: how do I {topics[i % 3]}?"})
            for i in range(cases)
        )
        + "\n",
        encoding="utf-8",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-warm-up", action="store_true", help="time a cold first run")
    args = parser.parse_args()

    from ragwright.offline import apply_offline_defaults, quiet_library_logs

    apply_offline_defaults()
    quiet_library_logs()
    from ragwright.evals.golden import load_golden_set
    from ragwright.evals.judges.registry import judge_from_settings
    from ragwright.evals.runner import run_evals_blocking
    from ragwright.flows.ingest import ingest
    from ragwright.rag import RagChain
    from ragwright.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="ragwright-evals-bench-"))
    docs = work / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    write_golden(work / "set.jsonl", args.cases)
    write_golden(work / "warm.jsonl", 1, prefix="Warm-up")

    with ServerProcess(args.delay) as server:
        settings = Settings(
            home=work / "home",
            docs_dir=docs,
            chat_model="gpt-4o-mini",
            judge_model="gpt-4o-mini",
            openai_base_url=server.base_url,
            openai_max_retries=0,
            eval_concurrency=args.concurrency,
        )
        ingest(settings)
        cases = load_golden_set(work / "set.jsonl")

        def one_run(golden: Any) -> tuple[float, float, int, int, Any]:
            before, before_chars = server.stats()
            chain = RagChain.from_settings(settings, cached=True, allow_drafts=True)  # an eval
            judge = judge_from_settings(settings)
            started, cpu = time.perf_counter(), time.process_time()
            [run] = run_evals_blocking(
                chain,
                golden,
                judge,
                prompts=["rag_answer:production"],
                concurrency=args.concurrency,
            )
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            after, after_chars = server.stats()
            return elapsed, cpu, after - before, after_chars - before_chars, run

        if not args.no_warm_up:
            warm_s, *_ = one_run(load_golden_set(work / "warm.jsonl"))
        firsts: list[tuple[float, float, int]] = []
        reruns: list[tuple[float, int]] = []
        for _ in range(args.repeats):
            for path in settings.home.glob("cache.db*"):  # a cold call cache per repeat
                path.unlink()
            first_s, first_cpu, first_calls, judge_chars, run = one_run(cases)
            second_s, _, second_calls, _, _ = one_run(cases)
            firsts.append((first_s, first_cpu, first_calls))
            reruns.append((second_s, second_calls))

    first_s, first_cpu, first_calls = sorted(firsts)[len(firsts) // 2]
    second_s = statistics.median(r[0] for r in reruns)
    ideal = first_calls * args.delay / args.concurrency
    print(
        f"{args.cases} cases, concurrency {args.concurrency}, server delay"
        f" {args.delay * 1000:.0f} ms (server in its own process), {os.cpu_count()} CPUs;"
        f" medians of {args.repeats} repeats, each with a cold call cache"
    )
    if not args.no_warm_up:
        print(f"warm-up:     {warm_s:6.2f} s, 1 case outside the set (SDK import, client set-up)")
    print(
        f"first run:   {first_s:6.2f} s, {first_calls} calls; ideal"
        f" {first_calls} x {args.delay} / {args.concurrency} = {ideal:.2f} s;"
        f" efficiency {ideal / first_s:.2f} (target >= 0.8)"
        f"  [{', '.join(f'{ideal / f[0]:.2f}' for f in firsts)}]"
    )
    print(f"             client CPU {first_cpu:.2f} s ({first_cpu / first_s:.0%} of one core)")
    print(
        f"cached rerun:{second_s:6.2f} s, {max(r[1] for r in reruns)} calls at most"
        f" ({second_s / first_s:.1%} of the first run; target 0 calls and < 5 %)"
        f"  [{', '.join(f'{r[0] / f[0]:.1%}' for r, f in zip(reruns, firsts, strict=True))}]"
    )
    print(
        f"judge prompt size: ~{judge_chars / 4 / args.cases:.0f} tokens per case"
        " (chars / 4, both judges)"
    )
    print(f"errors: {run.summary.errors}, unparseable: {run.summary.unparseable}")


if __name__ == "__main__":
    main()
