"""The monitoring routes of ``ragwright serve``: feedback, traces, the dashboard and labels.

``POST /v1/feedback`` attaches a user's verdict to a served answer (404 for an
unknown request id, 409 for a different verdict already given unless
``replace``). ``GET /v1/traces`` and ``/v1/traces/{id}`` read the store;
``GET /v1/monitor`` is the report the dashboard draws; ``POST /v1/labels`` saves
a person's labels from ``/label``. Every handler reads the store in the server's
thread pool (FastAPI runs plain ``def`` handlers there), never on the event loop.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from ragwright.errors import FeedbackConflictError, TraceNotFoundError
from ragwright.redact import redact
from ragwright.sqlite import StoreError
from ragwright.traces.aggregate import store_report
from ragwright.traces.feedback import record_feedback
from ragwright.traces.store import TraceFilter

if TYPE_CHECKING:
    from ragwright.traces.recorder import TraceRecorder

__all__ = ["FeedbackRequest", "LabelRequest", "install"]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    score: int = Field(description="1 (good) or -1 (bad).")
    comment: str | None = Field(None, max_length=2000)
    replace: bool = Field(False, description="Replace earlier, different feedback.")


class LabelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    supported: bool
    correct: bool | None = None


def _page(name: str) -> str:
    return (files("ragwright.traces") / "static" / name).read_text(encoding="utf-8")


def install(app: FastAPI, recorder: TraceRecorder | None) -> None:
    """Add the routes to ``app``; without a recorder (traces off) they answer 404."""
    router = APIRouter()

    def store_or_404() -> Any:
        if recorder is None:
            raise HTTPException(status_code=404, detail="traces are off (traces = false)")
        recorder.flush_quietly()  # a trace answered a moment ago is visible at once
        return recorder.store

    def mapped_errors(exc: Exception) -> HTTPException:
        status = 404 if isinstance(exc, TraceNotFoundError) else 409
        return HTTPException(status_code=status, detail=redact(str(exc)))

    @router.post("/v1/feedback")
    def feedback(request: FeedbackRequest) -> dict[str, Any]:
        if request.score not in (1, -1):
            raise HTTPException(status_code=422, detail="score must be 1 or -1")
        store_or_404()
        try:
            return record_feedback(
                recorder, request.request_id, request.score, request.comment,
                replace=request.replace,
            )  # fmt: skip
        except (TraceNotFoundError, FeedbackConflictError) as exc:
            raise mapped_errors(exc) from exc
        except StoreError as exc:  # locked or down: the client may retry
            detail = f"the trace store is unavailable: {redact(str(exc))}"
            raise HTTPException(status_code=503, detail=detail) from exc

    @router.get("/v1/traces")
    def list_traces(limit: int = 50, worst: bool = False) -> list[dict[str, Any]]:
        limit = max(1, min(limit, 500))  # the query's limit: never every trace in memory
        store = store_or_404()
        rows = store.select_worst(limit) if worst else store.select(TraceFilter(limit=limit))
        return [_summary(r) for r in rows]

    @router.get("/v1/traces/{request_id}")
    def show_trace(request_id: str) -> dict[str, Any]:
        try:
            return dict(store_or_404().get(request_id))
        except TraceNotFoundError as exc:
            raise mapped_errors(exc) from exc

    @router.get("/v1/monitor")
    def monitor(by: str = "day") -> dict[str, Any]:
        if by not in ("day", "prompt", "index", "day_prompt"):
            raise HTTPException(
                status_code=422, detail="by must be day, prompt, index or day_prompt"
            )
        return store_report(store_or_404(), by=by)  # aggregated in SQL

    @router.post("/v1/labels")
    def label(request: LabelRequest) -> dict[str, Any]:
        try:
            store_or_404().label(
                request.request_id, supported=request.supported, correct=request.correct
            )
        except TraceNotFoundError as exc:
            raise mapped_errors(exc) from exc
        return {"request_id": request.request_id, "saved": True}

    @router.get("/dashboard", response_class=HTMLResponse)
    def dashboard() -> str:
        return _page("dashboard.html")

    @router.get("/label", response_class=HTMLResponse)
    def label_page() -> str:
        return _page("label.html")

    app.include_router(router)


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "request_id", "ts", "question", "prompt", "answered", "latency_ms", "cost_usd",
        "hallucination", "hallucinated", "relevance", "feedback", "error_type",
        "label_supported", "top_score",
    )  # fmt: skip
    return {k: row.get(k) for k in keep}
