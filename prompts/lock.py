"""One writer at a time: :func:`ragwright.locks.file_lock` held across each change of a store.

Every lifecycle change reads ``prompt.yaml``, checks it, and writes it back.
Two ``ragwright prompts promote`` at once each read the same manifest, and the
later rename silently dropped the other's promotion and its history entry
(10 of 20 lost over 10 concurrent rounds). :func:`store_lock` holds an exclusive
lock on a file at the store's root from the read to the atomic rename, so
changes apply one after the other and none is lost.

One lock for the whole store, not one per prompt: ``copy`` creates a prompt's
folder, and ``publish`` reads the versions a prompt includes from other
prompts; changes are rare and short, so a writer waits rather than fails. The
lock file stays (removing it would race with a waiter); it is empty but for its
holder's pid, hidden, and ignored by git in projects ``ragwright init`` made.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragwright import locks
from ragwright.errors import StoreBusyError

__all__ = ["LOCK_FILE", "store_lock"]

LOCK_FILE = ".ragwright.lock"


@contextmanager
def store_lock(root: Path, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Hold the store's exclusive lock; give up with :class:`StoreBusyError` after ``timeout_s``."""

    def busy(path: Path, holder: locks.Holder) -> StoreBusyError:
        who = f" (pid {holder['pid']})" if "pid" in holder else ""
        return StoreBusyError(
            f"{path}: another ragwright command{who} has been changing this prompt store"
            f" for over {timeout_s:g} s; retry when it is done"
        )

    with locks.file_lock(root / LOCK_FILE, wait_s=timeout_s, busy=busy):
        yield
