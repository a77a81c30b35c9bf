"""Ingest under faults with real processes (issue 13): ``ragwright index run`` killed with
SIGKILL mid-document and after Prefect's API is up, two ingests at once, and store errors
raised inside the Prefect flow.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ragwright.errors import IngestBusyError
from ragwright.flows.ingest import flow_settings, ingest, ingest_flow
from ragwright.flows.lock import lock_holder
from ragwright.settings import Settings
from tests.conftest import run_cli
from tests.ingest_checks import expected_chunks, served_chunks, staged_progress
from tests.test_ingest_faults import HOLD

pytestmark = pytest.mark.slow

CLI_ENV = {
    "RAGWRIGHT_CHUNK_TOKENS": "16",
    "RAGWRIGHT_CHUNK_OVERLAP": "0",
    # Prefect's API may need more than its default 20 s to start on a busy 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def manual(paragraphs: int) -> str:
    """A Markdown manual whose every paragraph is one 16-token chunk."""
    body = "\n\n".join(f"Step {p} turns valve {p * 7} clockwise." for p in range(paragraphs))
    return f"# Manual\n\n{body}\n"


def start_index_run(project: Path) -> subprocess.Popen[bytes]:
    log = (project / "index-run.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "ragwright.cli.app", "index", "run"],
        cwd=project,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **CLI_ENV, "NO_COLOR": "1"},
    )


def wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str, limit_s: int = 180
) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert process.poll() is None, f"index run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within {limit_s} s"
        time.sleep(0.05)


def run_started(index_db: Path) -> bool:
    """The flow body has begun (so Prefect's API is up): a run is recorded."""
    try:
        with sqlite3.connect(index_db, timeout=1) as conn:
            return bool(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return False


def children(pid: int) -> dict[int, str]:
    """Live (not zombie) processes whose parent is ``pid``: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = cmdline
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "docs").mkdir()
    return Settings(docs_dir=tmp_path / "docs", chunk_tokens=16, chunk_overlap=0)


def test_sigkill_mid_document_then_rerun_resumes_its_batches(settings: Settings) -> None:
    page = settings.docs_dir / "manual.md"
    page.write_text(manual(5), encoding="utf-8")
    ingest(settings)
    before = served_chunks(settings)
    page.write_text(manual(1200), encoding="utf-8")  # 1,200 new chunks: 6 batches of 200

    child = start_index_run(settings.project_root)
    try:
        wait_until(
            lambda: any(s >= 200 for _, s, _ in staged_progress(settings.home)),
            child,
            "staged batch",
        )
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    [(doc_id, staged, total)] = staged_progress(settings.home)
    assert doc_id == "manual.md"
    assert 200 <= staged < total, (staged, total)
    assert served_chunks(settings) == before  # the complete old version still serves
    status = run_cli("index", "status", cwd=settings.project_root, env=CLI_ENV)
    assert f"part-way: manual.md {staged}/{total} chunks embedded" in status.stdout

    summary = ingest(settings)
    assert summary.chunks_reused > 0
    assert summary.chunks_resumed >= staged
    assert summary.chunks_added == total - summary.chunks_resumed
    assert served_chunks(settings) == expected_chunks(settings)
    assert not settings.staging_db.exists()


def test_sigkill_after_the_api_is_up_leaves_no_process_behind(settings: Settings) -> None:
    (settings.docs_dir / "manual.md").write_text(manual(1200), encoding="utf-8")
    child = start_index_run(settings.project_root)
    try:
        wait_until(lambda: run_started(settings.index_db), child, "run")
        helpers = children(child.pid)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert any("uvicorn" in cmd for cmd in helpers.values()), helpers
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = {pid: cmd for pid, cmd in helpers.items() if alive(pid)}
    for pid in survivors:  # do not leak them into the rest of the session
        os.kill(pid, signal.SIGKILL)
    assert survivors == {}


def test_two_ingests_at_once_the_second_fails_fast(settings: Settings) -> None:
    (settings.docs_dir / "manual.md").write_text(manual(300), encoding="utf-8")
    first = start_index_run(settings.project_root)
    try:
        wait_until(
            lambda: (lock_holder(settings.home) or {}).get("pid") == first.pid, first, "lock"
        )
        second = run_cli("index", "run", cwd=settings.project_root, env=CLI_ENV)
        assert first.poll() is None  # the second gave up while the first was still working
    finally:
        assert first.wait(timeout=300) == 0
    assert second.returncode == 2
    assert "Traceback" not in second.stderr + second.stdout
    [line] = second.stderr.strip().splitlines()
    assert f"another ingest is running (pid {first.pid}, since " in line
    assert line.endswith("wait for it or stop it")
    assert served_chunks(settings) == expected_chunks(settings)


def test_the_prefect_flow_takes_the_lock_too(settings: Settings) -> None:
    """What a scheduled deployment runs: ``ingest_flow`` in its own process."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(settings.home)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(IngestBusyError, match=f"pid {holder.pid}"):
            ingest_flow(settings=flow_settings(settings))
    finally:
        holder.kill()
        holder.wait()


def test_corrupt_index_db_fails_index_run_with_one_line(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    settings.index_db.write_bytes(os.urandom(8192))
    result = run_cli("index", "run", cwd=settings.project_root, env=CLI_ENV)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {settings.index_db}: index.db is corrupt")
    assert "run `ragwright index run --full`" in line
