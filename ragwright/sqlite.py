"""SQLite connections and schema migrations shared by ragwright's stores.

Every store (index records, costs, call cache) declares an ordered list of
migration functions; :func:`migrate` applies the ones not yet recorded in the
``_migrations`` table, each in its own transaction. Connections use WAL mode
and a busy timeout so several processes can write the same file.

SQLite reports a damaged file only when a query reaches the damaged page, a
full disk only when a write needs a page, so every store method runs inside
:func:`database_errors`, which turns ``sqlite3.Error`` into a one-line
:class:`StoreError` that names the file and what to do.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ragwright.errors import UserError

__all__ = [
    "Migration",
    "StoreError",
    "connect",
    "database_errors",
    "describe_error",
    "execute_script",
    "migrate",
    "transaction",
]

Migration = Callable[[sqlite3.Connection], None]


class StoreError(UserError):
    """A store cannot be used: a corrupt, locked, read-only or full database, or no server."""


def connect(path: Path, *, timeout_s: float = 30.0) -> sqlite3.Connection:
    """Open (creating if needed) a WAL-mode database; raise StoreError with the fix if broken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with database_errors(path, timeout_s=timeout_s):
        conn = sqlite3.connect(
            path, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
    try:
        with database_errors(path, timeout_s=timeout_s):
            _enable_wal(conn, timeout_s)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
    except StoreError:
        conn.close()
        raise
    return conn


def describe_error(path: Path | str, exc: sqlite3.Error, *, timeout_s: float = 30.0) -> str:
    """One line: which file, what SQLite said, and what the user can do about it."""
    message = str(exc).lower()
    code = getattr(exc, "sqlite_errorname", "") or ""
    if "locked" in message or "busy" in message or code.startswith("SQLITE_BUSY"):
        return (
            f"{path}: locked by another process for more than {timeout_s:.0f} s ({exc});"
            " the database is intact: retry when the other writer has finished"
        )
    if "disk is full" in message or code == "SQLITE_FULL":
        return (
            f"{path}: the disk is full ({exc}); nothing of this write was kept and earlier"
            " data is intact. Free space on that disk (or move RAGWRIGHT_HOME) and re-run"
        )
    if "readonly" in message or "read-only" in message or code.startswith("SQLITE_READONLY"):
        return (
            f"{path}: the database is read-only ({exc}). Make the file and its folder"
            " writable for this user (ls -l; chown/chmod), or point RAGWRIGHT_HOME elsewhere"
        )
    if isinstance(exc, sqlite3.OperationalError) and "unable to open" in message:
        return (
            f"{path}: cannot open the database ({exc}); check that the folder exists and"
            " is writable and that the path is a file"
        )
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return (
            f"{path}: not a usable SQLite database ({exc}). Move it aside and re-run"
            f" (mv {path} {path}.corrupt): a new one is created, and the old file stays"
            " for recovery (sqlite3 FILE .recover); nothing was written to it."
        )
    return f"{path}: database error ({exc})"


@contextmanager
def database_errors(path: Path | str, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Turn ``sqlite3.Error`` raised inside into a :class:`StoreError` (see ``describe_error``)."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(describe_error(path, exc, timeout_s=timeout_s)) from exc


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
            locked = "locked" in str(exc).lower() or "busy" in str(exc).lower()
            if not locked or time.monotonic() + delay > deadline:
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
        if conn.in_transaction:  # SQLite already rolled back after some errors (disk full)
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
