"""Traces out: golden-set cases for ``eval run --golden-set`` and labels for ``eval calibrate``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ragwright.evals.golden import GoldenCase

__all__ = ["golden_case", "label_row", "write_jsonl"]


def golden_case(trace: dict[str, Any]) -> dict[str, Any]:
    """A golden case: the question, the served answer as a candidate reference.

    The contexts as retrieved then and the trace's ids go in ``metadata``, so a
    reviewer sees what the answer was built from even after a reindex.
    """
    contexts = trace.get("contexts") or []
    case = GoldenCase(
        id=f"trace-{trace['request_id']}",
        question=trace["question"],
        reference_answer=trace.get("answer") if trace.get("answered") else None,
        expected_sources=list(trace.get("citations") or []),
        tags=["from-trace"] if trace.get("answered") else ["from-trace", "unanswerable"],
        metadata={
            "request_id": trace["request_id"],
            "ts": trace["ts"],
            "prompt": trace.get("prompt"),
            "index_version": trace.get("index_version"),
            "feedback": trace.get("feedback"),
            "contexts": [{"source": c["source"], "text": c["text"]} for c in contexts],
        },
    )
    return case.model_dump(exclude_defaults=True)


def label_row(trace: dict[str, Any]) -> dict[str, Any] | None:
    """A labels line (``eval calibrate --labels``) for a trace a person labelled, else None."""
    if trace.get("label_supported") is None or not trace.get("answer"):
        return None
    return {
        "question": trace["question"],
        "answer": trace["answer"],
        "contexts": [c["text"] for c in trace.get("contexts") or []],
        "hallucinated": int(not trace["label_supported"]),
        "data_source": f"trace:{trace['request_id']}",
    }


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count
