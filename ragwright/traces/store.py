"""The trace store: SQLite under ``home`` by default, any SQLAlchemy URL via ``traces_url``.

One table of traces, one row per request, updated in place by feedback, the
online evaluator and human labels. Schema changes are ordered migrations
recorded in ``ragwright_trace_migrations`` (their own table, so a database shared
with the cost store keeps both histories apart), applied by the runner the cost store uses
(:func:`ragwright.migrations.migrate`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ragwright.costs.sql_store import _one_line
from ragwright.costs.stats import register_percentiles
from ragwright.costs.writer import shown_target
from ragwright.errors import ConfigError, FeedbackConflictError, TraceNotFoundError
from ragwright.migrations import Migration, migrate, versions_table
from ragwright.sqlite import StoreError

__all__ = [
    "MIGRATIONS",
    "REPORT_COLUMNS",
    "TraceFilter",
    "TraceStore",
    "open_trace_store",
    "traces",
]

_LOCK_ID = 0x72617472  # "ratr": the advisory lock around the trace store's schema changes

metadata = sa.MetaData()
traces = sa.Table(
    "ragwright_traces",
    metadata,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("ts", sa.String(40), nullable=False, index=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("prompt", sa.String(200), index=True),
    sa.Column("prompt_hash", sa.String(100)),
    sa.Column("index_version", sa.String(100)),
    sa.Column("model", sa.String(200)),
    sa.Column("prompt_tokens", sa.Integer),
    sa.Column("completion_tokens", sa.Integer),
    sa.Column("cost_usd", sa.Float),
    sa.Column("latency_ms", sa.Float),
    sa.Column("spans", sa.Text, nullable=False),
    sa.Column("answered", sa.Integer),
    sa.Column("answer", sa.Text),
    sa.Column("citations", sa.Text),
    sa.Column("contexts", sa.Text),
    sa.Column("top_score", sa.Float),
    sa.Column("findings", sa.Text),
    sa.Column("blocked_by", sa.String(100)),
    sa.Column("error", sa.Text),
    sa.Column("error_type", sa.String(200)),
    sa.Column("feedback", sa.Integer),
    sa.Column("feedback_comment", sa.Text),
    sa.Column("feedback_ts", sa.String(40)),
    sa.Column("eval_status", sa.String(20), index=True),  # NULL = waiting for the evaluator
    sa.Column("hallucination", sa.Float),
    sa.Column("hallucinated", sa.Integer),
    sa.Column("relevance", sa.Integer),
    sa.Column("judge", sa.String(100)),
    sa.Column("scored_at", sa.String(40)),
    sa.Column("scores", sa.Text),  # JSON: metric name -> Score, the [online_eval] metrics (v2)
    sa.Column("llm_status", sa.String(20), index=True),  # NULL = waiting for LLM judging (v2)
    sa.Column("label_supported", sa.Integer),
    sa.Column("label_correct", sa.Integer),
    sa.Column("labelled_at", sa.String(40)),
)
migrations = versions_table(metadata, "ragwright_trace_migrations")


def _v1(conn: sa.Connection) -> None:
    traces.create(conn, checkfirst=True)


def _v2_online_scores(conn: sa.Connection) -> None:
    """Per-metric online scores and the LLM judging state (a v1 table lacks both)."""
    present = {c["name"] for c in sa.inspect(conn).get_columns(traces.name)}
    for column in (traces.c.scores, traces.c.llm_status):
        if column.name not in present:  # _v1 on a blank database already made them
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {traces.name} ADD COLUMN {column.name} {kind}"))
    for index in traces.indexes:  # the table's own (index=True): a new Index would join it
        if index.name == "ix_ragwright_traces_llm_status":
            index.create(conn, checkfirst=True)


REPORT_INDEX = "ragwright_traces_report"
REPORT_COLUMNS = (
    "ts", "prompt", "index_version", "error", "answered", "eval_status", "hallucinated",
    "relevance", "feedback", "top_score", "latency_ms", "cost_usd", "llm_status",
)  # fmt: skip


def _v3_report_index(conn: sa.Connection) -> None:
    """Every column ``monitor report``/``check`` read, so SQLite answers from the index alone.

    A trace row holds its spans, answer and retrieved contexts (kilobytes), and
    SQLite stores them inline with overflow pages: a report scanning the table
    reads all of it. This index is a few dozen bytes a trace, in ``ts`` order for
    ``--since``. PostgreSQL moves large values out of line (TOAST), so its table
    scan is already narrow, and a B-tree entry there is limited in size (an error
    message may be long): the index is made on SQLite only.
    """
    if conn.dialect.name != "sqlite":
        return
    existing = {i["name"] for i in sa.inspect(conn).get_indexes(traces.name)}
    if REPORT_INDEX not in existing:
        conn.execute(
            sa.text(f"CREATE INDEX {REPORT_INDEX} ON {traces.name} ({', '.join(REPORT_COLUMNS)})")
        )


MIGRATIONS: list[Migration] = [_v1, _v2_online_scores, _v3_report_index]

_JSON = ("spans", "citations", "contexts", "findings", "scores")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _decoded(row: sa.RowMapping) -> dict[str, Any]:
    data = dict(row)
    for name in _JSON:
        if data.get(name) is not None:
            data[name] = json.loads(data[name])
    return data


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """Which traces ``list``/``export`` select; each field is optional."""

    since: str | None = None  # ISO date or timestamp, UTC
    prompt: str | None = None  # a reference (rag_answer@v2) or a name (rag_answer)
    feedback: int | None = None  # 1 or -1
    score_below: float | None = None  # relevance (1-5) below this
    hallucinated: bool | None = None
    limit: int | None = None


class TraceStore:
    """Traces in any database SQLAlchemy speaks; the schema is migrated on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = sa.create_engine(url, pool_pre_ping=True)
        except ImportError as exc:
            raise ConfigError(
                f"traces_url {shown_target(url)}: its database driver is not installed ({exc});"
                ' pip install "ragwright[postgres]"'
            ) from exc
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
            raise ConfigError(
                f"traces_url {shown_target(url)} is not a usable SQLAlchemy URL"
                f" ({_one_line(exc)}); e.g. postgresql+psycopg://user:password@host:5432/dbname"
            ) from exc
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            # a writer holding the lock makes readers wait a little, not fail at once;
            # reports call the percentile aggregate (ragwright.costs.stats)
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.shown = self.engine.url.render_as_string(hide_password=True)
        with self._errors("cannot open the trace store"):
            migrate(self.engine, MIGRATIONS, versions=migrations, lock_id=_LOCK_ID)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"{self.shown}: {action} ({_one_line(exc)})") from exc

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ------------------------------------------------------------------------------
    def insert(self, rows: list[dict[str, Any]]) -> int:
        """Write ``rows`` in one transaction; the number written.

        A request id already stored (a client reusing its ``X-Request-Id``) would
        fail the whole batch on every retry: the batch is then written row by row
        and the repeats are skipped, so one bad row never costs the others.
        """
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(traces.insert(), rows)
            return len(rows)
        except sa.exc.IntegrityError:
            pass
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"{self.shown}: cannot write traces ({_one_line(exc)})") from exc
        written = 0
        with self._errors("cannot write traces"):
            for row in rows:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(traces.insert(), row)
                    written += 1
                except sa.exc.IntegrityError:
                    continue
        return written

    def feedback(
        self, request_id: str, score: int, comment: str | None = None, *, replace: bool = False
    ) -> dict[str, Any]:
        """Record a user's verdict; a second, different one needs ``replace``."""
        with self._errors("cannot record feedback"), self.engine.begin() as conn:
            row = conn.execute(
                sa.select(traces.c.feedback, traces.c.feedback_comment).where(
                    traces.c.request_id == request_id
                )
            ).first()
            if row is None:
                raise TraceNotFoundError(f"no trace with request_id {request_id!r}")
            if row.feedback is not None and not replace:
                if (row.feedback, row.feedback_comment) == (score, comment):
                    return {"request_id": request_id, "score": score, "comment": comment}
                raise FeedbackConflictError(
                    f"request {request_id!r} already has feedback {row.feedback:+d};"
                    " send replace: true to change it"
                )
            conn.execute(
                traces.update()
                .where(traces.c.request_id == request_id)
                .values(feedback=score, feedback_comment=comment, feedback_ts=_now())
            )
        return {"request_id": request_id, "score": score, "comment": comment}

    def label(self, request_id: str, *, supported: bool, correct: bool | None) -> None:
        """A person's labels for the labelling queue (``/label``)."""
        with self._errors("cannot record a label"), self.engine.begin() as conn:
            done = conn.execute(
                traces.update()
                .where(traces.c.request_id == request_id)
                .values(
                    label_supported=int(supported),
                    label_correct=None if correct is None else int(correct),
                    labelled_at=_now(),
                )
            )
            if done.rowcount == 0:
                raise TraceNotFoundError(f"no trace with request_id {request_id!r}")

    def set_scores(self, request_id: str, values: dict[str, Any]) -> None:
        with self._errors("cannot record scores"), self.engine.begin() as conn:
            conn.execute(
                traces.update()
                .where(traces.c.request_id == request_id)
                .values(**values, scored_at=_now())
            )

    # -- reading ------------------------------------------------------------------------------
    def get(self, request_id: str) -> dict[str, Any]:
        with self._errors("cannot read traces"), self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(traces).where(traces.c.request_id == request_id))
                .mappings()
                .first()
            )
        if row is None:
            raise TraceNotFoundError(f"no trace with request_id {request_id!r}")
        return _decoded(row)

    def select(self, where: TraceFilter | None = None) -> list[dict[str, Any]]:
        """Traces matching ``where``, newest first."""
        f = where or TraceFilter()
        t = traces.c
        query = sa.select(traces).order_by(t.ts.desc())
        if f.since:
            query = query.where(t.ts >= f.since)
        if f.prompt:
            query = query.where(
                t.prompt == f.prompt if "@" in f.prompt else t.prompt.like(f"{f.prompt}@%")
            )
        if f.feedback is not None:
            query = query.where(t.feedback == f.feedback)
        if f.score_below is not None:
            query = query.where(t.relevance < f.score_below)
        if f.hallucinated is not None:
            query = query.where(t.hallucinated == int(f.hallucinated))
        if f.limit:
            query = query.limit(f.limit)
        with self._errors("cannot read traces"), self.engine.connect() as conn:
            return [_decoded(r) for r in conn.execute(query).mappings()]

    def select_worst(self, limit: int = 20) -> list[dict[str, Any]]:
        """Scored traces, least grounded first, then least relevant: the dashboard's list."""
        t = traces.c
        query = (
            sa.select(traces)
            .where(t.eval_status == "scored")
            .order_by(t.hallucination.desc(), t.relevance, t.ts.desc())
            .limit(limit)
        )
        with self._errors("cannot read traces"), self.engine.connect() as conn:
            return [_decoded(r) for r in conn.execute(query).mappings()]

    def unscored(self, limit: int = 64) -> list[dict[str, Any]]:
        """Answered traces the online evaluator has not seen yet, oldest first."""
        t = traces.c
        query = (
            sa.select(t.request_id, t.question, t.answer, t.contexts)
            .where(t.eval_status.is_(None), t.error.is_(None), t.answer.is_not(None))
            .order_by(t.ts)
            .limit(limit)
        )
        with self._errors("cannot read traces"), self.engine.connect() as conn:
            return [_decoded(r) for r in conn.execute(query).mappings()]

    def count(self) -> int:
        with self._errors("cannot read traces"), self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(traces)).scalar_one())

    def fetch_sql(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """All rows of a read-only query with ``:name`` parameters (the monitoring aggregates)."""
        with self._errors("cannot read traces"), self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA busy_timeout = 2000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()
    register_percentiles(dbapi_conn)


def open_trace_store(target: Path | str) -> TraceStore:
    """A store for a SQLAlchemy URL, or a SQLite file path (its folder is created)."""
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        return TraceStore(f"sqlite:///{target.resolve()}")
    return TraceStore(target)
