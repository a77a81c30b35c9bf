"""``ragwright eval run`` against an endpoint that answers malformed 200s to some requests.

    .venv/bin/python benchmarks/fault_replies.py [--cases 40] [--every 4] [--concurrency 8]

The scripted OpenAI-compatible server (tests/openai_server.py) answers every
``--every``-th question with one of: an HTML page (text/html), HTML labelled
JSON, a truncated JSON body, JSON without ``choices``, an empty body. The real
CLI runs the golden set (local judge, so only answers hit the endpoint).
Expected: exit 0, every case scored (errors are explicit cases), the malformed
ones counted as errors, and one cost row per completed call.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import write_docs, write_golden  # noqa: E402
from tests.openai_server import Completion, OpenAIServer, Raw  # noqa: E402

BAD = [
    Raw("<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"),
    Raw("<html>login required</html>"),
    Raw('{"id": "chatcmpl-1", "choices": [{"message": {"content": "cut'),
    Raw({"id": "chatcmpl-2", "object": "chat.completion"}),
    Raw(""),
]
TOPICS = ["roll back the production prompt", "tomatoes and sun", "Chroma server mode", "costs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--every", type=int, default=4, help="one malformed reply per N cases")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    project = Path(tempfile.mkdtemp(prefix="ragwright-fault-replies-"))
    (project / "ragwright.toml").write_text("", encoding="utf-8")
    shutil.copytree(REPO / "prompts" / "rag_answer", project / "prompts" / "rag_answer")
    write_docs(project / "docs")
    questions = [f"Question {i}: what about {TOPICS[i % len(TOPICS)]}?" for i in range(args.cases)]
    golden = write_golden(
        project / "set.jsonl", [{"id": f"q{i}", "question": q} for i, q in enumerate(questions)]
    )
    malformed = {q for i, q in enumerate(questions) if i % args.every == args.every - 1}

    def reply(body: dict[str, Any]) -> Completion | Raw:
        question = next((q for q in malformed if q in body["messages"][-1]["content"]), None)
        if question is None:
            return Completion("The rollback command moves production back. [rollback.md]")
        return BAD[zlib.crc32(question.encode()) % len(BAD)]

    env = {
        **os.environ,
        "RAGWRIGHT_HOME": str(project / "home"),
        "RAGWRIGHT_CHAT_MODEL": "gpt-4o-mini",
        "RAGWRIGHT_OPENAI_MAX_RETRIES": "0",
        "RAGWRIGHT_EVAL_CONCURRENCY": str(args.concurrency),
        "RAGWRIGHT_EVAL_CACHE": "false",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    cli = [sys.executable, "-m", "ragwright.cli.app"]
    subprocess.run([*cli, "index", "run"], cwd=project, env=env, check=True, capture_output=True)
    with OpenAIServer(default=reply) as server:
        env["RAGWRIGHT_OPENAI_BASE_URL"] = server.base_url
        started = time.perf_counter()
        result = subprocess.run(
            [*cli, "eval", "run", "--golden-set", str(golden), "--no-mlflow"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - started
        completed = len(server.requests)

    report = next((project / "home" / "reports").glob("eval-*.md"), None)
    scored = errors = -1
    if report is not None:
        row = next(line for line in report.read_text().splitlines() if line.startswith("| `"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        scored = int(cells[3])
        errors = int(re.split(r"\s*/\s*", cells[-1])[0])
    conn = sqlite3.connect(project / "home" / "costs.db")
    rows = conn.execute(
        "SELECT COUNT(*) FROM calls WHERE operation = 'generate' AND tags LIKE '%eval_run%'"
    ).fetchone()[0]
    conn.close()
    traceback = "Traceback" in result.stderr
    print(f"eval run: exit {result.returncode} in {elapsed:.1f} s, traceback: {traceback}")
    print(
        f"cases scored {scored}/{args.cases}, errors counted {errors} (expected {len(malformed)}),"
        f" cost rows {rows} of {completed} completed calls"
    )
    ok = (result.returncode, scored, errors, rows) == (0, args.cases, len(malformed), completed)
    print(f"-> {'PASS' if ok and not traceback else 'FAIL'}")
    if not ok:
        print(result.stdout[-2000:], result.stderr[-2000:])


if __name__ == "__main__":
    main()
