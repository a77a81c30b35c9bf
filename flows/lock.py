"""One ingest at a time per project: :func:`ragwright.locks.file_lock` on ``<home>/ingest.lock``.

Two ingests of one index both did the full work, and an interleaving of their
writes could leave an older document version serving while the record said the
newer one was current. Every way into ingestion takes this lock for the whole
run: ``ragwright index run`` (before Prefect starts, so a second run fails in
a second, not after the API's start-up), the flow itself, and so every run of
the scheduled deployment. A second ingest fails at once; it does not queue.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragwright import locks
from ragwright.errors import IngestBusyError

__all__ = ["LOCK_NAME", "ingest_lock", "lock_holder"]

LOCK_NAME = "ingest.lock"


def _busy(path: Path, holder: locks.Holder) -> IngestBusyError:
    pid, since = holder.get("pid"), holder.get("since")
    return IngestBusyError(
        path,
        pid=pid if isinstance(pid, int) else None,
        since=since if isinstance(since, str) else None,
    )


@contextmanager
def ingest_lock(home: Path) -> Iterator[None]:
    """Hold the project's ingest lock for the block; raise IngestBusyError if another has it."""
    with locks.file_lock(home / LOCK_NAME, busy=_busy):
        yield


def lock_holder(home: Path) -> locks.Holder | None:
    """The pid and start time of the ingest running now, if any."""
    return locks.lock_holder(home / LOCK_NAME)
