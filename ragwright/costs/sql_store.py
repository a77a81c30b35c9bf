"""Cost records in any database SQLAlchemy speaks, by URL: PostgreSQL for shared deployments.

``RAGWRIGHT_COSTS_URL=postgresql+psycopg://user:pass@host/db`` lets many machines
report into one place. Schema changes are ordered migration functions recorded
in ``ragwright_migrations`` and applied by :func:`ragwright.migrations.migrate`
(one transaction each, under PostgreSQL's advisory lock).

Errors are mapped here, once: a missing driver is a :class:`ConfigError` naming
the extra to install; an unreachable server, a refused login or a failed write is
a one-line :class:`StoreError` naming the URL with its password masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ragwright.costs.record import CallRecord
from ragwright.costs.stats import register_percentiles
from ragwright.costs.store import BaseCostStore, Row, _as_dict
from ragwright.costs.writer import shown_target
from ragwright.errors import ConfigError
from ragwright.migrations import Migration, migrate, versions_table
from ragwright.sqlite import StoreError

__all__ = ["MIGRATIONS", "SqlAlchemyCostStore"]

_LOCK_ID = 0x72616777  # "ragw": the advisory lock taken around ragwright's schema changes
_SPACE = re.compile(r"\s+")
_DRIVERS = {"psycopg": "postgres", "psycopg2": "postgres", "asyncpg": "postgres"}

metadata = sa.MetaData()
calls = sa.Table(
    "ragwright_calls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.String(40), nullable=False, index=True),
    sa.Column("provider", sa.String(100), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("operation", sa.String(20), nullable=False),
    sa.Column("prompt", sa.String(200)),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("estimated", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("cost_usd", sa.Float),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("error_type", sa.String(200)),
    sa.Column("cached", sa.Integer, nullable=False, default=0),
    sa.Column("tags", sa.Text, nullable=False, default="{}"),
    sa.Column("ttft_ms", sa.Float),
)
migrations = versions_table(metadata, "ragwright_migrations")


def _v1(conn: sa.Connection) -> None:
    # checkfirst: a database created before migrations were recorded already has
    # this exact table; it is adopted as version 1, rows kept. The table is
    # created as version 1 had it, so that version 2 applies to every database alike.
    if not sa.inspect(conn).has_table(calls.name):
        v1 = sa.Table(
            calls.name,
            sa.MetaData(),
            *(column._copy() for column in calls.columns if column.name != "ttft_ms"),
        )
        v1.create(conn)


def _v2_ttft(conn: sa.Connection) -> None:
    """Time to first token of streamed calls; older rows (not streamed) keep NULL."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns(calls.name)}
    if "ttft_ms" not in columns:
        conn.execute(sa.text(f"ALTER TABLE {calls.name} ADD COLUMN ttft_ms FLOAT"))


MIGRATIONS: list[Migration] = [_v1, _v2_ttft]


def _one_line(exc: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's multi-line wrapper), on one line."""
    original = getattr(exc, "orig", None) or exc
    text = _SPACE.sub(" ", str(original)).strip()
    return text.split(" (Background on this error at")[0][:300]


class SqlAlchemyCostStore(BaseCostStore):
    """Any database SQLAlchemy speaks, by URL; the schema is migrated on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        except ImportError as exc:
            extra = _DRIVERS.get(exc.name or "", "postgres")
            raise ConfigError(
                f"costs_url {shown_target(url)}: its database driver is not installed ({exc});"
                f' pip install "ragwright[{extra}]"'
            ) from exc
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
            raise ConfigError(
                f"costs_url {shown_target(url)} is not a usable SQLAlchemy URL ({_one_line(exc)});"
                " e.g. postgresql+psycopg://user:password@host:5432/dbname"
            ) from exc
        self.shown = self.engine.url.render_as_string(hide_password=True)
        self.dialect = self.engine.dialect.name
        self.table_name = calls.name
        if self.dialect == "sqlite":  # the percentile aggregate the reports call
            sa.event.listen(self.engine, "connect", _sqlite_functions)
        with self._errors("cannot open the cost store"):
            self.version = migrate(self.engine, MIGRATIONS, versions=migrations, lock_id=_LOCK_ID)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"{self.shown}: {action} ({_one_line(exc)})") from exc

    def close(self) -> None:
        self.engine.dispose()

    def insert(self, records: Iterable[CallRecord]) -> int:
        rows = [_as_dict(r) for r in records]
        if rows:
            with self._errors("cannot write cost records"), self.engine.begin() as conn:
                conn.execute(calls.insert(), rows)
        return len(rows)

    def rows(self, *, since: str | None = None, until: str | None = None) -> Iterator[Row]:
        t = calls
        query = sa.select(
            t.c.ts,
            t.c.provider,
            t.c.model,
            t.c.operation,
            t.c.prompt,
            t.c.prompt_tokens,
            t.c.completion_tokens,
            t.c.estimated,
            t.c.latency_ms,
            t.c.cost_usd,
            t.c.status,
            t.c.tags,
            t.c.ttft_ms,
        )
        if since:
            query = query.where(t.c.ts >= since)
        if until:
            query = query.where(t.c.ts < until)
        with self._errors("cannot read cost records"), self.engine.connect() as conn:
            for raw in conn.execute(query):
                yield Row(*raw)

    def count(self) -> int:
        with self._errors("cannot read cost records"), self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one())

    def _fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        with self._errors("cannot read cost records"), self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]


def _sqlite_functions(dbapi_conn: Any, _: Any) -> None:
    register_percentiles(dbapi_conn)
