"""One writer at a time: an OS lock held across each read-modify-write of the prompt store.

Every lifecycle change reads ``prompt.yaml``, checks it, and writes it back.
Two ``ragwright prompts promote`` at once each read the same manifest, and the
later rename silently dropped the other's promotion and its history entry
(10 of 20 lost over 10 concurrent rounds). :func:`store_lock` takes an
exclusive ``flock`` on a lock file at the store's root, held from the read to
the atomic rename, so changes apply one after the other and none is lost.

One lock for the whole store, not one per prompt: ``copy`` creates a prompt's
folder, and ``publish`` reads the versions a prompt includes from other
prompts; changes are rare and short, so nothing waits for long. The lock is
released by the kernel when the holder exits, even when it is killed. The lock
file stays (removing it would race with a waiter); it is empty and hidden, and
``git`` users may ignore it (``prompts/.ragwright.lock``).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragwright.errors import StoreBusyError

__all__ = ["LOCK_FILE", "store_lock"]

LOCK_FILE = ".ragwright.lock"


@contextmanager
def store_lock(root: Path, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the store's exclusive lock; give up with :class:`StoreBusyError` after ``timeout_s``.

    Not re-entrant: each ``flock`` goes through its own open file, so a process
    that nests two would wait on itself.
    """
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreBusyError(
                        f"{path}: another ragwright command has been changing this prompt store"
                        f" for over {timeout_s:g} s; retry when it is done"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)  # closing the file releases the lock
