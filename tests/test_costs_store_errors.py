"""A broken costs.db is a one-line error naming the file and the fix, never a traceback.

Real SQLite failures, each produced by SQLite itself: garbage bytes, a file cut
in half, a damaged data page (found only when a query reaches it), a full disk
(``max_page_count``) and a read-only database (``query_only``).
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from ragwright.costs import CostMonitor
from ragwright.costs.record import CallRecord
from ragwright.costs.store import CostStore
from ragwright.sqlite import StoreError
from tests.conftest import run_cli


def _records(n: int) -> list[CallRecord]:
    return [
        CallRecord(
            ts=f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000+00:00",
            provider="openai",
            model="gpt-4o-mini",
            operation="generate",
            prompt="rag_answer@v1" + "-" * 40,
            prompt_tokens=100,
            completion_tokens=10,
            estimated=False,
            latency_ms=5.0,
            cost_usd=0.001,
            status="ok",
            tags=(("team", "x" * 40),),
        )
        for i in range(n)
    ]


def filled_store(path: Path, n: int = 3000) -> bytes:
    """A costs.db of several hundred KB, checkpointed into the main file; its bytes."""
    store = CostStore(path)
    store.insert(_records(n))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path.read_bytes()


def assert_one_line_error(result_stderr: str, path: Path, hint: str) -> None:
    lines = result_stderr.strip().splitlines()
    assert len(lines) == 1, result_stderr
    assert str(path) in lines[0]
    assert hint in lines[0]
    assert "Traceback" not in result_stderr


@pytest.fixture
def costs_db(isolated_home: Path) -> Path:
    path = isolated_home / "costs.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_garbage_costs_db_is_one_line_from_the_cli(costs_db: Path, tmp_path: Path) -> None:
    costs_db.write_bytes(random.Random(5).randbytes(64 * 1024))
    result = run_cli("costs", "report", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, costs_db, "Move it aside")


def test_truncated_costs_db_is_one_line_from_the_cli(costs_db: Path, tmp_path: Path) -> None:
    data = filled_store(costs_db)
    costs_db.write_bytes(data[: len(data) // 2])
    result = run_cli("costs", "report", "--by", "day", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, costs_db, "Move it aside")


def damage_a_data_page(path: Path) -> bytes:
    data = bytearray(filled_store(path))
    rng = random.Random(1)
    middle = len(data) // 2 // 4096 * 4096
    for i in range(middle, middle + 2 * 4096):  # two whole pages of table data
        data[i] = rng.randrange(256)
    path.write_bytes(bytes(data))
    return bytes(data)


def test_damaged_data_page_is_found_by_a_query_and_mapped(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    damaged = damage_a_data_page(path)
    store = CostStore(path)  # opening reads only the schema page: it succeeds
    try:
        with pytest.raises(StoreError, match="not a usable SQLite database") as info:
            store.group("model")
        assert str(path) in str(info.value)
        assert f"mv {path} {path}.corrupt" in str(info.value)
    finally:
        store.close()
    assert path.read_bytes() == damaged  # reporting never writes to a damaged file


def test_damaged_data_page_from_the_cli(costs_db: Path, tmp_path: Path) -> None:
    damage_a_data_page(costs_db)
    result = run_cli("costs", "report", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert_one_line_error(result.stderr, costs_db, "Move it aside")


def test_full_disk_keeps_earlier_rows_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    store = CostStore(path)
    try:
        store.insert(_records(10))
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute(f"PRAGMA max_page_count={pages + 2}")  # SQLite's own SQLITE_FULL
        with pytest.raises(StoreError, match="the disk is full") as info:
            store.insert(_records(2000))
        assert str(path) in str(info.value)
        assert "\n" not in str(info.value)
        assert store.count() == 10  # the failed batch rolled back whole; nothing else lost
    finally:
        store.close()


def test_read_only_database_says_how_to_fix_it(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    store = CostStore(path)
    try:
        store.conn.execute("PRAGMA query_only=ON")  # SQLite's own SQLITE_READONLY
        with pytest.raises(StoreError, match="read-only") as info:
            store.insert(_records(1))
        assert "writable" in str(info.value)
        assert str(path) in str(info.value)
    finally:
        store.close()


def test_monitor_reports_a_full_disk_in_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "costs.db"
    monitor = CostMonitor(path, flush_interval_s=3600, batch_size=10_000)  # no writer wake-up
    try:
        for record in _records(5):
            monitor.record(record)
        monitor.flush()
        assert monitor._store is not None
        pages = monitor._store.conn.execute("PRAGMA page_count").fetchone()[0]  # type: ignore[attr-defined]
        monitor._store.conn.execute(f"PRAGMA max_page_count={pages}")  # type: ignore[attr-defined]
        for record in _records(500):
            monitor.record(record)
        with caplog.at_level(logging.WARNING, logger="ragwright.costs.monitor"):
            assert monitor.flush_quietly() is False
        [warning] = [r for r in caplog.records if "not yet written" in r.getMessage()]
        assert "the disk is full" in warning.getMessage()
        assert warning.exc_info is None
        assert monitor.pending == 500  # kept for the next try
    finally:
        monitor._store.conn.execute("PRAGMA max_page_count=1073741823")  # type: ignore[union-attr]
        monitor.close()
    assert CostStore(path).count() == 505
