"""Eval runner concurrency, per-call client CPU and the call cache, against a local server.

    .venv/bin/python benchmarks/evals.py [--cases 100] [--concurrency 16] [--delay 0.2]
    .venv/bin/python benchmarks/evals.py --profile [--profile-out evals.prof]

The server (tests/openai_server.py, 127.0.0.1) answers every request after a fixed
delay. It runs in its own process, as a real endpoint would: in this process its
request threads would compete with the client for the interpreter lock and the
benchmark would measure the server too. Each case makes one answer call and two
judge calls (hallucination, relevance); ``--concurrency`` bounds the requests in
flight. The ideal wall time is calls x delay / concurrency.

Each round (``--repeats``, default 3) runs, back to back on the same server:

1. ragwright's first run, with a cold call cache (every call reaches the server);
2. the identical re-run (every call a cache hit: target 0 calls, < 5 % of the first run);
3. the ceiling: the bare openai SDK (``AsyncOpenAI.chat.completions.create``) replaying
   the very requests of step 1 (same messages, so the same prompt sizes) through the
   same number of slots, with nothing around it.

Medians over the rounds are printed. Targets (issue 19): ragwright's first run at
>= 0.90 of ideal, printed beside the bare SDK's ratio (what this machine allows),
and client CPU <= 3 ms per remote call. CPU is reported two ways: the whole process
(every thread: includes embedding the golden set's questions with the local
MiniLM encoder on a cold cache, which is local work, not remote calls), and the
event-loop thread alone, where every remote call's client work happens (building
the request, the SDK and httpx, parsing the reply, the cache and cost record) along
with rendering, scoring and result building; worker threads (retrieval, the
question embedding) are not in it.

The first round is preceded by a one-case warm-up run on a question outside the
set (its time is printed): it pays once-per-process costs (importing the openai
SDK, loading the embedding model) that are not the runner's concurrency.

``--profile`` adds one more cold first run under cProfile (event-loop thread) after
the measured rounds, prints the top entries and writes the stats to
``--profile-out`` (read it with ``python -m pstats``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
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
        while (command := conn.recv()) != "stop":
            if command == "stats":
                judge_chars = sum(
                    len(body["messages"][0]["content"]) + len(body["messages"][-1]["content"])
                    for body in server.bodies
                    if body and body.get("response_format")
                )
                conn.send((len(server.requests), judge_chars))
            else:  # ("bodies", first): the request bodies received since request `first`
                conn.send(server.bodies[command[1] :])


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

    def bodies(self, first: int) -> list[dict[str, Any]]:
        """The JSON bodies of the requests received since request number ``first``."""
        self.conn.send(("bodies", first))
        bodies: list[dict[str, Any]] = self.conn.recv()
        return bodies

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


@dataclass(frozen=True)
class Measured:
    """One timed run: wall seconds, process and event-loop-thread CPU seconds, calls made."""

    wall_s: float
    cpu_s: float
    loop_cpu_s: float
    calls: int

    def cpu_ms_per_call(self, calls: int) -> float:
        return self.cpu_s * 1000 / calls

    def loop_ms_per_call(self, calls: int) -> float:
        return self.loop_cpu_s * 1000 / calls


class Clock:
    """Wall, process CPU and this thread's CPU; ``asyncio.run`` runs its loop in this thread."""

    def __enter__(self) -> Clock:
        self.started = (time.perf_counter(), time.process_time(), time.thread_time())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu, thread = self.started
        self.wall_s = time.perf_counter() - wall
        self.cpu_s = time.process_time() - cpu
        self.loop_cpu_s = time.thread_time() - thread


def bare_sdk_run(base_url: str, bodies: list[dict[str, Any]], concurrency: int) -> Measured:
    """The ceiling: the same requests through ``concurrency`` slots with the bare SDK."""
    import openai

    async def main() -> None:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
        slots = asyncio.Semaphore(concurrency)

        async def call(body: dict[str, Any]) -> str:
            kwargs = {key: body[key] for key in KEPT if key in body}
            async with slots:
                completion = await client.chat.completions.create(**kwargs)
            return completion.choices[0].message.content or ""

        try:
            await asyncio.gather(*(call(body) for body in bodies))
        finally:
            await client.close()

    with Clock() as clock:
        asyncio.run(main())
    return Measured(clock.wall_s, clock.cpu_s, clock.loop_cpu_s, len(bodies))


KEPT = ("model", "messages", "temperature", "max_tokens", "response_format")


def median_by_wall(runs: list[Measured]) -> Measured:
    return sorted(runs, key=lambda m: m.wall_s)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-warm-up", action="store_true", help="time a cold first run")
    parser.add_argument("--profile", action="store_true", help="cProfile one more first run")
    parser.add_argument("--profile-out", type=Path, default=Path("evals.prof"))
    parser.add_argument("--profile-top", type=int, default=30)
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

        def cold_cache() -> None:
            for path in settings.home.glob("cache.db*"):
                path.unlink()

        def one_run(
            golden: Any, profiler: cProfile.Profile | None = None
        ) -> tuple[Measured, int, Any]:
            before, before_chars = server.stats()
            chain = RagChain.from_settings(settings, cached=True, allow_drafts=True)  # an eval
            judge = judge_from_settings(settings)
            with Clock() as clock:
                if profiler is not None:
                    profiler.enable()
                [run] = run_evals_blocking(
                    chain,
                    golden,
                    judge,
                    prompts=["rag_answer:production"],
                    concurrency=args.concurrency,
                )
                if profiler is not None:
                    profiler.disable()
            after, after_chars = server.stats()
            measured = Measured(clock.wall_s, clock.cpu_s, clock.loop_cpu_s, after - before)
            return measured, after_chars - before_chars, run

        if not args.no_warm_up:
            warm, *_ = one_run(load_golden_set(work / "warm.jsonl"))
        firsts: list[Measured] = []
        reruns: list[Measured] = []
        bares: list[Measured] = []
        for _ in range(args.repeats):  # interleaved: ragwright, its re-run, the bare SDK
            cold_cache()
            start_index, _ = server.stats()
            first, judge_chars, run = one_run(cases)
            bodies = server.bodies(start_index)
            rerun, _, _ = one_run(cases)
            bares.append(bare_sdk_run(server.base_url, bodies, args.concurrency))
            firsts.append(first)
            reruns.append(rerun)
        if args.profile:
            cold_cache()
            profiler = cProfile.Profile(time.thread_time)  # CPU, not GIL waits
            profiled, *_ = one_run(cases, profiler)

    first, bare = median_by_wall(firsts), median_by_wall(bares)
    calls = first.calls
    ideal = calls * args.delay / args.concurrency
    second_s = statistics.median(r.wall_s for r in reruns)
    rerun_shares = ", ".join(
        f"{r.wall_s / f.wall_s:.1%}" for r, f in zip(reruns, firsts, strict=True)
    )
    print(
        f"{args.cases} cases, concurrency {args.concurrency}, server delay"
        f" {args.delay * 1000:.0f} ms (server in its own process), {os.cpu_count()} CPUs;"
        f" medians of {args.repeats} interleaved rounds, each with a cold call cache"
    )
    if not args.no_warm_up:
        print(f"warm-up:       {warm.wall_s:6.2f} s, 1 case outside the set (SDK import, models)")
    print(f"ideal:         {ideal:6.2f} s = {calls} calls x {args.delay} s / {args.concurrency}")
    print(
        f"ragwright:     {first.wall_s:6.2f} s, efficiency {ideal / first.wall_s:.2f}"
        f" (target >= 0.90)  [{', '.join(f'{ideal / f.wall_s:.2f}' for f in firsts)}]"
    )
    print(
        f"bare SDK:      {bare.wall_s:6.2f} s, efficiency {ideal / bare.wall_s:.2f}"
        f" (the ceiling)  [{', '.join(f'{ideal / b.wall_s:.2f}' for b in bares)}];"
        f" ragwright reaches {bare.wall_s / first.wall_s:.0%} of it"
    )
    loop_ms = statistics.median(f.loop_ms_per_call(calls) for f in firsts)
    bare_loop_ms = statistics.median(b.loop_ms_per_call(calls) for b in bares)
    print(
        f"client CPU per remote call, event-loop thread: ragwright {loop_ms:.2f} ms"
        f" (target <= 3 ms), bare SDK {bare_loop_ms:.2f} ms"
    )
    cpu_ms = statistics.median(f.cpu_ms_per_call(calls) for f in firsts)
    bare_cpu_ms = statistics.median(b.cpu_ms_per_call(calls) for b in bares)
    rerun_ms = statistics.median(r.cpu_s * 1000 / calls for r in reruns)
    print(
        f"client CPU per remote call, whole process: ragwright {cpu_ms:.2f} ms"
        f" (with the local question embedding), bare SDK {bare_cpu_ms:.2f} ms;"
        f" cached re-run {rerun_ms:.2f} ms per call it replaced"
    )
    print(
        f"cached rerun:  {second_s:6.2f} s, {max(r.calls for r in reruns)} calls at most"
        f" ({second_s / first.wall_s:.1%} of the first run; target 0 calls and < 5 %)"
        f"  [{rerun_shares}]"
    )
    print(
        f"judge prompt size: ~{judge_chars / 4 / args.cases:.0f} tokens per case"
        " (chars / 4, both judges)"
    )
    print(f"errors: {run.summary.errors}, unparseable: {run.summary.unparseable}")
    if args.profile:
        profiler.dump_stats(args.profile_out)
        print(
            f"\nprofile: one more first run, {profiled.wall_s:.2f} s under cProfile (timer:"
            f" thread CPU), {profiled.loop_ms_per_call(profiled.calls):.2f} ms loop CPU per call"
            f" (with profiler overhead); stats in {args.profile_out}; top {args.profile_top} by"
            " own time:"
        )
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile_top)


if __name__ == "__main__":
    main()
