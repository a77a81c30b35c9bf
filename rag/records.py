"""The index's record of what it holds, in SQLite (``.ragwright/index.db``).

For each index version: which documents it holds, their content hash and chunk
ids. Aliases map the public collection name to the version that serves; a
switch is one UPDATE inside a transaction, so readers see the old version or
the new one, never a mix. The record is written *after* Chroma accepted the
chunks; :mod:`ragwright.rag.indexer` reconciles the two at the start of each
run, so a crash at any point is repaired by the next run.

Every ``sqlite3`` error leaves this class as an
:class:`~ragwright.errors.IndexStoreError` naming the file and the fix.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from ragwright.rag.store_errors import open_sqlite, sqlite_errors
from ragwright.sqlite import execute_script, transaction

__all__ = ["DocRecord", "IndexRecords", "IndexVersion"]

P = ParamSpec("P")
R = TypeVar("R")


def _v1(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        CREATE TABLE index_versions (
            version TEXT PRIMARY KEY, collection TEXT NOT NULL, embedding_model TEXT NOT NULL,
            chunk_tokens INTEGER NOT NULL, chunk_overlap INTEGER NOT NULL,
            created_at TEXT NOT NULL, completed_at TEXT
        );
        CREATE TABLE aliases (
            name TEXT PRIMARY KEY, version TEXT NOT NULL REFERENCES index_versions(version),
            switched_at TEXT NOT NULL
        );
        CREATE TABLE documents (
            version TEXT NOT NULL REFERENCES index_versions(version) ON DELETE CASCADE,
            doc_id TEXT NOT NULL, content_hash TEXT NOT NULL, chunk_ids TEXT NOT NULL,
            source TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (version, doc_id)
        );
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT NOT NULL,
            started_at TEXT NOT NULL, finished_at TEXT, summary TEXT
        );
        """,
    )


MIGRATIONS = [_v1]


@dataclass(frozen=True, slots=True)
class IndexVersion:
    version: str
    collection: str
    embedding_model: str
    chunk_tokens: int
    chunk_overlap: int
    created_at: str
    completed_at: str | None


@dataclass(frozen=True, slots=True)
class DocRecord:
    doc_id: str
    content_hash: str
    chunk_ids: tuple[str, ...]
    source: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _mapped(
    method: Callable[Concatenate[IndexRecords, P], R],
) -> Callable[Concatenate[IndexRecords, P], R]:
    """Convert ``sqlite3`` errors of a store method into IndexStoreError (file and fix)."""

    @functools.wraps(method)
    def wrapper(self: IndexRecords, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with sqlite_errors(self.path):
            return method(self, *args, **kwargs)

    return wrapper


class IndexRecords:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = open_sqlite(path, MIGRATIONS)

    @staticmethod
    def set_aside(path: Path) -> Path:
        """Rename a corrupt ``index.db`` (and its WAL files) out of the way; return the new name.

        ``ragwright index run --full`` does this when the records cannot be read, then
        rebuilds: the records are lost anyway, and the next run starts from a blank file.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        for suffix in ("-wal", "-shm"):
            extra = path.with_name(path.name + suffix)
            if extra.exists():
                extra.replace(aside.with_name(aside.name + suffix))
        path.replace(aside)
        return aside

    def close(self) -> None:
        self.conn.close()

    # versions and aliases
    @_mapped
    def ensure_version(self, version: IndexVersion) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO index_versions VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (
                version.version,
                version.collection,
                version.embedding_model,
                version.chunk_tokens,
                version.chunk_overlap,
                version.created_at,
            ),
        )

    @_mapped
    def get_version(self, version: str) -> IndexVersion | None:
        row = self.conn.execute(
            "SELECT * FROM index_versions WHERE version=?", (version,)
        ).fetchone()
        return IndexVersion(*row) if row else None

    @_mapped
    def versions(self) -> list[IndexVersion]:
        rows = self.conn.execute("SELECT * FROM index_versions ORDER BY created_at").fetchall()
        return [IndexVersion(*row) for row in rows]

    @_mapped
    def drop_version(self, version: str) -> None:
        self.conn.execute("DELETE FROM index_versions WHERE version=?", (version,))

    @_mapped
    def alias(self, name: str) -> IndexVersion | None:
        row = self.conn.execute("SELECT version FROM aliases WHERE name=?", (name,)).fetchone()
        return self.get_version(row[0]) if row else None

    @_mapped
    def switch_alias(self, name: str, version: str) -> None:
        """Point ``name`` at ``version`` and mark that version complete, atomically."""
        now = _now()
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE index_versions SET completed_at=? WHERE version=?", (now, version)
            )
            self.conn.execute(
                "INSERT INTO aliases VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE"
                " SET version=excluded.version, switched_at=excluded.switched_at",
                (name, version, now),
            )

    # documents
    @_mapped
    def documents(self, version: str) -> dict[str, DocRecord]:
        rows = self.conn.execute(
            "SELECT doc_id, content_hash, chunk_ids, source FROM documents WHERE version=?",
            (version,),
        )
        return {r[0]: DocRecord(r[0], r[1], tuple(json.loads(r[2])), r[3]) for r in rows}

    @_mapped
    def put_documents(self, version: str, records: list[DocRecord]) -> None:
        now = _now()
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(version, doc_id)"
                " DO UPDATE SET content_hash=excluded.content_hash,"
                " chunk_ids=excluded.chunk_ids, source=excluded.source,"
                " updated_at=excluded.updated_at",
                [
                    (
                        version,
                        r.doc_id,
                        r.content_hash,
                        json.dumps(list(r.chunk_ids)),
                        r.source,
                        now,
                    )
                    for r in records
                ],
            )

    @_mapped
    def delete_documents(self, version: str, doc_ids: list[str]) -> None:
        self.conn.executemany(
            "DELETE FROM documents WHERE version=? AND doc_id=?", [(version, d) for d in doc_ids]
        )

    # runs
    @_mapped
    def start_run(self, version: str) -> int:
        cursor = self.conn.execute(
            "INSERT INTO runs (version, started_at) VALUES (?, ?)", (version, _now())
        )
        return int(cursor.lastrowid or 0)

    @_mapped
    def finish_run(self, run_id: int, summary: dict[str, object]) -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at=?, summary=? WHERE id=?",
            (_now(), json.dumps(summary), run_id),
        )

    @_mapped
    def serving_state(self, name: str) -> tuple[str, int] | None:
        """(version the alias serves, id of its last finished ingest run): changes on every
        completed ingest and every switch, so a long-lived reader can tell it is stale."""
        row = self.conn.execute(
            "SELECT a.version, COALESCE(MAX(r.id), 0) FROM aliases a"
            " LEFT JOIN runs r ON r.version = a.version AND r.finished_at IS NOT NULL"
            " WHERE a.name = ? GROUP BY a.version",
            (name,),
        ).fetchone()
        return (str(row[0]), int(row[1])) if row else None

    @_mapped
    def last_run_finished(self) -> bool:
        """False when the newest ingest run never finished (a crash may have left drift)."""
        row = self.conn.execute("SELECT finished_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        return row is None or row[0] is not None

    @_mapped
    def last_run(self) -> dict[str, object] | None:
        row = self.conn.execute(
            "SELECT summary FROM runs WHERE summary IS NOT NULL ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return json.loads(row[0]) if row else None
