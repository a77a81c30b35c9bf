"""The cost store on a real PostgreSQL server, through ``costs_url``.

A throwaway cluster (``tests/postgres_server.py``) runs for the session; each
test gets a blank database. Skipped, with the reason, where the server
binaries are missing (``make test`` installs them).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from ragwright.costs.monitor import monitor_for
from ragwright.costs.sql_store import SqlAlchemyCostStore
from ragwright.settings import Settings
from ragwright.sqlite import StoreError
from ragwright.usage import Usage
from tests.conftest import run_cli
from tests.postgres_server import (
    free_port,
    postgres_cluster_fixture,  # noqa: F401 - provides `postgres_cluster`
    postgres_url_fixture,  # noqa: F401 - provides `postgres_url`
)
from tests.test_costs_writer import sigkill_writer


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def migration_rows(url: str) -> list[tuple[int, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version, name FROM ragwright_migrations"))
            return [(int(v), str(n)) for v, n in rows]
    finally:
        engine.dispose()


def test_migrations_from_a_blank_database(postgres_url: str) -> None:
    assert tables(postgres_url) == set()
    store = SqlAlchemyCostStore(postgres_url)
    store.close()
    assert tables(postgres_url) == {"ragwright_calls", "ragwright_migrations"}
    assert migration_rows(postgres_url) == [(1, "_v1"), (2, "_v2_ttft")]
    SqlAlchemyCostStore(postgres_url).close()  # re-opening applies nothing twice
    assert migration_rows(postgres_url) == [(1, "_v1"), (2, "_v2_ttft")]


def test_a_table_made_before_migrations_were_recorded_is_adopted(postgres_url: str) -> None:
    from ragwright.costs.sql_store import _v1, calls

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:  # what earlier versions did: create_all, no version table
        _v1(conn)  # the table as version 1 had it: no ttft_ms
        conn.execute(
            calls.insert(),
            [
                {
                    "ts": "2026-01-01T00:00:00", "provider": "openai", "model": "m",
                    "operation": "generate", "prompt_tokens": 1, "completion_tokens": 1,
                    "estimated": 0, "latency_ms": 1.0, "status": "ok", "cached": 0,
                    "tags": "{}",
                }
            ],
        )  # fmt: skip
    engine.dispose()
    store = SqlAlchemyCostStore(postgres_url)
    try:
        assert store.count() == 1
        assert [row.ttft_ms for row in store.rows()] == [None]  # version 2 added the column
    finally:
        store.close()
    assert migration_rows(postgres_url) == [(1, "_v1"), (2, "_v2_ttft")]


def test_record_and_report_through_costs_url(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_home: Path
) -> None:
    monkeypatch.setenv("RAGWRIGHT_COSTS_URL", postgres_url)
    monitor = monitor_for(Settings())
    for team, tokens in (("search", 1000), ("search", 3000), ("support", 500)):
        monitor.record_call(
            provider="openai",
            model="gpt-4o-mini",
            operation="generate",
            prompt="rag_answer@v1",
            usage=Usage(tokens, 100, calls=1),
            latency_ms=40.0,
            tags=(("team", team),),
        )
    monitor.flush()
    result = run_cli("costs", "report", "--by", "tag", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    groups = {row["key"]: row for row in json.loads(result.stdout)}
    assert groups["team=search"]["calls"] == 2
    assert groups["team=search"]["prompt_tokens"] == 4000
    assert groups["team=support"]["cost_usd"] == pytest.approx((500 * 0.15 + 100 * 0.60) / 1e6)
    assert not (isolated_home / "costs.db").exists()  # nothing went to the local file


def _write(url: str, worker: int, n: int, barrier: object) -> None:
    from ragwright.costs import CostMonitor

    barrier.wait()  # type: ignore[attr-defined] - all start on the blank database at once
    monitor = CostMonitor(url, flush_interval_s=0.05, batch_size=50)
    for i in range(n):
        monitor.record_call(
            provider="openai",
            model="gpt-4o-mini",
            operation="generate",
            prompt=f"w{worker}",
            usage=Usage(1, 1, calls=1),
            latency_ms=float(i),
        )
    monitor.close()


def test_concurrent_writers_from_several_processes(postgres_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers, per_worker = 4, 300
    barrier = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_write, args=(postgres_url, w, per_worker, barrier))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in procs] == [0] * workers
    store = SqlAlchemyCostStore(postgres_url)
    try:
        assert store.count() == workers * per_worker
        assert {g.key: g.calls for g in store.group("prompt")} == {
            f"w{w}": per_worker for w in range(workers)
        }
    finally:
        store.close()
    assert migration_rows(postgres_url) == [(1, "_v1"), (2, "_v2_ttft")]  # once despite the race


@pytest.mark.slow
def test_sigkilled_writer_keeps_records_up_to_the_loss_bound(
    postgres_url: str, tmp_path: Path
) -> None:
    killed_at, oldest_lost = sigkill_writer(postgres_url, tmp_path)
    print(f"lost the last {killed_at - oldest_lost:.2f} s")
    assert killed_at - oldest_lost < 2.5
    store = SqlAlchemyCostStore(postgres_url)  # consistent: opens, counts, takes writes
    try:
        before = store.count()
        store.insert([])
        assert store.count() == before
    finally:
        store.close()


# --- configuration errors: one line, no traceback, no password -------------------------------


def test_missing_driver_names_the_extra(tmp_path: Path) -> None:
    fake = tmp_path / "no_driver" / "psycopg"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n"
    )
    url = "postgresql+psycopg://ops:pa55w0rd@db.internal/costs"
    python_path = [str(fake.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    result = run_cli(
        "costs",
        "report",
        cwd=tmp_path,
        env={"RAGWRIGHT_COSTS_URL": url, "PYTHONPATH": os.pathsep.join(python_path)},
        timeout=120,
    )
    assert result.returncode == 2
    assert "its database driver is not installed" in result.stderr
    assert 'pip install "ragwright' in result.stderr  # rich eats "[postgres]": see below
    assert "pa55w0rd" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_driver_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full message; the CLI's error printer renders "[postgres]" as rich markup today."""
    import sys

    from ragwright.errors import ConfigError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(ConfigError) as info:
        SqlAlchemyCostStore("postgresql+psycopg://ops:pa55w0rd@db.internal/costs")
    assert str(info.value).endswith('pip install "ragwright[postgres]"')
    assert "ops:***@db.internal" in str(info.value)


def test_unreachable_server_is_a_store_error_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://ops:pa55w0rd@127.0.0.1:{free_port()}/costs"
    with pytest.raises(StoreError) as info:
        SqlAlchemyCostStore(url)
    message = str(info.value)
    assert "pa55w0rd" not in message
    assert "cannot open the cost store" in message
    assert "\n" not in message
    result = run_cli("costs", "report", cwd=tmp_path, env={"RAGWRIGHT_COSTS_URL": url})
    assert result.returncode == 2
    assert "pa55w0rd" not in result.stderr
    assert "Traceback" not in result.stderr
