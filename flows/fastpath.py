"""Decide "nothing to do" for ``ragwright index run`` before any Prefect import.

Starting Prefect's ephemeral API costs 10-15 s per process, and an unchanged
corpus needs none of it: the in-process check takes a tenth of a second. The
decision reuses the flow's own code: :meth:`Indexer.target_version` (the
embedder and chunking settings that decide the index version), the planning
step (:func:`ragwright.rag.planning.plan_changes` through :meth:`Indexer.plan`)
and the records, so whatever the flow would act on (a changed, new or removed
document, a chunking or embedder change, a part-way document, a run that never
finished) sends the run through the flow; only a true no-op skips it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ragwright.errors import IndexStoreError
from ragwright.rag.records import IndexRecords
from ragwright.rag.staging import StagingStore
from ragwright.rag.summary import IngestSummary
from ragwright.settings import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI

    from ragwright.rag.indexer import Indexer

__all__ = ["unchanged_summary"]


def unchanged_summary(settings: Settings, docs: Path) -> IngestSummary | None:
    """The summary of a run that would change nothing, or None when the flow must run.

    Call with the ingest lock held. Nothing is written when the answer is a summary.
    """
    from ragwright.providers.registry import embedder_from_settings
    from ragwright.rag.indexer import Indexer

    started = time.perf_counter()
    if not settings.index_db.is_file() or StagingStore.read(settings.staging_db):
        return None
    try:
        records = IndexRecords(settings.index_db)
    except IndexStoreError:
        return None  # the flow reports it (or repairs it on --full)
    try:
        serving = records.alias(settings.collection)
        if serving is None or serving.completed_at is None or not records.last_run_finished():
            return None
        # The version check never touches the vector store: no client is needed or opened.
        indexer = Indexer(
            settings,
            embedder_from_settings(settings, metered=False),
            cast("ClientAPI", None),
            records,
        )
        if not _describes(indexer, serving.version):
            return None
        loaded = indexer.load(docs)
        plan = indexer.plan(serving, loaded)
    except IndexStoreError:
        return None
    finally:
        records.close()
    if plan.to_index or plan.removed or plan.kept or loaded.failures:
        return None
    summary = IngestSummary(index_version=serving.version, collection=serving.collection)
    summary.files_seen = loaded.files_seen
    summary.docs_seen = summary.docs_unchanged = len(loaded.documents)
    summary.seconds["check"] = round(time.perf_counter() - started, 3)
    return summary


def _describes(indexer: Indexer, serving: str) -> bool:
    """Whether the current settings name the serving version (target_version writes only
    when they do not, and then the flow runs and writes the same record anyway)."""
    return indexer.target_version().version == serving
