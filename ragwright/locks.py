"""One writer at a time across processes: an OS file lock, held for a block.

Three things must never run twice at once: a change of the prompt store (two
``prompts promote`` lost each other's entries), an ingest of one index (an
interleaving could leave older content serving), and the creation of a local
MLflow database (two first commands raced its migrations). Each takes
:func:`file_lock` on its own lock file.

``fcntl.flock`` belongs to the open file, so the kernel releases it when the
holder dies, however it dies: a SIGKILLed command never leaves a stale lock.
The file records the holder's pid and start time for error messages only; it is
never trusted to decide who holds the lock. Descriptors are not inherited by
child processes (Python opens files non-inheritable), so an orphaned helper of a
killed command cannot keep the lock. The lock is re-entrant within a process
(the CLI takes the ingest lock, then runs the flow, which takes it again).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["Holder", "file_lock", "lock_holder"]

Holder = dict[str, object]
"""What the lock file says of its holder: ``pid`` and ``since`` (ISO time), when known."""

_held: dict[Path, tuple[int, int]] = {}  # lock path -> (descriptor, depth) in this process
_guard = threading.Lock()
_POLL_S = 0.01


@contextmanager
def file_lock(
    path: Path, *, wait_s: float = 0.0, busy: Callable[[Path, Holder], Exception]
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block.

    Waits up to ``wait_s`` for another process to release it, then raises
    ``busy(path, holder)``: each caller says what being busy means to its user.
    """
    path = path.resolve()
    with _guard:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
        else:
            _held[path] = (_acquire(path, wait_s, busy), 1)
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


def lock_holder(path: Path) -> Holder | None:
    """Who holds the lock on ``path`` now (pid and start time), or None when nobody does."""
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


def _acquire(path: Path, wait_s: float, busy: Callable[[Path, Holder], Exception]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _read(fd)
                os.close(fd)
                raise busy(path, holder) from None
            time.sleep(_POLL_S)
    os.ftruncate(fd, 0)
    since = datetime.now(UTC).isoformat(timespec="seconds")
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "since": since}).encode(), 0)
    return fd


def _read(fd: int) -> Holder:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        data = json.loads(os.read(fd, 4096) or b"{}")
    except ValueError:  # being written this very moment
        return {}
    return data if isinstance(data, dict) else {}
