"""The HTTP API: the same RAG chain the evals measure, served by FastAPI.

``POST /v1/answer`` answers one question; ``POST /v1/answer/stream`` answers it
as server-sent events (``token`` events, then ``final`` with citations, usage,
time to first token and the request id, or ``block`` when an output guardrail
withheld the answer, or ``error`` when the model failed mid-answer); ``GET
/healthz`` reports the serving index version. A request may carry the
conversation so far (``history``) or a ``conversation_id`` whose turns the
server keeps. Each outcome has one status, so a load balancer and a client can
tell them apart:

=====================================  ======  ============================================
outcome                                status  body / headers
=====================================  ======  ============================================
bad input (field limits, bad Unicode)  422     ``detail``: the fields, never the input
user error (unknown prompt, ...)       400     ``detail``: the message
a guardrail blocked the question       400     ``detail``: ``{"message", "findings"}``
request body over the limit            413     ``detail``
a hard budget is spent                 429     ``Retry-After``: seconds to the period's end
too many answer requests in flight     503     ``Retry-After``
the model provider failed              502     ``detail``: its message, secrets redacted
anything else (a bug)                  500     ``request_id``; the traceback is logged
=====================================  ======  ============================================

A streamed answer gets the same statuses for everything that fails before its
first token; after it, only an ``error`` event can say so.

Every error text passes :func:`ragwright.redact.redact` on its way out. The
server has no authentication: bind it to 127.0.0.1 or put it behind a proxy
that authenticates (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ragwright.errors import BudgetExceededError, GuardrailBlockedError, ProviderError, UserError
from ragwright.rag.chain import RagAnswer, RagChain, StreamEvent
from ragwright.rag.guard import GuardFinding
from ragwright.rag.middleware import BodyLimit, RequestIds, sse_event
from ragwright.rag.serve_logging import log_config
from ragwright.rag.serving import AnswerPool, Conversations, ServedChain
from ragwright.redact import redact
from ragwright.traces.http import install as install_monitoring

if TYPE_CHECKING:
    from ragwright.settings import Settings

__all__ = [
    "AnswerRequest",
    "ServeOptions",
    "create_app",
    "log_config",
    "seconds_to_budget_reset",
]

log = logging.getLogger(__name__)

MAX_TAGS = 16
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 256
MAX_PROMPT_REF = 200
MAX_HISTORY_TURNS = 50
MAX_TURN_CHARS = 8000
BUSY_RETRY_AFTER_S = 1
"""A full server frees a slot as soon as any request ends: ask clients to come back soon."""


TagKey = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_KEY)]
TagValue = Annotated[str, StringConstraints(max_length=MAX_TAG_VALUE)]
PromptRef = Annotated[str, StringConstraints(max_length=MAX_PROMPT_REF)]
ConversationId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
T = TypeVar("T")


class Turn(BaseModel):
    """One earlier turn of the conversation (the chain's ``history`` shape)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=MAX_TURN_CHARS)


CLEAR_MESSAGES = {
    # pydantic refuses a lone surrogate ("\ud800" in JSON) with a message about "raw data"
    "string_unicode": "invalid Unicode: the text holds a lone surrogate (such as \\ud800);"
    " send valid UTF-8 text",
}
"""Validation messages reworded for API clients, by pydantic error type."""


class AnswerRequest(BaseModel):
    """One question; every field is bounded, since the request crosses a trust boundary."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field fails loudly, as in the chain

    question: str = Field(min_length=1, max_length=4000)
    prompt: PromptRef | None = Field(None, description="e.g. rag_answer@v2; default: production.")
    k: int | None = Field(None, ge=1, le=50)
    tags: dict[TagKey, TagValue] = Field(
        default_factory=dict, max_length=MAX_TAGS, description="Recorded with the call."
    )
    history: list[Turn] | None = Field(
        None, max_length=MAX_HISTORY_TURNS, description="Earlier turns, oldest first."
    )
    conversation_id: ConversationId | None = Field(
        None, description="The server keeps this conversation's turns; send no history with it."
    )


class AnswerResponse(BaseModel):
    answer: str
    answered: bool
    citations: list[str]
    prompt: str
    prompt_hash: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    latency_ms: float
    index_version: str
    contexts: list[dict[str, Any]]
    findings: list[GuardFinding] = []
    blocked_by: str | None = None
    standalone_question: str | None = None
    conversation_id: str | None = None
    ttft_ms: float | None = None
    request_id: str = ""  # the trace's key: POST /v1/feedback {request_id, score}

    @classmethod
    def of(cls, answer: RagAnswer, conversation_id: str | None = None) -> AnswerResponse:
        return cls(
            answer=answer.answer,
            answered=answer.answered,
            citations=answer.citations,
            prompt=answer.prompt,
            prompt_hash=answer.prompt_hash,
            model=answer.model,
            prompt_tokens=answer.usage.prompt_tokens,
            completion_tokens=answer.usage.completion_tokens,
            tokens_estimated=answer.usage.estimated,
            latency_ms=round(answer.latency_ms, 2),
            index_version=answer.index_version,
            contexts=[c.model_dump() for c in answer.contexts],
            findings=answer.findings,
            blocked_by=answer.blocked_by,
            standalone_question=answer.standalone_question,
            conversation_id=conversation_id,
            ttft_ms=round(answer.ttft_ms, 2) if answer.ttft_ms is not None else None,
            request_id=answer.request_id,
        )


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The server's limits (``serve_*`` settings) and what its replies need to know."""

    workers: int = 16
    max_in_flight: int | None = None  # None: 2 x workers
    max_body_bytes: int = 64 * 1024
    refresh_s: float = 2.0
    budget_periods: tuple[str, ...] = ()  # of the hard budgets, for Retry-After on 429
    conversation_max_turns: int = 20
    conversation_max_count: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> ServeOptions:
        return cls(
            workers=settings.serve_workers,
            max_in_flight=settings.serve_max_in_flight,
            max_body_bytes=settings.serve_max_body_bytes,
            budget_periods=tuple(sorted({b.period for b in settings.budgets if b.hard})),
            conversation_max_turns=settings.conversation_max_turns,
            conversation_max_count=settings.conversation_max_count,
        )

    @property
    def in_flight_limit(self) -> int:
        return self.max_in_flight or 2 * self.workers


def create_app(chain: RagChain, options: ServeOptions | None = None) -> FastAPI:
    """The FastAPI application serving ``chain`` within ``options``' limits."""
    options = options or ServeOptions()
    served = ServedChain(chain, options.refresh_s)
    pool = AnswerPool(options.workers, options.in_flight_limit)
    conversations = Conversations(options.conversation_max_turns, options.conversation_max_count)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool.start()  # the answer threads exist before the first request
        served.start_watching()
        try:
            yield
        finally:
            served.stop_watching()
            pool.shutdown()

    app = FastAPI(
        title="ragwright",
        summary="Answers from the index with versioned prompts.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(RequestIds)  # outermost: ids on every reply, even a 413

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each invalid input back: a 10 MB value, a secret,
        # or a lone surrogate that cannot even be encoded into the reply (it became a 500).
        errors = [
            {
                "type": e["type"],
                "loc": list(e["loc"]),
                "msg": CLEAR_MESSAGES.get(e["type"]) or redact(str(e["msg"])),
            }
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        # async and I/O-free: answered on the event loop however busy the answer pool is.
        return {
            "status": "ok",
            **served.health,
            "in_flight": pool.in_flight,
            "max_in_flight": pool.max_in_flight,
        }

    def payload_of(request: AnswerRequest, http: Request) -> dict[str, Any]:
        payload: dict[str, Any] = {"question": request.question, "tags": request.tags}
        payload["request_id"] = getattr(http.state, "request_id", None)  # the trace's key
        if request.prompt:
            payload["prompt"] = request.prompt
        if request.k:
            payload["k"] = request.k
        if request.history is not None and request.conversation_id is not None:
            raise HTTPException(
                status_code=400,
                detail="send either history or conversation_id: the server keeps the"
                " conversation's history itself",
            )
        if request.conversation_id is not None:
            payload["history"] = conversations.history(request.conversation_id)
        elif request.history:
            payload["history"] = [t.model_dump() for t in request.history]
        return payload

    def admitted(future: Future[T] | None) -> Future[T]:
        if future is None:
            raise HTTPException(
                status_code=503,
                detail=f"{pool.max_in_flight} answer requests in flight (serve_max_in_flight);"
                " retry later",
                headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
            )
        return future

    async def mapped(work: Awaitable[T]) -> T:
        """Await ``work``; ragwright's errors become their HTTP statuses (module docstring)."""
        try:
            return await work
        except GuardrailBlockedError as exc:
            detail = {
                "message": redact(str(exc)),
                "findings": [f.model_dump() for f in exc.findings],
            }
            raise HTTPException(status_code=400, detail=detail) from exc
        except UserError as exc:
            raise HTTPException(status_code=400, detail=redact(str(exc))) from exc
        except BudgetExceededError as exc:
            retry_after = str(seconds_to_budget_reset(exc, options.budget_periods))
            raise HTTPException(
                status_code=429, detail=redact(str(exc)), headers={"Retry-After": retry_after}
            ) from exc
        except ProviderError as exc:
            raise HTTPException(status_code=502, detail=redact(str(exc))) from exc

    def remember(request: AnswerRequest, answer: RagAnswer) -> None:
        if request.conversation_id is not None and answer.blocked_by is None:
            conversations.add(request.conversation_id, request.question, answer.answer)

    @app.post("/v1/answer", response_model=AnswerResponse)
    async def answer(request: AnswerRequest, http: Request) -> AnswerResponse:
        future = admitted(pool.submit(served.answer, payload_of(request, http)))
        result = await mapped(asyncio.wrap_future(future))
        remember(request, result)
        return AnswerResponse.of(result, request.conversation_id)

    @app.post("/v1/answer/stream", response_class=StreamingResponse)
    async def answer_stream(request: AnswerRequest, http: Request) -> StreamingResponse:
        """The answer as server-sent events; failures before the first token are statuses."""
        request_id = str(getattr(http.state, "request_id", ""))
        future = admitted(pool.submit(_prepare, served, payload_of(request, http)))
        chain, state = await mapped(asyncio.wrap_future(future))
        stream = chain.astream_prepared(state)
        first = await mapped(anext(stream))

        async def events() -> AsyncIterator[bytes]:
            event: StreamEvent | None = first
            while event is not None:
                if event.answer is None:
                    yield sse_event("token", {"text": event.text})
                else:
                    remember(request, event.answer)
                    body = AnswerResponse.of(event.answer, request.conversation_id).model_dump()
                    yield sse_event(event.type, body)
                try:
                    event = await anext(stream, None)
                except (ProviderError, BudgetExceededError, UserError) as exc:
                    message = redact(str(exc))
                    yield sse_event("error", {"message": message, "request_id": request_id})
                    return

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    install_monitoring(app, chain.tracer)  # /v1/feedback, /v1/traces, /dashboard, /label
    return app


def _prepare(served: ServedChain, payload: dict[str, Any]) -> tuple[RagChain, dict[str, Any]]:
    # On a pool thread: guard, condense, retrieve and render block; the tokens do not.
    chain = served.current()
    return chain, chain.prepare_stream(payload)


def seconds_to_budget_reset(
    exc: BudgetExceededError, periods: tuple[str, ...], now: datetime | None = None
) -> int:
    """Whole seconds until the refused budget's period ends (UTC day or month).

    The error carries its budget's period; without one (raised by other code), the
    earliest end among the hard budgets' periods: the soonest a retry could succeed.
    """
    candidates = (exc.period,) if exc.period else periods or ("daily",)
    now = now or datetime.now(UTC)
    return max(1, math.ceil(min((_period_end(p, now) - now).total_seconds() for p in candidates)))


def _period_end(period: str, now: datetime) -> datetime:
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "monthly":
        first = midnight.replace(day=1)
        return (first + timedelta(days=32)).replace(day=1)
    return midnight + timedelta(days=1)
