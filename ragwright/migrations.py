"""Schema migrations for the stores that speak SQLAlchemy (costs by URL, traces).

Each store declares an ordered list of migration functions and its own
versions table (``ragwright_migrations`` for costs, ``ragwright_trace_migrations``
for traces, so a database shared by both keeps both histories apart).
:func:`migrate` applies the ones not yet recorded, each in its own transaction.

Every worker of a deployment may start against a blank database at the same
moment: on PostgreSQL a transaction-level advisory lock (one id per store)
serialises them and each re-checks what is applied once it holds the lock (a
plain ``CREATE TABLE`` race fails with a duplicate-key error in ``pg_type``).
The SQLite files opened without SQLAlchemy use :func:`ragwright.sqlite.migrate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa

__all__ = ["Migration", "migrate", "versions_table"]

Migration = Callable[[sa.Connection], None]


def versions_table(metadata: sa.MetaData, name: str) -> sa.Table:
    """The table recording which migrations ran: version, function name, when."""
    return sa.Table(
        name,
        metadata,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("applied_at", sa.String(40), nullable=False),
    )


def _applied(engine: sa.Engine, versions: sa.Table) -> set[int]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(versions.name):
            return set()
        return set(conn.execute(sa.select(versions.c.version)).scalars())


def migrate(
    engine: sa.Engine, migrations: Sequence[Migration], *, versions: sa.Table, lock_id: int
) -> int:
    """Apply pending migrations in order, one transaction each; return the version reached."""
    if _applied(engine, versions) >= set(range(1, len(migrations) + 1)):
        return len(migrations)  # the usual case: one query, no lock
    for version, migration in enumerate(migrations, start=1):
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id)))
            versions.create(conn, checkfirst=True)
            done = conn.execute(
                sa.select(versions.c.version).where(versions.c.version == version)
            ).first()
            if done is not None:
                continue  # another process applied it while we waited for the lock
            migration(conn)
            conn.execute(
                versions.insert().values(
                    version=version,
                    name=migration.__name__,
                    applied_at=datetime.now(UTC).isoformat(),
                )
            )
    return len(migrations)
