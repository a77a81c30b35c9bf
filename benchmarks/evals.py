"""Eval runner concurrency and the call cache, against a local OpenAI-compatible server.

    .venv/bin/python benchmarks/evals.py [--cases 100] [--concurrency 16] [--delay 0.2]

The server (tests/openai_server.py, 127.0.0.1) answers every request after a fixed
delay. Each case makes one answer call and two judge calls (hallucination, relevance).
Targets (eval gate issue): wall time >= 0.8 of the ideal calls x delay / concurrency;
an identical re-run makes 0 calls and takes < 5 % of the first run's time.
"""

from __future__ import annotations

import argparse
import json
import os
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
    if "grade whether an ANSWER" in system:
        return json.dumps({"score": 4, "reason": "answers the question"})
    return "The rollback command moves production back to the previous version. [rollback.md]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()

    from ragwright.offline import apply_offline_defaults, quiet_library_logs

    apply_offline_defaults()
    quiet_library_logs()
    from ragwright.evals.golden import load_golden_set
    from ragwright.evals.judges.registry import judge_from_settings
    from ragwright.evals.runner import run_eval_blocking
    from ragwright.flows.ingest import ingest
    from ragwright.rag import RagChain
    from ragwright.settings import Settings
    from tests.openai_server import OpenAIServer

    work = Path(tempfile.mkdtemp(prefix="ragwright-evals-bench-"))
    docs = work / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    golden = work / "set.jsonl"
    topics = [
        "roll back the production prompt",
        "switch Chroma to a server",
        "price an unknown model",
    ]
    golden.write_text(
        "\n".join(
            json.dumps({"id": f"c{i:03}", "question": f"Case {i}: how do I {topics[i % 3]}?"})
            for i in range(args.cases)
        )
        + "\n",
        encoding="utf-8",
    )

    with OpenAIServer(default=scripted, delay_s=args.delay) as server:
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
        cases = load_golden_set(golden)

        def one_run() -> tuple[float, int, Any]:
            before = len(server.requests)
            chain = RagChain.from_settings(settings, cached=True)
            judge = judge_from_settings(settings)
            started = time.perf_counter()
            run = run_eval_blocking(
                chain, cases, judge, prompt="rag_answer:production", concurrency=args.concurrency
            )
            return time.perf_counter() - started, len(server.requests) - before, run

        first_s, first_calls, run = one_run()
        second_s, second_calls, _ = one_run()
        judge_tokens = (
            sum(
                len(body["messages"][0]["content"]) + len(body["messages"][-1]["content"])
                for body in server.bodies
                if body and body.get("response_format")
            )
            / 4
            / args.cases
        )

    ideal = first_calls * args.delay / args.concurrency
    print(
        f"{args.cases} cases, concurrency {args.concurrency}, server delay"
        f" {args.delay * 1000:.0f} ms, {os.cpu_count()} CPUs"
    )
    print(
        f"first run:   {first_s:6.2f} s, {first_calls} calls; ideal"
        f" {first_calls} x {args.delay} / {args.concurrency} = {ideal:.2f} s;"
        f" efficiency {ideal / first_s:.2f} (target >= 0.8)"
    )
    print(
        f"cached rerun:{second_s:6.2f} s, {second_calls} calls"
        f" ({second_s / first_s:.1%} of the first run; target 0 calls and < 5 %)"
    )
    print(f"judge prompt size: ~{judge_tokens:.0f} tokens per case (chars / 4, both judges)")
    print(f"errors: {run.summary.errors}, unparseable: {run.summary.unparseable}")


if __name__ == "__main__":
    main()
