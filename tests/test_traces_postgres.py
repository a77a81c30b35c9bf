"""The trace store on a real PostgreSQL server, through ``traces_url`` (shared with costs)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from ragwright.costs.sql_store import SqlAlchemyCostStore
from ragwright.errors import TraceNotFoundError
from ragwright.traces import TraceRecorder, open_trace_store
from ragwright.traces.store import MIGRATIONS
from tests.postgres_server import (
    postgres_cluster_fixture,  # noqa: F401 - provides `postgres_cluster`
    postgres_url_fixture,  # noqa: F401 - provides `postgres_url`
)


@pytest.fixture
def recorder(postgres_url: str) -> Iterator[TraceRecorder]:
    recorder = TraceRecorder(postgres_url, flush_interval_s=0.05)
    yield recorder
    recorder.close()


def test_traces_and_costs_share_one_database(recorder: TraceRecorder, postgres_url: str) -> None:
    SqlAlchemyCostStore(postgres_url).close()  # the cost store's own migrations table
    for n in range(3):
        recorder.failed({"question": f"q{n}", "_request_id": f"r{n}"}, RuntimeError("down"))
    recorder.flush()
    store = recorder.store
    assert sorted(t["request_id"] for t in store.select()) == ["r0", "r1", "r2"]
    store.feedback("r1", -1, "wrong")
    assert store.get("r1")["feedback"] == -1
    with pytest.raises(TraceNotFoundError):
        store.feedback("missing", 1)
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
        versions = conn.execute(sa.text("SELECT version FROM ragwright_trace_migrations"))
        assert [v for (v,) in versions] == list(range(1, len(MIGRATIONS) + 1))
    engine.dispose()
    assert {"ragwright_traces", "ragwright_trace_migrations", "ragwright_migrations"} <= names
    assert open_trace_store(postgres_url).count() == 3  # reopened: no migration reapplied
