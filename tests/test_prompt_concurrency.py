"""Concurrent lifecycle changes: every promotion, publication and new version is kept.

Real processes, started together behind a barrier, each changing the same prompt;
without the store lock, each read-modify-write of prompt.yaml overwrote the others'.
"""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import traceback
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from ragwright.errors import StoreBusyError
from ragwright.prompts.lifecycle import Evidence, Lifecycle
from ragwright.prompts.lock import LOCK_FILE, store_lock
from ragwright.prompts.store import PromptStore

WORKERS = 6
ROUNDS = 4


def no_evidence(name: str, version: str, prompt_hash: str) -> Evidence | None:
    return None


def _promote_worker(root: str, worker: int, barrier: Barrier) -> None:
    lifecycle = Lifecycle(PromptStore(Path(root)))
    barrier.wait()
    for round_ in range(ROUNDS):
        lifecycle.promote(
            "rag_answer",
            "v2",
            alias=f"w{worker}_{round_}",
            force=True,
            reason=f"worker {worker} round {round_}",
            find_evidence=no_evidence,
            by=f"worker-{worker}",
        )


def _new_and_publish_worker(root: str, worker: int, barrier: Barrier) -> None:
    lifecycle = Lifecycle(PromptStore(Path(root)))
    barrier.wait()
    path = lifecycle.new("rag_answer", "v1")
    path.write_text(path.read_text("utf-8") + f"\n{{# edited by worker {worker} #}}\n", "utf-8")
    lifecycle.publish("rag_answer", path.stem, by=f"worker-{worker}")


def _reporting(target: Callable[[str, int, Barrier], None], root: str, i: int, b: Barrier) -> None:
    """Run ``target``; a failure's traceback goes to a file the test shows."""
    try:
        target(root, i, b)
    except BaseException:
        Path(root, f"worker-{i}.error").write_text(traceback.format_exc(), encoding="utf-8")
        raise


def run_together(target: Callable[[str, int, Barrier], None], root: Path) -> None:
    # spawn, not fork: after dozens of tests the pytest process carries threads and
    # at-fork hooks of libraries (MLflow, Prefect, a cost writer) that a fork inherits
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    workers = [
        context.Process(target=_reporting, args=(target, str(root), i, barrier))
        for i in range(WORKERS)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    errors = "\n".join(p.read_text("utf-8") for p in sorted(root.glob("worker-*.error")))
    assert [p.exitcode for p in workers] == [0] * WORKERS, errors


def test_concurrent_promotions_keep_every_alias_and_history_entry(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    history_before = len(PromptStore(root).manifest("rag_answer").history)

    run_together(_promote_worker, root)

    manifest = PromptStore(root).manifest("rag_answer")
    expected = {f"w{w}_{r}" for w in range(WORKERS) for r in range(ROUNDS)}
    assert expected <= set(manifest.aliases)
    added = manifest.history[history_before:]
    assert sorted(e.alias or "" for e in added) == sorted(expected)
    assert all(e.action == "promote" and e.forced for e in added)
    assert [e.at for e in added] == sorted(e.at for e in added)  # applied one after another


def test_concurrent_new_and_publish_keep_every_version(tmp_path: Path) -> None:
    root = tmp_path / "prompts"

    run_together(_new_and_publish_worker, root)

    store = PromptStore(root)
    created = [f"v{n}" for n in range(3, 3 + WORKERS)]
    assert store.version_ids("rag_answer") == ["v1", "v2", *created]
    manifest = store.manifest("rag_answer")
    assert set(created) <= set(manifest.versions)
    published = [e for e in manifest.history if e.action == "publish"]
    assert sorted(e.to_version for e in published) == sorted(created)
    bodies = {store.get(f"rag_answer@{v}").file.body for v in created}
    assert len(bodies) == WORKERS  # no worker's draft was overwritten by another's
    for version in created:  # and each recorded hash is that file's
        assert manifest.versions[version].hash == store.get(f"rag_answer@{version}").hash


HOLDER = """
import sys, time
from pathlib import Path
from ragwright.prompts.lock import store_lock
with store_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_held_lock_makes_others_wait_then_fail_clearly(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(StoreBusyError) as info, store_lock(root, timeout_s=0.1):
            pass  # pragma: no cover - the lock is held
        assert str(root / LOCK_FILE) in str(info.value)
        assert f"pid {holder.pid}" in str(info.value)
        assert "retry" in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    with store_lock(root, timeout_s=5):  # released when its holder died
        pass
    with store_lock(root), store_lock(root):  # re-entrant within one process
        pass
    assert PromptStore(root).names(layer="project") == ["rag_answer"]  # the lock is no prompt
