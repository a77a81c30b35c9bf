"""/healthz of `ragwright serve` while its model provider hangs (issue 13, item 1).

Real processes: the fake OpenAI server (tests/openai_server.py) runs as a process
that accepts requests and never answers, and `ragwright serve` runs pointed at it
with a 30 s provider timeout and no retries. The script fires N concurrent answer
requests (default 60), then measures /healthz latency for ~10 s, sequentially,
and prints p50/p99 against the same server's idle latency measured first.

Before the fix, answer requests ran on Starlette's shared thread pool and so did
the sync /healthz route: with the pool exhausted, one health check waited 41.8 s.

    .venv/bin/python benchmarks/fault_healthz.py [--requests 60] [--seconds 10]
    .venv/bin/python benchmarks/fault_healthz.py --source ../main   # another checkout's code

Target: healthz p99 <= 1000 ms under a hung provider.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
PROVIDER_TIMEOUT_S = 30
DOCS = {
    "rollback.md": "# Rolling back prompts\n\nThe ragwright prompts rollback command moves the"
    " production alias back to the previous production version.\n",
    "costs.md": "# Costs\n\nEvery model call records its tokens, latency and cost.\n",
    "chroma.md": "# Chroma\n\nRAGWRIGHT_CHROMA_URL switches to a Chroma server.\n",
}


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile: with 100 samples, p99 is the 99th smallest."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_project(root: Path, env: dict[str, str]) -> None:
    """A project with a small index, built by the code under test."""
    (root / "ragwright.toml").write_text("# fault_healthz benchmark\n", encoding="utf-8")
    shutil.copytree(REPO / "prompts" / "rag_answer", root / "prompts" / "rag_answer")
    (root / "docs").mkdir()
    for name, text in DOCS.items():
        (root / "docs" / name).write_text(text, encoding="utf-8")
    ingest = (
        "from ragwright.flows.ingest import ingest; from ragwright.settings import load_settings;"
        " ingest(load_settings())"
    )
    subprocess.run(
        [sys.executable, "-c", ingest], cwd=root, env=env, check=True, capture_output=True
    )


def start_provider() -> tuple[subprocess.Popen[str], str]:
    """The fake OpenAI server as a process that holds every request for an hour."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_server", "--delay", "3600"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"ragwright serve exited:\n{log.read_text(encoding='utf-8')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    sys.exit("ragwright serve did not come up within 300 s")


def healthz_ms(client: httpx.Client, url: str) -> float:
    """One health check on a kept-alive connection, as a load balancer makes them."""
    started = time.perf_counter()
    client.get(f"{url}/healthz", timeout=120).raise_for_status()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60, help="concurrent answer requests")
    parser.add_argument("--seconds", type=float, default=10.0, help="measurement window")
    parser.add_argument("--source", type=Path, default=REPO, help="checkout whose code serves")
    args = parser.parse_args()
    source = args.source.resolve()

    work = Path(tempfile.mkdtemp(prefix="ragwright-fault-healthz-"))
    provider, base_url = start_provider()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGWRIGHT_")}
    env.update(
        PYTHONPATH=str(source),
        RAGWRIGHT_CHAT_MODEL="gpt-4o-mini",
        RAGWRIGHT_OPENAI_BASE_URL=base_url,
        RAGWRIGHT_OPENAI_API_KEY="sk-benchmark-not-a-real-key-000000",
        RAGWRIGHT_OPENAI_TIMEOUT_S=str(PROVIDER_TIMEOUT_S),
        RAGWRIGHT_OPENAI_MAX_RETRIES="0",
        RAGWRIGHT_GUARDRAILS__ENABLED="false",
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    clients = ThreadPoolExecutor(args.requests)
    serve: subprocess.Popen[bytes] | None = None
    try:
        make_project(work, env)
        with log.open("wb") as out:
            serve = subprocess.Popen(
                [sys.executable, "-m", "ragwright.cli.app", "serve", "--port", str(port)],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(url, serve, log)
        checker = httpx.Client()
        idle = [healthz_ms(checker, url) for _ in range(20)]

        def ask() -> int:
            body = {"question": "How do I roll back the production prompt?"}
            timeout = PROVIDER_TIMEOUT_S * 4
            return httpx.post(f"{url}/v1/answer", json=body, timeout=timeout).status_code

        asks: list[Future[int]] = [clients.submit(ask) for _ in range(args.requests)]
        time.sleep(0.5)  # let them reach the server
        samples: list[float] = []
        window_end = time.monotonic() + args.seconds
        while time.monotonic() < window_end:
            samples.append(healthz_ms(checker, url))
            time.sleep(0.05)
        done = [f.result() for f in asks if f.done()]
        refused = done.count(503)
        pending = sum(1 for f in asks if not f.done())
        other = len(done) - refused

        print(f"code: {source}; provider hangs; timeout {PROVIDER_TIMEOUT_S} s, no retries")
        print(f"idle healthz: p50 {percentile(idle, 50):.1f} ms over {len(idle)} requests")
        print(
            f"under load:   p50 {percentile(samples, 50):.1f} ms, max {max(samples):.1f} ms"
            f" over {len(samples)} requests in {args.seconds:.0f} s"
        )
        p99 = percentile(samples, 99)
        verdict = "PASS" if p99 <= 1000 else "FAIL"
        print(
            f"healthz p99 {p99:.0f} ms under a hung provider (target ≤ 1000 ms) {verdict};"
            f" answer requests: {refused} 503, {pending} pending"
            + (f", {other} other" if other else "")
        )
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGKILL)  # a graceful stop would wait for the hung calls
            serve.wait()
        provider.send_signal(signal.SIGTERM)
        provider.wait(timeout=30)
        clients.shutdown(wait=False, cancel_futures=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
