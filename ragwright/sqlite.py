"""SQLite connections and schema migrations shared by ragwright's stores.

Every store (index records, costs, call cache) declares an ordered list of
migration functions; :func:`migrate` applies the ones not yet recorded in the
``_migrations`` table, each in its own transaction. Connections use WAL mode
and a busy timeout so several processes can write the same file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ragwright.errors import UserError

__all__ = ["Migration", "StoreError", "connect", "execute_script", "migrate", "transaction"]

Migration = Callable[[sqlite3.Connection], None]


class StoreError(UserError):
    """A local database file is corrupt, locked or not a database."""


def connect(path: Path, *, timeout_s: float = 30.0) -> sqlite3.Connection:
    """Open (creating if needed) a WAL-mode database; raise StoreError with the fix if broken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(
            path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
    except sqlite3.OperationalError as exc:
        raise StoreError(f"{path}: cannot open the database ({exc})") from exc
    try:
        _enable_wal(conn, timeout_s)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.OperationalError as exc:
        conn.close()
        if _is_lock_error(exc):
            raise StoreError(
                f"{path}: locked by another process for more than {timeout_s:.0f} s ({exc});"
                " the database is intact: retry when the other writer has finished"
            ) from exc
        raise StoreError(f"{path}: cannot open the database ({exc})") from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(
            f"{path}: not a usable SQLite database ({exc}). Move it aside and re-run;"
            " nothing was written to it."
        ) from exc
    return conn


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


def _enable_wal(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Switch to WAL, waiting out other writers.

    SQLite does not call the busy handler for this pragma: while another
    connection writes to a not-yet-WAL database it fails at once with
    "database is locked", so retry until ``timeout_s`` is spent.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so concurrent writers wait (busy
    timeout) instead of failing half-way through with "database is locked".
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL inside the caller's transaction.

    ``sqlite3.Connection.executescript`` would COMMIT first, breaking the
    one-transaction-per-migration guarantee.
    """
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> int:
    """Apply pending migrations in order; return the schema version reached."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM _migrations")}
    for version, migration in enumerate(migrations, start=1):
        if version in done:
            continue
        with transaction(conn):
            # Another process may have migrated while we waited for the lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE version=?", (version,)).fetchone():
                continue
            migration(conn)
            conn.execute(
                "INSERT INTO _migrations VALUES (?, ?, ?)",
                (version, migration.__name__, datetime.now(UTC).isoformat()),
            )
    return len(migrations)
