"""Cost monitoring: prices, the SQLite call store, migrations, monitor and Usage sums."""

from __future__ import annotations

import logging
import multiprocessing
import random
import sqlite3
import threading
import time
from functools import reduce
from operator import add
from pathlib import Path

import pytest

from ragwright.costs import CostMonitor, PriceTable, metered, monitor_for
from ragwright.costs.monitor import MeteredChatModel
from ragwright.costs.record import CallRecord
from ragwright.costs.store import MIGRATIONS, CostStore, percentile
from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse, Message
from ragwright.settings import load_settings
from ragwright.sqlite import StoreError, connect, execute_script, migrate
from ragwright.usage import Usage
from tests.conftest import cost_rows

PRICING_LOGGER = "ragwright.costs.pricing"


def _record(
    *,
    ts: str = "2025-06-01T12:00:00.000+00:00",
    model: str = "gpt-4o-mini",
    provider: str = "openai",
    operation: str = "generate",
    prompt: str | None = "rag_answer",
    prompt_tokens: int = 100,
    completion_tokens: int = 20,
    estimated: bool = False,
    latency_ms: float = 10.0,
    cost_usd: float | None = 0.001,
    status: str = "ok",
    error_type: str | None = None,
) -> CallRecord:
    return CallRecord(
        ts=ts,
        provider=provider,
        model=model,
        operation=operation,
        prompt=prompt,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        estimated=estimated,
        latency_ms=latency_ms,
        cost_usd=cost_usd,
        status=status,
        error_type=error_type,
    )


# --- Usage ---------------------------------------------------------------------------


def test_usage_sum_adds_tokens_and_calls() -> None:
    usages = [Usage(10, 5, calls=1), Usage(7, 3, calls=1), Usage(1, 0, calls=2)]
    total = sum(usages, Usage())
    assert total == Usage(prompt_tokens=18, completion_tokens=8, estimated=False, calls=4)
    assert total.total_tokens == 26
    assert reduce(add, usages) == total


@pytest.mark.parametrize("estimated_at", [0, 1, 2])
def test_usage_estimated_is_sticky(estimated_at: int) -> None:
    usages = [Usage(10, 5, calls=1) for _ in range(3)]
    usages[estimated_at] = Usage(10, 5, estimated=True, calls=1)
    total = reduce(add, usages)
    assert total.estimated is True
    assert (total + Usage(1, 1, calls=1)).estimated is True
    assert (Usage(1, 1, calls=1) + total).estimated is True
    assert total.prompt_tokens == 30


# --- PriceTable ------------------------------------------------------------------------


def test_known_model_priced_from_pricing_yaml() -> None:
    prices = PriceTable()
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert prices.cost("openai", "gpt-4o-mini", usage) == pytest.approx(0.15 + 0.60)
    assert prices.cost("openai", "gpt-4o-mini", Usage(2000, 1000)) == pytest.approx(0.0009)
    assert prices.cost("openai", "gpt-4o", Usage(1_000_000, 0)) == pytest.approx(2.50)


def test_unknown_model_costs_none_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    prices = PriceTable()
    caplog.set_level(logging.WARNING, logger=PRICING_LOGGER)
    results = [prices.cost("openai", "mystery-model", Usage(100, 50)) for _ in range(5)]
    assert results == [None] * 5
    warnings = [r for r in caplog.records if r.name == PRICING_LOGGER]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "mystery-model" in warnings[0].getMessage()

    # A second unknown model gets its own (single) warning.
    prices.cost("openai", "other-model", Usage(1, 1))
    prices.cost("openai", "other-model", Usage(1, 1))
    warnings = [r for r in caplog.records if r.name == PRICING_LOGGER]
    assert len(warnings) == 2
    assert "other-model" in warnings[1].getMessage()


def test_unknown_model_is_never_priced_zero() -> None:
    prices = PriceTable()
    assert prices.lookup("openai", "mystery-model") is None
    assert prices.cost("openai", "mystery-model", Usage(0, 0)) is None


def test_override_prices_new_and_existing_models() -> None:
    prices = PriceTable(
        overrides={
            "my-model": {"input": 1.0, "output": 2.0},
            "gpt-4o-mini": {"input": 10.0, "output": 20.0},
        }
    )
    assert prices.cost("openai", "my-model", Usage(1_000_000, 500_000)) == pytest.approx(2.0)
    assert prices.cost("openai", "gpt-4o-mini", Usage(100_000, 100_000)) == pytest.approx(3.0)
    # Other models keep their pricing.yaml price.
    assert prices.cost("openai", "gpt-4o", Usage(1_000_000, 0)) == pytest.approx(2.50)


def test_local_models_cost_zero(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=PRICING_LOGGER)
    prices = PriceTable()
    big = Usage(5_000_000, 5_000_000)
    assert prices.cost("local", "extractive", big) == 0.0
    assert prices.cost("local", "anything-at-all", big) == 0.0
    assert prices.cost("openai", "local/judge", big) == 0.0
    assert not [r for r in caplog.records if r.name == PRICING_LOGGER]


# --- CostStore -------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> CostStore:
    s = CostStore(tmp_path / "costs.db")
    yield s
    s.close()


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([40, 10, 30, 20], 0.5) == pytest.approx(25.0)
    assert percentile([10, 20, 30, 40, 50], 0.95) == pytest.approx(48.0)


def test_store_group_by_model_with_percentiles(store: CostStore) -> None:
    latencies = [50.0, 10.0, 40.0, 20.0, 30.0]
    store.insert(
        _record(latency_ms=ms, prompt_tokens=100, completion_tokens=10, cost_usd=0.002)
        for ms in latencies
    )
    store.insert(
        [
            _record(model="gpt-4o", latency_ms=100.0, cost_usd=0.01),
            _record(model="gpt-4o", latency_ms=300.0, cost_usd=0.02, estimated=True),
        ]
    )
    assert store.count() == 7
    groups = {g.key: g for g in store.group(by="model")}
    assert list(groups) == ["openai/gpt-4o", "openai/gpt-4o-mini"]

    mini = groups["openai/gpt-4o-mini"]
    assert mini.calls == 5
    assert mini.prompt_tokens == 500
    assert mini.completion_tokens == 50
    assert mini.cost_usd == pytest.approx(0.010)
    assert mini.unpriced_calls == 0
    assert mini.p50_ms == pytest.approx(30.0)
    assert mini.p95_ms == pytest.approx(48.0)
    assert mini.p99_ms == pytest.approx(49.6)
    assert mini.error_rate == 0.0
    assert mini.estimated_calls == 0

    big = groups["openai/gpt-4o"]
    assert big.calls == 2
    assert big.p50_ms == pytest.approx(200.0)
    assert big.cost_usd == pytest.approx(0.03)
    assert big.estimated_calls == 1


def test_store_group_cost_is_none_when_any_call_unpriced(store: CostStore) -> None:
    store.insert(
        [
            _record(prompt="a", cost_usd=0.5),
            _record(prompt="a", cost_usd=None, model="mystery"),
            _record(prompt="b", cost_usd=0.25),
        ]
    )
    by_prompt = {g.key: g for g in store.group(by="prompt")}
    assert by_prompt["a"].cost_usd is None
    assert by_prompt["a"].unpriced_calls == 1
    assert by_prompt["a"].calls == 2
    assert by_prompt["b"].cost_usd == pytest.approx(0.25)
    assert by_prompt["b"].unpriced_calls == 0
    # The unpriced NULL survives the round trip (not stored as 0).
    assert [r["cost_usd"] for r in cost_rows(store.path)] == [0.5, None, 0.25]


def test_store_group_by_day_prompt_operation(store: CostStore) -> None:
    store.insert(
        [
            _record(ts="2025-06-01T08:00:00.000+00:00", prompt="rag_answer", latency_ms=10),
            _record(ts="2025-06-01T23:59:59.999+00:00", prompt=None, latency_ms=20),
            _record(ts="2025-06-02T00:00:00.000+00:00", operation="judge", latency_ms=30),
            _record(ts="2025-06-03T10:00:00.000+00:00", operation="judge", latency_ms=40),
        ]
    )
    by_day = store.group(by="day")
    assert [(g.key, g.calls) for g in by_day] == [
        ("2025-06-01", 2),
        ("2025-06-02", 1),
        ("2025-06-03", 1),
    ]
    assert by_day[0].p50_ms == pytest.approx(15.0)

    by_prompt = {g.key: g.calls for g in store.group(by="prompt")}
    assert by_prompt == {"-": 1, "rag_answer": 3}

    by_op = {g.key: g.calls for g in store.group(by="operation")}
    assert by_op == {"generate": 2, "judge": 2}


def test_store_since_inclusive_until_exclusive(store: CostStore) -> None:
    store.insert(
        _record(ts=f"2025-06-{day:02d}T12:00:00.000+00:00", latency_ms=float(day))
        for day in range(1, 11)
    )
    window = store.group(by="model", since="2025-06-03", until="2025-06-06")
    assert len(window) == 1
    assert window[0].calls == 3  # days 3, 4, 5
    assert window[0].p50_ms == pytest.approx(4.0)
    assert sum(g.calls for g in store.group(by="day", since="2025-06-09")) == 2
    assert sum(g.calls for g in store.group(by="day", until="2025-06-02")) == 1
    # An exact timestamp bound: since is inclusive, until exclusive.
    exact = "2025-06-05T12:00:00.000+00:00"
    assert sum(g.calls for g in store.group(by="day", since=exact)) == 6
    assert sum(g.calls for g in store.group(by="day", until=exact)) == 4
    assert store.group(by="model", since="2026-01-01") == []


def test_store_error_rate(store: CostStore) -> None:
    store.insert(
        [
            _record(),
            _record(),
            _record(),
            _record(status="error", error_type="ProviderHTTPError", prompt_tokens=0),
            _record(model="gpt-4o", status="error", error_type="ProviderTimeoutError"),
        ]
    )
    groups = {g.key: g for g in store.group(by="model")}
    assert groups["openai/gpt-4o-mini"].error_rate == pytest.approx(0.25)
    assert groups["openai/gpt-4o"].error_rate == pytest.approx(1.0)
    rows = cost_rows(store.path)
    assert [r["error_type"] for r in rows if r["status"] == "error"] == [
        "ProviderHTTPError",
        "ProviderTimeoutError",
    ]


def test_store_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    first = CostStore(path)
    first.insert([_record(), _record()])
    first.close()
    second = CostStore(path)
    try:
        assert second.count() == 2
        mode = second.conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode.lower() == "wal"
    finally:
        second.close()


# --- many processes writing one WAL file ------------------------------------------------


def _write_records(path: str, worker: int, n: int, barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]  # start connecting and migrating together
    store = CostStore(Path(path))
    try:
        for i in range(n):
            store.insert([_record(prompt=f"w{worker}", latency_ms=float(i), cost_usd=None)])
    finally:
        store.close()


def test_multiprocess_writers_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "home" / "costs.db"
    # Created (and switched to WAL) up front: racing creation is a separate, known bug
    # (see test_connect_waits_for_writer_while_switching_to_wal).
    CostStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    workers, per_worker = 4, 200
    barrier = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_write_records, args=(str(path), w, per_worker, barrier))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    for p in procs:
        if p.is_alive():
            p.kill()
    assert [p.exitcode for p in procs] == [0] * workers

    store = CostStore(path)
    try:
        assert store.count() == workers * per_worker
        per_prompt = {g.key: g.calls for g in store.group(by="prompt")}
        assert per_prompt == {f"w{w}": per_worker for w in range(workers)}
        versions = store.conn.execute("SELECT version FROM _migrations").fetchall()
        assert versions == [(1,), (2,)]
    finally:
        store.close()


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection writes to a rollback-journal database for ``seconds``."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")

    def release() -> None:
        time.sleep(seconds)
        holder.execute("COMMIT")
        holder.close()

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    return thread


def test_connect_waits_for_writer_while_switching_to_wal(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"  # not yet in WAL mode, as when several processes create it
    release = _hold_write_lock(path, 0.3)
    started = time.monotonic()
    try:
        conn = connect(path, timeout_s=5.0)
    finally:
        waited = time.monotonic() - started
        release.join()
    try:
        assert waited >= 0.2  # it waited for the writer instead of failing at once
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    finally:
        conn.close()


def test_locked_database_is_not_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    release = _hold_write_lock(path, 0.5)
    try:
        with pytest.raises(StoreError) as info:
            connect(path, timeout_s=0.1)
    finally:
        release.join()
    message = str(info.value)
    assert "locked" in message
    assert "Move it aside" not in message
    assert "not a usable SQLite database" not in message


# --- corrupt files ----------------------------------------------------------------------


def test_corrupt_database_raises_store_error_and_is_untouched(tmp_path: Path) -> None:
    path = tmp_path / "home" / "costs.db"
    path.parent.mkdir(parents=True)
    garbage = random.Random(42).randbytes(16384)
    path.write_bytes(garbage)

    with pytest.raises(StoreError) as info:
        CostStore(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in path.parent.iterdir()) == ["costs.db"]


def test_database_with_corrupt_schema_page_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    CostStore(path).close()
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    for i in range(100, 4096):  # keep the valid 100-byte header, wreck the schema page
        data[i] = rng.randrange(256)
    path.write_bytes(bytes(data))

    with pytest.raises(StoreError, match=str(path)):
        CostStore(path)
    assert path.read_bytes() == bytes(data)


def test_monitor_on_corrupt_database_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    garbage = random.Random(3).randbytes(4096)
    path.write_bytes(garbage)
    monitor = CostMonitor(path, flush_interval_s=3600)
    try:
        monitor.record(_record())
        with pytest.raises(StoreError):
            monitor.flush()
    finally:
        monitor.close()  # reports the unwritable record instead of raising
    assert path.read_bytes() == garbage


# --- migrations -------------------------------------------------------------------------


def test_migrate_blank_database_creates_schema_and_records_version(tmp_path: Path) -> None:
    conn = connect(tmp_path / "blank.db")
    try:
        assert migrate(conn, MIGRATIONS) == 2
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"calls", "_migrations"} <= tables
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"calls_ts", "calls_model"} <= indexes
        recorded = conn.execute("SELECT version, name, applied_at FROM _migrations").fetchall()
        assert [(v, n) for v, n, _ in recorded] == [(1, "_v1"), (2, "_v2_ttft")]

        # Running again is a no-op: nothing re-applied, nothing re-recorded.
        assert migrate(conn, MIGRATIONS) == 2
        again = conn.execute("SELECT version, name, applied_at FROM _migrations").fetchall()
        assert again == recorded
    finally:
        conn.close()


def test_a_version_1_cost_store_gains_ttft_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = connect(path)
    assert migrate(conn, MIGRATIONS[:1]) == 1  # the schema before streaming
    conn.execute(
        "INSERT INTO calls (ts, provider, model, operation, prompt_tokens, completion_tokens,"
        " estimated, latency_ms, status) VALUES ('2026-01-01T00:00:00', 'openai', 'gpt-4o-mini',"
        " 'generate', 10, 5, 0, 120.0, 'ok')"
    )
    conn.commit()
    conn.close()
    store = CostStore(path)
    try:
        (old,) = list(store.rows())
        assert old.latency_ms == 120.0
        assert old.ttft_ms is None
        (group,) = store.group(by="model")
        assert group.calls == 1
        assert group.ttft_p50_ms is None
        assert group.ttft_p95_ms is None
    finally:
        store.close()


def test_migrate_applies_only_pending_migrations(tmp_path: Path) -> None:
    applied: list[str] = []

    def m1_create(conn: sqlite3.Connection) -> None:
        applied.append("m1")
        execute_script(conn, "CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)")

    def m2_add_column(conn: sqlite3.Connection) -> None:
        applied.append("m2")
        execute_script(conn, "ALTER TABLE things ADD COLUMN size INTEGER NOT NULL DEFAULT 0")

    path = tmp_path / "things.db"
    conn = connect(path)
    assert migrate(conn, [m1_create]) == 1
    conn.execute("INSERT INTO things (name) VALUES ('kept')")
    conn.close()
    assert applied == ["m1"]

    conn = connect(path)
    try:
        assert migrate(conn, [m1_create, m2_add_column]) == 2
        assert applied == ["m1", "m2"]
        assert conn.execute("SELECT name, size FROM things").fetchall() == [("kept", 0)]
        names = conn.execute("SELECT version, name FROM _migrations ORDER BY version").fetchall()
        assert names == [(1, "m1_create"), (2, "m2_add_column")]
        assert migrate(conn, [m1_create, m2_add_column]) == 2
        assert applied == ["m1", "m2"]
    finally:
        conn.close()


def test_failing_migration_rolls_back_and_is_not_recorded(tmp_path: Path) -> None:
    def m1(conn: sqlite3.Connection) -> None:
        execute_script(conn, "CREATE TABLE a (x INTEGER)")

    def m2_broken(conn: sqlite3.Connection) -> None:
        execute_script(conn, "CREATE TABLE b (x INTEGER); INSERT INTO a VALUES (1)")
        raise RuntimeError("boom")

    conn = connect(tmp_path / "m.db")
    try:
        with pytest.raises(RuntimeError, match="boom"):
            migrate(conn, [m1, m2_broken])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "a" in tables
        assert "b" not in tables
        assert conn.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0
        assert conn.execute("SELECT version FROM _migrations").fetchall() == [(1,)]
        assert not conn.in_transaction
    finally:
        conn.close()


# --- CostMonitor and MeteredChatModel with a local stub model ------------------------------


class _StubModel(ChatModel):
    provider = "openai"

    def __init__(self, model: str, usage: Usage, *, fail: bool = False, cached: bool = False):
        self.model = model
        self.usage = usage
        self.fail = fail
        self.cached = cached

    def generate(self, request: ChatRequest) -> ChatResponse:
        if self.fail:
            raise ValueError("stub failure")
        return ChatResponse(
            text="ok",
            usage=self.usage,
            model=self.model,
            provider=self.provider,
            latency_ms=12.5,
            cached=self.cached,
        )


def _request(prompt: str = "rag_answer", operation: str = "generate") -> ChatRequest:
    return ChatRequest(
        messages=(Message("user", "hi"),),
        prompt=prompt,
        operation=operation,  # type: ignore[arg-type]
        tags=(("run", "r1"),),
    )


def test_monitor_flush_writes_buffered_records(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    monitor = CostMonitor(path, flush_interval_s=3600)
    try:
        rec = monitor.record_call(
            provider="openai",
            model="gpt-4o-mini",
            operation="judge",
            prompt="judge_relevance",
            usage=Usage(2000, 1000, calls=1),
            latency_ms=42.0,
            tags=(("b", "2"), ("a", "1")),
        )
        assert rec.cost_usd == pytest.approx(0.0009)
        assert not path.exists() or _rows_or_empty(path) == []  # buffered, not written yet
        assert monitor.flush() == 1
        assert monitor.flush() == 0
        rows = cost_rows(path)
        assert len(rows) == 1
        row = rows[0]
        assert (row["model"], row["operation"], row["prompt"]) == (
            "gpt-4o-mini",
            "judge",
            "judge_relevance",
        )
        assert row["cost_usd"] == pytest.approx(0.0009)
        assert row["tags"] == '{"a": "1", "b": "2"}'
        assert row["status"] == "ok"
    finally:
        monitor.close()


def _rows_or_empty(path: Path) -> list[sqlite3.Row]:
    try:
        return cost_rows(path)
    except sqlite3.OperationalError:
        return []


def test_monitor_background_thread_flushes(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    monitor = CostMonitor(path, flush_interval_s=0.05)
    try:
        for _ in range(3):
            monitor.record(_record())
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(_rows_or_empty(path)) < 3:
            time.sleep(0.02)
        assert len(_rows_or_empty(path)) == 3
    finally:
        monitor.close()


def test_monitor_close_flushes_pending_records(tmp_path: Path) -> None:
    path = tmp_path / "costs.db"
    monitor = CostMonitor(path, flush_interval_s=3600)
    for _ in range(5):
        monitor.record(_record())
    monitor.close()
    assert len(cost_rows(path)) == 5
    monitor.close()  # idempotent


def test_cached_and_unknown_calls_are_priced_correctly(tmp_path: Path) -> None:
    monitor = CostMonitor(tmp_path / "costs.db", flush_interval_s=3600)
    try:
        cached = monitor.record_call(
            provider="openai",
            model="gpt-4o",
            operation="generate",
            prompt=None,
            usage=Usage(1000, 1000),
            latency_ms=1.0,
            cached=True,
        )
        unknown = monitor.record_call(
            provider="openai",
            model="mystery",
            operation="generate",
            prompt=None,
            usage=Usage(1000, 1000),
            latency_ms=1.0,
        )
        assert cached.cost_usd == 0.0
        assert unknown.cost_usd is None
        monitor.flush()
        assert [r["cost_usd"] for r in cost_rows(monitor.path)] == [0.0, None]
    finally:
        monitor.close()


def test_a_cached_call_of_an_unpriced_model_stays_unknown(tmp_path: Path) -> None:
    """It was recorded as $0.0000: the cache hid that the model has no price."""
    monitor = CostMonitor(tmp_path / "costs.db", flush_interval_s=3600)
    try:
        record = monitor.record_call(
            provider="openai",
            model="mystery",
            operation="generate",
            prompt=None,
            usage=Usage(1000, 1000),
            latency_ms=1.0,
            cached=True,
        )
        assert record.cost_usd is None
    finally:
        monitor.close()


def test_metered_stub_records_success_and_failure(tmp_path: Path) -> None:
    monitor = CostMonitor(tmp_path / "costs.db", flush_interval_s=3600)
    try:
        ok = MeteredChatModel(_StubModel("gpt-4o-mini", Usage(1000, 500, calls=1)), monitor)
        bad = MeteredChatModel(_StubModel("gpt-4o-mini", Usage(), fail=True), monitor)
        assert ok.generate(_request(operation="judge")).text == "ok"
        with pytest.raises(ValueError, match="stub failure"):
            bad.generate(_request(prompt="p2"))
        monitor.flush()
        first, second = cost_rows(monitor.path)
        assert first["status"] == "ok"
        assert first["operation"] == "judge"
        assert first["latency_ms"] == 12.5
        assert first["cost_usd"] == pytest.approx((1000 * 0.15 + 500 * 0.60) / 1e6)
        assert first["tags"] == '{"run": "r1"}'
        assert second["status"] == "error"
        assert second["error_type"] == "ValueError"
        assert second["prompt"] == "p2"
        assert second["prompt_tokens"] == 0
        assert second["latency_ms"] >= 0
    finally:
        monitor.close()


def test_monitor_for_is_shared_per_path_and_uses_settings_prices(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path / "state", pricing={"house-model": {"input": 3.0, "output": 6.0}}
    )
    monitor = monitor_for(settings)
    try:
        assert monitor_for(settings) is monitor
        assert monitor.path == settings.costs_db.resolve()
        model = metered(_StubModel("house-model", Usage(1_000_000, 1_000_000)), settings)
        assert isinstance(model, MeteredChatModel)
        assert metered(model, settings) is model  # never wrapped twice
        model.generate(_request())
        monitor.flush()
        assert [r["cost_usd"] for r in cost_rows(monitor.path)] == [pytest.approx(9.0)]
    finally:
        monitor.close()


def test_failed_flush_keeps_records_for_the_next_try(tmp_path: Path) -> None:
    """A write failure must not drop buffered records: they are written on the next flush."""
    target = tmp_path / "blocked" / "costs.db"
    target.parent.mkdir()
    target.mkdir()  # a directory where the database file should be: opening it fails
    monitor = CostMonitor(target, flush_interval_s=3600)
    try:
        monitor.record_call(
            provider="local",
            model="local/extractive",
            operation="generate",
            prompt=None,
            usage=Usage(1, 1, calls=1),
            latency_ms=1.0,
        )
        with pytest.raises(StoreError):
            monitor.flush()
        target.rmdir()
        assert monitor.flush() == 1
        assert CostStore(target).count() == 1
    finally:
        monitor.close()
