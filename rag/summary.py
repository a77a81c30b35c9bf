"""What an ingest run did, in numbers: per step (:class:`UpsertCounts`) and in all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["IngestSummary", "UpsertCounts"]


@dataclass(frozen=True)
class UpsertCounts:
    embedded: int = 0
    reused: int = 0  # vectors kept: from the previous version of the document, or resumed
    resumed: int = 0  # of those, staged by an interrupted run
    deleted: int = 0


@dataclass
class IngestSummary:
    index_version: str = ""
    collection: str = ""
    files_seen: int = 0
    docs_seen: int = 0
    docs_new: int = 0
    docs_changed: int = 0
    docs_unchanged: int = 0
    docs_removed: int = 0
    docs_kept: int = 0
    docs_failed: int = 0
    chunks_added: int = 0
    chunks_deleted: int = 0
    chunks_reused: int = 0
    chunks_resumed: int = 0
    orphans_repaired: int = 0
    switched_alias: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)
