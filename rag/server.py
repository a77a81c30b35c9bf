"""The HTTP API: the same RAG chain the evals measure, served by FastAPI.

``POST /v1/answer`` answers one question; ``GET /healthz`` reports the serving
index version. User errors (unknown prompt, bad input) are 400/422 with the
message; provider failures are 502, so a load balancer can tell them apart. A
question a guardrail blocks is 400 with ``{"message", "findings"}`` as detail;
guardrail findings on answered questions come back in ``findings``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from ragwright.errors import GuardrailBlockedError, ProviderError, UserError
from ragwright.rag.chain import RagAnswer, RagChain
from ragwright.rag.guard import GuardFinding

__all__ = ["AnswerRequest", "create_app"]

log = logging.getLogger(__name__)


class AnswerRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    prompt: str | None = Field(None, description="e.g. rag_answer@v2; default: production.")
    k: int | None = Field(None, ge=1, le=50)
    tags: dict[str, str] = Field(default_factory=dict, description="Recorded with the call.")


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

    @classmethod
    def of(cls, answer: RagAnswer) -> AnswerResponse:
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
        )


class _Serving:
    """The chain being served, swapped for one on the new index after an ingest.

    A request checks at most every ``refresh_s`` seconds whether an ingest finished
    or the alias switched since the chain's retriever opened the index; requests
    already running keep the chain they started with.
    """

    def __init__(self, chain: RagChain, refresh_s: float) -> None:
        self.chain = chain
        self.refresh_s = refresh_s
        self.checked = time.monotonic()

    def current(self) -> RagChain:
        now = time.monotonic()
        if now - self.checked >= self.refresh_s:
            self.checked = now
            if not self.chain.retriever.is_current():
                self.chain = self.chain.with_retriever(self.chain.retriever.reopen())
                log.info("index changed: now serving %s", self.chain.retriever.version.version)
        return self.chain


def create_app(chain: RagChain, *, refresh_s: float = 2.0) -> FastAPI:
    app = FastAPI(title="ragwright", summary="Answers from the index with versioned prompts.")
    serving = _Serving(chain, refresh_s)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        chain = serving.current()
        return {
            "status": "ok",
            "index_version": chain.retriever.version.version,
            "prompt": chain.prompt,
            "model": chain.model.name,
        }

    @app.post("/v1/answer", response_model=AnswerResponse)
    async def answer(request: AnswerRequest) -> AnswerResponse:
        payload: dict[str, Any] = {"question": request.question, "tags": request.tags}
        if request.prompt:
            payload["prompt"] = request.prompt
        if request.k:
            payload["k"] = request.k
        try:
            # The local models are CPU-bound: keep the event loop free for other requests.
            result = await run_in_threadpool(serving.current().invoke, payload)
        except GuardrailBlockedError as exc:
            detail = {"message": str(exc), "findings": [f.model_dump() for f in exc.findings]}
            raise HTTPException(status_code=400, detail=detail) from exc
        except UserError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        except ProviderError as exc:
            raise HTTPException(status_code=502, detail=str(exc)) from exc
        return AnswerResponse.of(result)

    return app
