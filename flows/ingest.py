"""The ingestion flow: discover → load → chunk → embed → upsert → delete stale → record.

Each stage is a Prefect task so runs show per-stage state and timings in the
Prefect UI; the work itself lives in :class:`ragwright.rag.indexer.Indexer`,
which is plain Python and crash-safe on its own. A run holds the project's
ingest lock (:mod:`ragwright.flows.lock`) from start to end.

Prefect logs a full traceback for any exception that leaves a task or a flow.
For what a user can fix (a missing folder, a full disk, a corrupt ``index.db``,
another ingest running) that is noise in front of the one line that matters, so
such an error leaves its task as a value and the flow as a Failed state carrying
the message; the caller still gets the exception raised, and the CLI prints it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import State, Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import Failed
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ragwright.errors import IndexStoreError, InputFileError, UserError
from ragwright.flows.lock import ingest_lock
from ragwright.guardrails.documents import scan_chunks
from ragwright.providers.registry import embedder_from_settings
from ragwright.rag.documents import Chunk
from ragwright.rag.indexer import Indexer, IngestPlan, IngestSummary, LoadResult, UpsertCounts
from ragwright.rag.records import DocRecord, IndexRecords, IndexVersion
from ragwright.rag.vectorstore import chroma_client
from ragwright.settings import Settings, load_settings

__all__ = ["flow_settings", "ingest", "ingest_flow"]

INGEST_FIELDS = (
    "project_root",  # a worker started elsewhere still reads this project's ragwright.toml
    "home",
    "docs_dir",
    "chroma_url",
    "collection",
    "embedding_model",
    "chunk_tokens",
    "chunk_overlap",
    "max_file_bytes",
    "follow_symlinks",
)

R = TypeVar("R")
P = ParamSpec("P")


@dataclass(frozen=True)
class _Raised:
    """A user-fixable error carried out of a task as its result (see the module docstring)."""

    error: UserError


def _carried(step: Callable[P, R]) -> Callable[P, R | _Raised]:
    @functools.wraps(step)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | _Raised:
        try:
            return step(*args, **kwargs)
        except UserError as exc:
            return _Raised(exc)

    return wrapper


@task(name="reconcile", cache_policy=NO_CACHE)
@_carried
def reconcile_task(indexer: Indexer, version: IndexVersion) -> int:
    return indexer.reconcile(version)


@task(name="load", cache_policy=NO_CACHE)
@_carried
def load_task(indexer: Indexer, docs_dir: Path, progress: Callable[[int], None]) -> LoadResult:
    return indexer.load(docs_dir, progress)


@task(name="plan", cache_policy=NO_CACHE)
@_carried
def plan_task(indexer: Indexer, version: IndexVersion, loaded: LoadResult) -> IngestPlan:
    return indexer.plan(version, loaded)


@task(name="chunk", cache_policy=NO_CACHE)
@_carried
def chunk_task(
    indexer: Indexer, plan: IngestPlan, progress: Callable[[int], None]
) -> dict[str, list[Chunk]]:
    return indexer.chunk(plan.to_index, progress)


@task(name="embed-upsert", cache_policy=NO_CACHE)
@_carried
def embed_upsert_task(
    indexer: Indexer,
    version: IndexVersion,
    plan: IngestPlan,
    chunks: Any,
    progress: Callable[[int], None],
) -> UpsertCounts:
    return indexer.embed_and_upsert(version, plan.to_index, chunks, progress)


@task(name="delete-stale", cache_policy=NO_CACHE)
@_carried
def delete_task(indexer: Indexer, version: IndexVersion, removed: list[DocRecord]) -> int:
    return indexer.delete_removed(version, removed)


@task(name="publish", cache_policy=NO_CACHE)
@_carried
def publish_task(indexer: Indexer, version: IndexVersion) -> bool:
    return indexer.publish(version)


def _call(step: Task[..., R | _Raised], *args: Any) -> R:
    """Run a stage as a Prefect task inside a flow run, as plain Python outside one.

    Outside a flow, Prefect would create a standalone task run per call against
    its API; library callers, tests and benchmarks need none of that. A user error
    the stage carried out as a value is raised again here.
    """
    result = step.fn(*args) if FlowRunContext.get() is None else step(*args)
    if isinstance(result, _Raised):
        raise result.error
    return result


class _Stages:
    """Rich progress bars per stage (or silence), and wall time per stage."""

    def __init__(self, summary: IngestSummary, console: Console | None) -> None:
        self.summary = summary
        self.progress = (
            Progress(
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                transient=False,
            )
            if console is not None
            else None
        )

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        bar = self.progress.add_task(name, total=total) if self.progress else None
        started = time.perf_counter()

        def advance(n: int) -> None:
            if self.progress is not None and bar is not None:
                self.progress.advance(bar, n)

        try:
            yield advance
        finally:
            self.summary.seconds[name] = round(time.perf_counter() - started, 3)
            if self.progress is not None and bar is not None:
                self.progress.update(bar, total=total or 1, completed=total or 1)


def ingest(
    settings: Settings,
    *,
    docs_dir: Path | None = None,
    rebuild: bool = False,
    console: Console | None = None,
) -> IngestSummary:
    """Run every stage in this process, holding the ingest lock; called by the flow.

    Usable without Prefect. Raises IngestBusyError at once if another ingest of this
    project is running.
    """
    docs = docs_dir or settings.docs_dir
    if not docs.is_dir():  # before any store is opened: a typo must change nothing
        raise InputFileError("documents folder does not exist", path=docs)
    with ingest_lock(settings.home):
        records = _open_records(settings, rebuild=rebuild)
        try:
            return _run(settings, records, docs, rebuild, console)
        finally:
            records.close()


def _open_records(settings: Settings, *, rebuild: bool) -> IndexRecords:
    """The index records; a rebuild sets a corrupt file aside and starts a blank one."""
    try:
        return IndexRecords(settings.index_db)
    except IndexStoreError as exc:
        if not (rebuild and exc.kind == "corrupt"):
            raise
    IndexRecords.set_aside(settings.index_db)
    return IndexRecords(settings.index_db)


def _run(
    settings: Settings,
    records: IndexRecords,
    docs: Path,
    rebuild: bool,
    console: Console | None,
) -> IngestSummary:
    summary = IngestSummary()
    indexer = Indexer(
        settings,
        embedder_from_settings(settings),
        chroma_client(settings),
        records,
        scan=functools.partial(scan_chunks, config=settings.guardrails),  # planted instructions
    )
    version = indexer.target_version(rebuild=rebuild)
    summary.index_version, summary.collection = version.version, version.collection
    run_id = records.start_run(version.version)
    stages = _Stages(summary, console)
    with stages.progress or _null():
        with stages.stage("reconcile"):
            summary.orphans_repaired = _call(reconcile_task, indexer, version)
        with stages.stage("load") as advance:
            loaded = _call(load_task, indexer, docs, advance)
        plan = _call(plan_task, indexer, version, loaded)
        with stages.stage("chunk", len(plan.to_index)) as advance:
            chunks = _call(chunk_task, indexer, plan, advance)
        total = sum(len(c) for c in chunks.values())
        with stages.stage("embed+upsert", total) as advance:
            counts = _call(embed_upsert_task, indexer, version, plan, chunks, advance)
        with stages.stage("delete-stale", len(plan.removed)):
            removed_chunks = _call(delete_task, indexer, version, plan.removed)
        summary.switched_alias = _call(publish_task, indexer, version)
    summary.files_seen = loaded.files_seen
    summary.docs_seen = len(loaded.documents)
    summary.docs_new, summary.docs_changed = len(plan.new), len(plan.changed)
    summary.docs_unchanged, summary.docs_removed = len(plan.unchanged), len(plan.removed)
    summary.docs_kept = len(plan.kept)
    summary.docs_failed = len(loaded.failures)
    summary.chunks_added, summary.chunks_reused = counts.embedded, counts.reused
    summary.chunks_resumed = counts.resumed
    summary.chunks_deleted = counts.deleted + removed_chunks
    summary.failures = [asdict(f) for f in loaded.failures]
    records.finish_run(run_id, summary.as_dict())
    return summary


@contextmanager
def _null() -> Iterator[None]:
    yield


def flow_settings(settings: Settings) -> dict[str, Any]:
    """The settings ingestion needs, as flow parameters.

    Flow parameters are stored by Prefect, so only these non-secret fields are
    passed; an API key never reaches the Prefect database.
    """
    data = settings.model_dump(mode="json", include=set(INGEST_FIELDS))
    return {key: value for key, value in data.items() if value is not None}


@flow(name="ragwright-ingest", log_prints=True)
def ingest_flow(
    docs_dir: str | None = None,
    rebuild: bool = False,
    settings: dict[str, Any] | None = None,
    show_progress: bool = False,
) -> dict[str, Any] | State[Any]:
    """Prefect entry point: reads settings (environment, ragwright.toml, overrides) itself.

    Returns the run summary. A user-fixable error ends the run Failed with its message
    (no traceback in the log); Prefect raises it to a caller that called the flow.
    """
    try:
        resolved = load_settings(**(settings or {}))
        summary = ingest(
            resolved,
            docs_dir=Path(docs_dir) if docs_dir else None,
            rebuild=rebuild,
            console=Console(stderr=True) if show_progress else None,
        )
    except UserError as exc:
        return Failed(message=str(exc), data=exc)
    return summary.as_dict()
