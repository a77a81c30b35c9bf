"""Serving: the chain in-process against `ragwright serve` over HTTP, tracing off and on.

    .venv/bin/python benchmarks/serve.py [--requests 300] [--rounds 3] [--concurrency 16 32]
                                         [--no-guardrails] [--profile DIR]

Target (issue 19): HTTP requests/s >= 0.8 of the chain's own in-process answers/s
at the same concurrency, tracing off and on; (issue 17) the local judge scores
traces at least as fast as the server answers them.

Four arms per round, interleaved (in-process off, in-process on, HTTP off, HTTP
on; >= 3 rounds, medians), each a closed loop of ``--concurrency`` clients:

* in-process: :meth:`ServedChain.answer` (what ``POST /v1/answer`` runs) on the
  server's own :class:`AnswerPool` (``serve_workers`` threads), awaited from an
  event loop as the route awaits it. What is left between this and HTTP is the
  HTTP layer: uvicorn, routing, validation, JSON, middleware, logging.
* HTTP: two ``ragwright serve`` processes (traces = false / true) on 127.0.0.1,
  started once, warmed, and loaded in turn, as real serving runs: its own
  process, uvicorn, the settings file, guardrails as configured. Online
  evaluation is off in them (the in-process arms do not run it either); its
  throughput is measured afterwards on the traces they wrote, side by side.

The load generator is a minimal HTTP/1.1 client on asyncio streams in this
process (:class:`RawClient`): one thread, so no client threads contend for the
interpreter lock, and a keep-alive connection per client. It costs about
0.2 ms of CPU a request (printed as ``client CPU``), a tenth of httpx's async
client, so on 2 cores it takes little from the server it measures. A separate
load process would not help: it would need the same CPU.

CPU per answer is measured beside wall time, since shared machines make wall
time noisy: this process's CPU for the in-process arms, the server process's
(``/proc/<pid>/stat``) for the HTTP ones. Their difference is what the HTTP
layer costs a request in CPU, whatever the machine's load.

``--profile DIR`` runs the servers under cProfile (the event loop thread, which
is where the HTTP layer runs; CPU time, since wall time there is mostly waiting
for the interpreter lock) and prints their top functions at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = {
    "rollback.md": "# Rolling back prompts\n\nThe ragwright prompts rollback command moves the"
    " production alias back to the previous production version. The previous version keeps its"
    " evidence.\n",
    "chroma.md": "# Chroma modes\n\nSetting RAGWRIGHT_CHROMA_URL switches ragwright from the"
    " embedded Chroma database to a Chroma server. The collection name stays the same.\n",
    "costs.md": "# Costs\n\nEvery model call records its tokens, latency and cost in a SQLite"
    " database. A model with no known price gets a null cost. Budgets can refuse calls.\n",
    "garden.txt": "Tomatoes need six hours of sun a day and regular watering in summer."
    " Basil grows well beside them.\n",
}
QUESTIONS = [
    "How do I roll back a prompt?",
    "What does RAGWRIGHT_CHROMA_URL do?",
    "What is recorded for every model call?",
    "How much sun do tomatoes need?",
    "Which command moves the production alias back?",
    "How do I switch to a Chroma server?",
    "What happens when a model has no known price?",
    "What grows well beside tomatoes?",
]
TARGET_RATIO = 0.8
WARM_UP = 64
PROFILE_WRAPPER = """
import cProfile, signal, sys, time
from ragwright.cli.app import main
sys.argv = ["ragwright", "serve", "--port", sys.argv[1]]
profile = cProfile.Profile(time.thread_time)  # CPU time, not time waiting for the GIL
# from SIGUSR1 on, sent once the server is warm: start-up (imports) is not the question
signal.signal(signal.SIGUSR1, lambda *_: profile.enable())
try:
    main()
finally:
    profile.disable()
    profile.dump_stats({out!r})
"""


@dataclass(frozen=True)
class Round:
    rate: float  # answers (requests) per second
    p50_ms: float
    p99_ms: float
    cpu_ms: float  # CPU per answer: this process (in-process) or the server process (HTTP)
    loop_cpu_ms: float  # HTTP: the server's event loop thread alone
    client_cpu_ms: float  # HTTP: this process, i.e. the load generator
    errors: int


def project(work: Path, guardrails: bool) -> Any:
    import shutil

    from ragwright.settings import load_settings

    docs = work / "docs"
    docs.mkdir(parents=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    repo = Path(__file__).resolve().parent.parent
    shutil.copytree(repo / "prompts" / "rag_answer", work / "prompts" / "rag_answer")
    toml = 'home = "home"\ndocs_dir = "docs"\n\n[online_eval]\nenabled = false\n'
    if not guardrails:
        toml += "\n[guardrails]\nenabled = false\n"
    (work / "ragwright.toml").write_text(toml, encoding="utf-8")
    os.chdir(work)  # the servers and this process read the same ragwright.toml
    # Indexed by a process of its own: an embedder runs on onnxruntime only in a process
    # that has not loaded torch, and the first encode (the ingest's) loads torch to write
    # the export. This process, like the servers, then starts on the export.
    indexed = subprocess.run(
        [sys.executable, "-m", "ragwright.cli.app", "index", "run"],
        cwd=work,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if indexed.returncode:
        raise SystemExit(f"ragwright index run failed:\n{indexed.stderr[-2000:]}")
    return load_settings()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_s(pid: int | None = None, *, loop_only: bool = False) -> float:
    """CPU seconds (user + system) of this process, or of ``pid`` from /proc (Linux).

    ``loop_only``: of the process's main thread alone, where uvicorn's event loop
    runs, and with it the whole HTTP layer.
    """
    if pid is None:
        times = os.times()
        return times.user + times.system
    stat = f"/proc/{pid}/task/{pid}/stat" if loop_only else f"/proc/{pid}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def closed_loop(n: int, concurrency: int, one: Any) -> tuple[float, list[float], int]:
    """``n`` calls of ``await one(i)`` by ``concurrency`` clients; (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    indices = iter(range(n))

    async def client() -> None:
        nonlocal errors
        for i in indices:
            started = time.perf_counter()
            ok = await one(i)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


def in_process(served: Any, pool: Any, n: int, concurrency: int) -> Round:
    async def one(i: int) -> bool:
        future = pool.submit(served.answer, {"question": QUESTIONS[i % len(QUESTIONS)]})
        if future is None:
            return False  # refused: more in flight than serve_max_in_flight
        await asyncio.wrap_future(future)
        return True

    cpu = cpu_s()
    seconds, latencies, errors = asyncio.run(closed_loop(n, concurrency, one))
    cpu_ms = (cpu_s() - cpu) * 1000 / n
    return Round(n / seconds, *_tails(latencies), cpu_ms, 0.0, 0.0, errors)


class RawClient:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads the status and body.

    httpx's async client costs about 2 ms of CPU a request here, 5% of what the
    chain costs: on 2 cores that is taken from the server being measured. This
    costs a tenth of it; it handles just what uvicorn sends back (a
    Content-Length body).
    """

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)  # TCP_NODELAY
        reader, writer = self.streams
        writer.write(
            b"POST %s HTTP/1.1\r\nhost: %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (path.encode(), self.host.encode(), len(body), body)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        return int(head[9:12])

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            await self.streams[1].wait_closed()


def over_http(server: Server, n: int, concurrency: int) -> Round:
    bodies = [json.dumps({"question": q}).encode() for q in QUESTIONS]

    async def run() -> tuple[float, list[float], int]:
        clients = [RawClient(server.url) for _ in range(concurrency)]
        idle = list(clients)  # a connection per request in flight, as a browser pool would

        async def one(i: int) -> bool:
            client = idle.pop()
            try:
                return await client.post("/v1/answer", bodies[i % len(bodies)]) == 200
            finally:
                idle.append(client)

        try:
            return await closed_loop(n, concurrency, one)
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    pid = server.process.pid
    client_cpu, server_cpu, loop_cpu = cpu_s(), cpu_s(pid), cpu_s(pid, loop_only=True)
    seconds, latencies, errors = asyncio.run(run())
    server_ms = (cpu_s(pid) - server_cpu) * 1000 / n
    loop_ms = (cpu_s(pid, loop_only=True) - loop_cpu) * 1000 / n
    client_ms = (cpu_s() - client_cpu) * 1000 / n
    return Round(n / seconds, *_tails(latencies), server_ms, loop_ms, client_ms, errors)


def _tails(latencies: list[float]) -> tuple[float, float]:
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


class Server:
    """One ``ragwright serve`` process on a free port of 127.0.0.1."""

    def __init__(self, work: Path, traces: bool, profile: Path | None) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.log = (work / f"serve-traces-{traces}.log").open("w")
        self.profile = profile / f"serve-traces-{traces}.prof" if profile else None
        env = {**_env(), "RAGWRIGHT_TRACES": str(traces).lower()}
        if self.profile is None:
            command = [sys.executable, "-m", "ragwright.cli.app", "serve", "--port", str(port)]
        else:
            wrapper = PROFILE_WRAPPER.format(out=str(self.profile))
            command = [sys.executable, "-c", wrapper, str(port)]
        self.process = subprocess.Popen(
            command, cwd=work, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, timeout_s: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"ragwright serve exited; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"ragwright serve did not come up; see {self.log.name}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown: traces flushed
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _env() -> dict[str, str]:
    """This environment, with this checkout first on the path of the child processes."""
    env = {**os.environ, "NO_COLOR": "1"}
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    return env


def _innermost(embedder: Any) -> Any:
    while hasattr(embedder, "inner"):  # cost meters and caches wrap the embedder
        embedder = embedder.inner
    return embedder


def online_rate(store: Any, judge: Any, n: int) -> float:
    """Traces the local judge scores per second: up to ``n`` of those waiting, in batches."""
    from ragwright.evals.online import OnlineEvaluator

    evaluator = OnlineEvaluator(store, judge)
    started = time.perf_counter()
    while evaluator.scored < n:
        # the traffic repeats a few questions: a cold cache per batch keeps the judge from
        # answering most of them from memory, as distinct real traffic would not let it
        judge._cache.clear()
        if not evaluator.run_once():
            break
    return evaluator.scored / (time.perf_counter() - started)


def report(concurrency: int, results: dict[str, list[Round]]) -> None:
    print(f"\nconcurrency {concurrency} (medians of {len(results['in-process off'])} rounds)")
    print(
        f"  {'arm':16} {'answers/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/answer':>13}"
        f" {'loop CPU ms':>11} {'client CPU ms':>13} {'errors':>6}  rounds (answers/s)"
    )
    medians: dict[str, dict[str, float]] = {}
    for arm, rounds in results.items():
        m = {
            field: statistics.median(getattr(r, field) for r in rounds)
            for field in ("rate", "p50_ms", "p99_ms", "cpu_ms", "loop_cpu_ms", "client_cpu_ms")
        }
        medians[arm] = m
        http = arm.startswith("HTTP")
        loop = f"{m['loop_cpu_ms']:11.2f}" if http else f"{'-':>11}"
        client = f"{m['client_cpu_ms']:13.2f}" if http else f"{'-':>13}"
        print(
            f"  {arm:16} {m['rate']:9.1f} {m['p50_ms']:8.0f} {m['p99_ms']:8.0f}"
            f" {m['cpu_ms']:13.2f} {loop} {client} {sum(r.errors for r in rounds):6d}"
            f"  {[round(r.rate, 1) for r in rounds]}"
        )
    for tracing in ("off", "on"):
        remote, local = medians[f"HTTP {tracing}"], medians[f"in-process {tracing}"]
        ratio = remote["rate"] / local["rate"]
        verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
        print(
            f"  tracing {tracing}: HTTP / in-process = {ratio:.2f} (target >= {TARGET_RATIO})"
            f" {verdict}; HTTP layer CPU per request {remote['cpu_ms'] - local['cpu_ms']:+.2f} ms"
        )


def print_profiles(profile: Path) -> None:
    import pstats

    for path in sorted(profile.glob("*.prof")):
        print(f"\n--- {path.name}: the event loop thread's CPU, by own time ---")
        pstats.Stats(str(path)).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per arm and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--no-guardrails", action="store_true", help="serve without guardrails")
    parser.add_argument("--profile", type=Path, help="write the servers' cProfile stats here")
    args = parser.parse_args()

    from ragwright.evals.online import local_judge
    from ragwright.rag.chain import RagChain
    from ragwright.rag.server import ServeOptions
    from ragwright.rag.serving import AnswerPool, ServedChain
    from ragwright.traces.recorder import recorder_for

    work = Path(tempfile.mkdtemp(prefix="ragwright-serve-"))
    settings = project(work, guardrails=not args.no_guardrails)
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    servers = {tracing: Server(work, tracing, args.profile) for tracing in (False, True)}
    served: Any = None
    pool: Any = None
    try:
        guard = None
        if settings.guardrails.enabled:  # as `ragwright serve` builds it (cli/app.py _guard)
            from ragwright.guardrails import Guardrails

            guard = Guardrails.from_settings(settings)
        chain = RagChain.from_settings(settings, guard=guard)
        options = ServeOptions.from_settings(settings)
        served = ServedChain(chain, options.refresh_s)
        served.start_watching()  # as the server's lifespan does: the index check, off requests
        pool = AnswerPool(options.workers, options.in_flight_limit)
        pool.start()
        recorder = recorder_for(settings)
        judge = local_judge(settings)
        chain.warm()
        judge.prefetch([("warm up", ["warm up"])])
        for server in servers.values():
            server.wait_ready()
        runtime = getattr(_innermost(chain.retriever.embedder), "runtime", "?")
        print(
            f"serve benchmark: {chain.model.name}, {chain.retriever.embedder.name}"
            f" ({runtime} in this process), embedded"
            f" Chroma, guardrails {'on' if guard else 'off'}, {options.workers} answer threads;"
            f" {args.requests} requests per arm and round; {os.cpu_count()} CPUs"
        )
        online: list[float] = []
        for concurrency in args.concurrency:
            in_process(served, pool, WARM_UP, concurrency)
            for server in servers.values():
                over_http(server, WARM_UP, concurrency)
                if server.profile is not None:
                    server.process.send_signal(signal.SIGUSR1)  # profile from here on
            results: dict[str, list[Round]] = {
                arm: [] for arm in ("in-process off", "in-process on", "HTTP off", "HTTP on")
            }
            for _ in range(args.rounds):
                for tracing in ("off", "on"):
                    served.chain.tracer = recorder if tracing == "on" else None
                    results[f"in-process {tracing}"].append(
                        in_process(served, pool, args.requests, concurrency)
                    )
                for tracing in ("off", "on"):
                    server = servers[tracing == "on"]
                    results[f"HTTP {tracing}"].append(over_http(server, args.requests, concurrency))
                time.sleep(1)  # the server's recorder writes every 0.5 s
                recorder.flush()
                online.append(online_rate(recorder.store, judge, args.requests))
            report(concurrency, results)
            served_rate = statistics.median(r.rate for r in results["HTTP on"])
            rate = statistics.median(online[-args.rounds :])
            verdict = "PASS" if rate >= served_rate else "FAIL"
            print(
                f"  online evaluation (local judge, in rounds): {rate:.1f} traces/s vs HTTP"
                f" tracing on {served_rate:.1f} req/s: ratio {rate / served_rate:.2f}"
                f" (target >= 1) {verdict}; rounds {[round(r, 1) for r in online[-args.rounds :]]}"
            )
    finally:
        if served is not None:
            served.stop_watching()
        if pool is not None:
            pool.shutdown()
        for server in servers.values():
            server.stop()
    if args.profile:
        print_profiles(args.profile)


if __name__ == "__main__":
    main()
