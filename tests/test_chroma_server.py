"""RAGWRIGHT_CHROMA_URL switches to a real Chroma server: same code, settings only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragwright.flows.ingest import ingest
from ragwright.rag import RagChain
from ragwright.settings import Settings

CHROMA = Path(sys.executable).parent / "chroma"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(tmp_path / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, "chroma run exited"
                assert time.monotonic() < deadline, "chroma server not healthy in 60 s"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.slow
@pytest.mark.skipif(not CHROMA.exists(), reason="chroma CLI not installed")
def test_ingest_and_answer_through_a_chroma_server(
    chroma_server: str, small_docs: Path, isolated_home: Path
) -> None:
    settings = Settings(docs_dir=small_docs, chroma_url=chroma_server)
    first = ingest(settings)
    assert first.docs_new == 4
    assert not (isolated_home / "chroma").exists()  # nothing went to the embedded store
    again = ingest(settings)
    assert again.docs_unchanged == 4
    assert again.chunks_added == 0
    answer = RagChain.from_settings(settings).invoke({"question": "How do I roll back a prompt?"})
    assert answer.citations[0] == "rollback.md"
