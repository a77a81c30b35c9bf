"""The retrieval-time check: chunks carrying planted instructions, before they reach the prompt.

Ingest stores each chunk's finding in its metadata (guardrails/documents.py), so
this check reads it instead of scanning again; a chunk indexed before scanning
existed (no ``guard_injection`` key) is scanned here. ``quarantine`` drops
chunks flagged at ingest whatever the mode; the mode decides the rest: ``warn``
reports, ``drop-chunk`` leaves the chunk out of the prompt, ``block`` refuses
the question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ragwright.errors import GuardrailBlockedError
from ragwright.guardrails.documents import (
    META_FLAG,
    META_QUARANTINED,
    META_SCORE,
    ChunkFinding,
    DocumentScanner,
)
from ragwright.rag.guard import GuardedContexts, GuardFinding

__all__ = ["RetrievedMode", "check_retrieved"]

RetrievedMode = Literal["off", "warn", "drop-chunk", "block"]


def _stored(meta: Mapping[str, Any]) -> ChunkFinding | None:
    label = str(meta.get(META_FLAG) or "")
    if not label:
        return None
    return ChunkFinding(tuple(label.split(",")), float(meta.get(META_SCORE) or 0.0), "ingest")


def check_retrieved(
    scanner: DocumentScanner,
    contexts: Sequence[str],
    metadata: Sequence[Mapping[str, Any]],
    *,
    mode: RetrievedMode,
    quarantine: bool,
) -> GuardedContexts:
    """Which chunks go on to the prompt, and one finding for the flagged ones."""
    keep = list(range(len(contexts)))
    if mode == "off" and not quarantine:
        return GuardedContexts(keep)
    metas: list[Mapping[str, Any]] = [
        *metadata,
        *({} for _ in range(len(contexts) - len(metadata))),
    ]
    quarantined = [i for i, m in enumerate(metas) if m.get(META_QUARANTINED)]
    findings: dict[int, ChunkFinding] = {}
    if mode != "off":
        for i, (text, meta) in enumerate(zip(contexts, metas, strict=True)):
            found = _stored(meta) if META_FLAG in meta else scanner.scan_text(text)
            if found is not None:
                findings[i] = found
    result: list[GuardFinding] = []
    if quarantined:
        result.append(
            GuardFinding(
                check="retrieved_injection",
                action="drop-chunk",
                message=f"{len(quarantined)} quarantined chunk(s) left out of the prompt",
                chunks=quarantined,
            )
        )
    flagged = sorted(set(findings) - set(quarantined))
    if flagged:
        action = "drop-chunk" if mode == "drop-chunk" else mode
        kinds = sorted({k for i in flagged for k in findings[i].kinds})
        finding = GuardFinding(
            check="retrieved_injection",
            action=action,
            message=f"{len(flagged)} retrieved chunk(s) carry instructions or requests "
            "aimed at the model or the reader",
            score=max(findings[i].score for i in flagged),
            kinds=kinds,
            view=next(findings[i].view for i in flagged),
            chunks=flagged,
        )
        if mode == "block":
            raise GuardrailBlockedError(
                f"the question was refused by the retrieved_injection guardrail: {finding.message}",
                [*result, finding],
            )
        result.append(finding)
    dropped = set(quarantined) | (set(flagged) if mode == "drop-chunk" else set())
    return GuardedContexts([i for i in keep if i not in dropped], result)
