"""One ingest at a time per project: an OS file lock on ``<home>/ingest.lock``.

Two ingests of one index both did the full work, and an interleaving of their
writes could leave an older document version serving while the record said the
newer one was current. Every way into ingestion takes this lock for the whole
run: ``ragwright index run`` (before Prefect starts, so a second run fails in
a second, not after the API's start-up), the flow itself, and so every run of
the scheduled deployment.

``fcntl.flock`` belongs to the open file, so the kernel releases it when the
holder dies, however it dies: a SIGKILLed ingest never leaves a stale lock. The
file records the holder's pid and start time for the error message only; it is
never trusted to decide who holds the lock. The descriptor is not inherited by
child processes (Python opens files non-inheritable), so an orphaned helper
process of a killed ingest cannot keep the lock either.

The lock is re-entrant within a process: the CLI takes it, then runs the flow in
the same process, which takes it again.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ragwright.errors import IngestBusyError

__all__ = ["LOCK_NAME", "ingest_lock", "lock_holder"]

LOCK_NAME = "ingest.lock"

_held: dict[Path, tuple[int, int]] = {}  # lock path -> (descriptor, depth) in this process
_guard = threading.Lock()


def lock_holder(home: Path) -> dict[str, object] | None:
    """The pid and start time the lock file names, if a process holds it now; else None."""
    path = home / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read(fd: int) -> dict[str, object]:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        data = json.loads(os.read(fd, 4096) or b"{}")
    except ValueError:  # being written this very moment
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def ingest_lock(home: Path) -> Iterator[None]:
    """Hold the project's ingest lock for the block; raise IngestBusyError if another has it."""
    path = (home / LOCK_NAME).resolve()
    with _guard:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
        else:
            _held[path] = (_acquire(path), 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held[path]
            if depth > 1:
                _held[path] = (fd, depth - 1)
            else:
                del _held[path]
                os.close(fd)  # releases the lock


def _acquire(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        pid = holder.get("pid")
        since = holder.get("since")
        raise IngestBusyError(
            path,
            pid=pid if isinstance(pid, int) else None,
            since=since if isinstance(since, str) else None,
        ) from None
    os.ftruncate(fd, 0)
    since = datetime.now(UTC).isoformat(timespec="seconds")
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": since}).encode(), 0)
    return fd
