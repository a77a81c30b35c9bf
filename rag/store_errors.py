"""One-line errors for the index's stores: what failed, which file, and the fix.

A full disk or a damaged file surfaced as a raw ``sqlite3.DatabaseError`` or
``chromadb.errors.InternalError`` traceback, which names neither the file nor what to
do. The index records (:mod:`ragwright.rag.records`), the Chroma client
(:mod:`ragwright.rag.vectorstore`) and the indexer convert them here, at the store
boundary, into :class:`~ragwright.errors.IndexStoreError`, whose ``kind`` says what
happened (``full``, ``corrupt``, ``locked``, ``readonly``, ``other``).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ragwright.errors import IndexStoreError
from ragwright.sqlite import Migration, StoreError, connect, migrate

__all__ = [
    "INDEX_DB_FIX",
    "chroma_error",
    "chroma_errors",
    "is_store_error",
    "open_sqlite",
    "sqlite_error",
    "sqlite_errors",
]

_LOW_SPACE = 1024 * 1024  # an I/O error with less free space than this is a full disk
_RESUME = "committed documents stay indexed and the next run resumes the rest"


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return None


def _kind_of_sqlite(path: Path, exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc).lower()
    if name == "SQLITE_FULL" or "disk is full" in text:
        return "full"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
        return "corrupt"
    if "not a database" in text:
        return "corrupt"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return "locked"
    if name.startswith("SQLITE_READONLY") or "readonly" in text:
        return "readonly"
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")) or "i/o error" in text:
        free = _free_bytes(path.parent)
        return "full" if free is not None and free < _LOW_SPACE else "other"
    return "other"


INDEX_DB_FIX = "run `ragwright index run --full`, which sets it aside and rebuilds the index"


def sqlite_error(
    path: Path, exc: sqlite3.Error, *, corrupt_fix: str = INDEX_DB_FIX
) -> IndexStoreError:
    """The error to raise for ``exc`` from the SQLite file at ``path`` (index.db by default)."""
    kind = _kind_of_sqlite(path, exc)
    messages = {
        "full": f"disk full: free space under {path.parent} and run the ingest again ({_RESUME})",
        "corrupt": f"{path.name} is corrupt ({exc}): {corrupt_fix}",
        "locked": f"locked by another process for too long ({exc}); retry when it has finished",
        "readonly": f"read-only ({exc}); make it and {path.parent} writable",
        "other": f"index database error ({exc})",
    }
    return IndexStoreError(f"{path}: {messages[kind]}", path=path, kind=kind)


@contextmanager
def sqlite_errors(path: Path, *, corrupt_fix: str = INDEX_DB_FIX) -> Iterator[None]:
    """Raise :func:`sqlite_error` in place of any ``sqlite3`` error raised inside."""
    try:
        yield
    except sqlite3.Error as exc:
        raise sqlite_error(path, exc, corrupt_fix=corrupt_fix) from exc


def open_sqlite(
    path: Path, migrations: Sequence[Migration], *, corrupt_fix: str = INDEX_DB_FIX
) -> sqlite3.Connection:
    """Connect to and migrate one of the index's SQLite files, errors mapped as above."""
    try:
        conn = connect(path)
    except StoreError as exc:  # already one line; name the fix for this file
        if isinstance(exc.__cause__, sqlite3.Error):
            raise sqlite_error(path, exc.__cause__, corrupt_fix=corrupt_fix) from exc.__cause__
        raise
    try:
        with sqlite_errors(path, corrupt_fix=corrupt_fix):
            migrate(conn, migrations)
    except IndexStoreError:
        conn.close()
        raise
    return conn


def is_store_error(exc: BaseException) -> bool:
    """Whether ``exc`` comes from Chroma or its HTTP transport (not from our own code)."""
    return any(cls.__module__.split(".")[0] in {"chromadb", "httpx"} for cls in type(exc).__mro__)


def chroma_error(location: str, exc: BaseException, *, remote: bool = False) -> IndexStoreError:
    """The error to raise for ``exc`` from Chroma at ``location`` (a folder or a server URL)."""
    text = str(exc)
    lower = text.lower()
    short = text if len(text) < 200 else text[:200] + "..."
    if any(s in lower for s in ("disk is full", "no space left", "(code: 13)")):
        kind = "full"
        where = f"on the Chroma server at {location}" if remote else f"under {location}"
        message = f"disk full: free space {where} and run the ingest again ({_RESUME})"
    elif any(s in lower for s in ("malformed", "not a database", "corrupt", "(code: 11)")):
        kind = "corrupt"
        fix = "repair or reset the server" if remote else "move that folder aside"
        message = (
            f"{location}: the Chroma database is corrupt ({short}): {fix}, then run"
            " `ragwright index run --full`"
        )
    elif remote and any(c.__module__.startswith("httpx") for c in type(exc).__mro__):
        kind = "other"
        message = (
            f"Chroma server at {location} is unreachable ({short}): start it, or unset"
            " RAGWRIGHT_CHROMA_URL to use the embedded database"
        )
    else:
        kind = "other"
        message = (
            f"{location}: Chroma failed ({type(exc).__name__}: {short}); try again, and if it"
            " keeps failing run `ragwright index run --full`"
        )
    return IndexStoreError(message, path=location, kind=kind)


@contextmanager
def chroma_errors(location: str, *, remote: bool = False) -> Iterator[None]:
    """Raise :func:`chroma_error` in place of Chroma's (and its transport's) exceptions."""
    try:
        yield
    except IndexStoreError:
        raise
    except Exception as exc:
        if not is_store_error(exc):
            raise
        raise chroma_error(location, exc, remote=remote) from exc
