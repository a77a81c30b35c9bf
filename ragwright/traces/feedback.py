"""Feedback on an answer by request id, for ``RagChain.feedback`` and ``POST /v1/feedback``."""

from __future__ import annotations

from typing import Any

from ragwright.errors import ConfigError, UserError
from ragwright.traces.recorder import TraceRecorder

__all__ = ["record_feedback"]


def record_feedback(
    recorder: TraceRecorder | None,
    request_id: str,
    score: int,
    comment: str | None = None,
    *,
    replace: bool = False,
) -> dict[str, Any]:
    """Attach ``score`` (1 or -1) to the trace; unknown ids raise ``TraceNotFoundError``.

    Traces still buffered are written first, so feedback sent right after the
    answer finds its trace. A different verdict for the same request raises
    ``FeedbackConflictError`` unless ``replace``; the same one again is a no-op.
    """
    if recorder is None:
        raise ConfigError("feedback needs traces: set traces = true")
    if score not in (1, -1):
        raise UserError(f"feedback score must be 1 or -1 (got {score!r})")
    recorder.flush()
    return recorder.store.feedback(request_id, score, comment, replace=replace)
