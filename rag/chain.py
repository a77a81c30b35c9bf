"""The RAG chain: retrieve → render the prompt from the store → chat model → cited answer.

It is a LangChain ``Runnable``: ``invoke``/``ainvoke``/``batch`` work, it
composes with ``|``, and LangChain callbacks see each step, because the steps
are themselves an LCEL pipeline of ``RunnableLambda``s.

``stream``/``astream`` yield :class:`StreamEvent` s: the answer's tokens as the
model produces them, then one ``final`` event with the whole :class:`RagAnswer`
(citations, usage, time to first token), or a ``block`` event when an output
guardrail withholds the answer (it checks the full answer, after the tokens).

A conversation is the input key ``history``: earlier turns, oldest first, each
``{"role": "user" | "assistant", "content": str}``. Retrieval then searches for
a standalone question (:mod:`ragwright.rag.conversation`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnablePassthrough
from pydantic import BaseModel, ConfigDict

from ragwright.errors import UserError
from ragwright.prompts.render import RenderedPrompt
from ragwright.prompts.store import PromptStore
from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse, StreamItem
from ragwright.providers.extractive import CANNOT_ANSWER
from ragwright.rag.conversation import (
    CONDENSE_PROMPT,
    condense_request,
    local_standalone,
    standalone_from_reply,
    validate_history,
)
from ragwright.rag.guard import Guard, GuardFinding
from ragwright.rag.retriever import RetrievedChunk, Retriever
from ragwright.settings import Settings
from ragwright.traces.recorder import TraceRecorder, new_request_id, recorder_for, traced_failure
from ragwright.usage import Usage

__all__ = ["ContextPassage", "RagAnswer", "RagChain", "StreamEvent"]

_CITATION = re.compile(r"\[([^\[\]\n]{1,200})\]")


class ContextPassage(BaseModel):
    model_config = ConfigDict(frozen=True)

    chunk_id: str
    source: str
    title: str
    heading: str
    text: str
    score: float


class RagAnswer(BaseModel):
    """What the chain returns, and what evaluation and the HTTP API serialise."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    question: str
    answer: str
    answered: bool
    citations: list[str]
    contexts: list[ContextPassage]
    prompt: str
    prompt_hash: str
    model: str
    usage: Usage
    latency_ms: float
    index_version: str
    cached: bool = False
    findings: list[GuardFinding] = []  # what the chain's guardrails found, if it has any
    blocked_by: str | None = None  # the output check that withheld the answer
    standalone_question: str | None = None  # what retrieval searched for, given a history
    ttft_ms: float | None = None  # streamed answers: from the request to the first token
    request_id: str = ""  # the trace's key (ragwright traces show, POST /v1/feedback)


class StreamEvent(BaseModel):
    """One event of a streamed answer.

    ``token``: ``text`` is the next piece of the answer. ``final``: ``answer`` is
    the complete :class:`RagAnswer`, whose ``answer`` text is authoritative (a
    redacting guardrail may have changed what the tokens said). ``block``: an
    output guardrail withheld the answer (``answer.blocked_by``); discard the tokens.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["token", "final", "block"]
    text: str = ""
    answer: RagAnswer | None = None


def _citations(answer: str, contexts: list[RetrievedChunk]) -> list[str]:
    known = {c.source for c in contexts}
    cited = []
    for match in _CITATION.finditer(answer):
        for part in match.group(1).split(","):
            source = part.strip()
            if source in known and source not in cited:
                cited.append(source)
    return cited


def _latency_ms(started: float, response: ChatResponse) -> float:
    """End-to-end time; an answer replayed from the call cache counts its original call.

    Otherwise a gate comparing a cached baseline with a fresh candidate would see
    the candidate's model latency as a regression.
    """
    elapsed = (time.perf_counter() - started) * 1000
    if response.cached and response.replayed_latency_ms is not None:
        return elapsed - response.latency_ms + response.replayed_latency_ms
    return elapsed


def is_refusal(answer: str) -> bool:
    text = answer.strip().lower()
    return not text or CANNOT_ANSWER.lower().rstrip(".") in text


class RagChain(Runnable[dict[str, Any], RagAnswer]):
    """Answer questions from the index with a versioned prompt."""

    def __init__(
        self,
        retriever: Retriever,
        store: PromptStore,
        model: ChatModel,
        *,
        prompt: str,
        top_k: int,
        guard: Guard | None = None,
        allow_drafts: bool = False,
        condense_prompt: str = CONDENSE_PROMPT,
    ) -> None:
        self.condense_prompt = condense_prompt
        self.retriever = retriever
        self.store = store
        self.model = model
        self.prompt = prompt
        self.top_k = top_k
        self.guard = guard
        self.allow_drafts = allow_drafts
        self.tracer: TraceRecorder | None = None  # from_settings sets it when settings.traces
        if not allow_drafts:  # `serve`/`ask` with a draft or edited prompt fail at start
            store.get(prompt, published_only=True)
        self._pipeline: Runnable[dict[str, Any], RagAnswer] = (
            RunnableLambda(self._guard_input, name="guard_input")
            | RunnablePassthrough.assign(
                standalone=RunnableLambda(self._condense, afunc=self._acondense, name="condense")
            )
            | RunnablePassthrough.assign(contexts=RunnableLambda(self._retrieve, name="retrieve"))
            | RunnableLambda(self._guard_contexts, name="guard_contexts")
            | RunnablePassthrough.assign(rendered=RunnableLambda(self._render, name="render"))
            | RunnablePassthrough.assign(
                response=RunnableLambda(self._generate, afunc=self._agenerate, name="generate")
            )
            | RunnableLambda(self._finish, name="answer")
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        prompt: str | None = None,
        chat_model: ChatModel | None = None,
        cached: bool = False,
        guard: Guard | None = None,
        allow_drafts: bool = False,
    ) -> RagChain:
        """Wire the chain from settings; ``prompt`` picks a version (``rag_answer@v2``).

        ``guard`` checks questions and answers (``ragwright.guardrails.Guardrails``);
        evaluation leaves it out, because it measures the prompt, not the guard.
        ``allow_drafts`` is for evaluation only: a pull request gates a draft before
        it is published, but what answers users must have been published.
        """
        from ragwright.costs.monitor import metered
        from ragwright.offline import apply_offline_defaults
        from ragwright.providers.registry import chat_model_from_settings, embedder_from_settings
        from ragwright.rag.vectorstore import chroma_client

        apply_offline_defaults()
        settings = settings or Settings()
        embedder = embedder_from_settings(settings)
        if cached:
            from ragwright.providers.cache import CachedEmbedder, CallCache

            embedder = CachedEmbedder(embedder, CallCache(settings.cache_db))
        retriever = Retriever(settings, embedder, chroma_client(settings))
        model = chat_model or chat_model_from_settings(settings, cached=cached)
        chain = cls(
            retriever,
            PromptStore.from_settings(settings),
            metered(model, settings),
            prompt=prompt or settings.answer_prompt,
            top_k=settings.top_k,
            guard=guard,
            allow_drafts=allow_drafts,
            condense_prompt=settings.condense_prompt,
        )
        # evaluation (allow_drafts) measures prompts: its answers are not production traffic
        chain.tracer = recorder_for(settings) if settings.traces and not allow_drafts else None
        return chain

    def feedback(
        self, request_id: str, score: int, comment: str | None = None, *, replace: bool = False
    ) -> dict[str, Any]:
        """A user's verdict (1 or -1) on an answer, by its ``request_id``; see ``traces``."""
        from ragwright.traces.feedback import record_feedback

        return record_feedback(self.tracer, request_id, score, comment, replace=replace)

    def with_retriever(self, retriever: Retriever) -> RagChain:
        """The same chain over another retriever (a server refreshing after a reindex)."""
        return self._rebuilt(retriever, self.guard)

    def with_guard(self, guard: Guard | None) -> RagChain:
        """The same chain with other guardrails (or none)."""
        return self._rebuilt(self.retriever, guard)

    def _rebuilt(self, retriever: Retriever, guard: Guard | None) -> RagChain:
        # A new instance, not a copy: the LCEL pipeline is bound to its instance's steps.
        chain = RagChain(
            retriever,
            self.store,
            self.model,
            prompt=self.prompt,
            top_k=self.top_k,
            guard=guard,
            allow_drafts=self.allow_drafts,
            condense_prompt=self.condense_prompt,
        )
        chain.tracer = self.tracer
        return chain

    # Runnable interface ----------------------------------------------------
    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> RagAnswer:
        state = self._prepare(input)
        with traced_failure(self.tracer, state):
            return self._pipeline.invoke(state, config)

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> RagAnswer:
        state = self._prepare(input)
        with traced_failure(self.tracer, state):
            return await self._pipeline.ainvoke(state, config)

    def answer(self, input: dict[str, Any]) -> RagAnswer:
        """:meth:`invoke`'s steps called directly, blocking: what the server's pool runs.

        LCEL starts threads and builds a callback config for every step; at 32
        concurrent requests on 2 cores that took a third of the server's CPU
        (80 answers/s through ``invoke``, 138 direct). The steps, their span marks
        and the trace are the same; use :meth:`invoke` when LangChain callbacks
        should observe the steps.
        """
        state = self.prepare_stream(input)
        with traced_failure(self.tracer, state):
            state["response"] = self._generate(state)
            return self._finish(state)

    async def aanswer(self, input: dict[str, Any]) -> RagAnswer:
        """The same steps as :meth:`ainvoke`, called directly instead of through LCEL.

        Bulk evaluation calls this: with cached model calls, LangChain's per-step
        config and callback handling cost more than the steps themselves. Nothing
        observes the steps here, so use :meth:`ainvoke` when callbacks or tracing
        should see them. Retrieval runs in a worker thread (the encoder and Chroma
        block); rendering is fast enough for the event loop.
        """
        state = await self._aprepare_stream(input)
        state["response"] = await self._agenerate(state)
        if self.guard is not None:  # the groundedness check runs a local model
            return await asyncio.to_thread(self._finish, state)
        return self._finish(state)

    # streaming ---------------------------------------------------------------
    def stream(  # type: ignore[override]  # events, not RagAnswer chunks: see StreamEvent
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[StreamEvent]:
        """Tokens as the model produces them, then the ``final`` (or ``block``) event."""
        state = self.prepare_stream(input)
        with traced_failure(self.tracer, state):
            for item in self.model.stream(self._request(state)):
                yield self._event(state, item)

    async def astream(  # type: ignore[override]  # events, not RagAnswer chunks
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[StreamEvent]:
        """:meth:`stream` for the event loop: retrieval runs in a worker thread."""
        state = await self._aprepare_stream(input)
        async for event in self.astream_prepared(state):
            yield event

    # In a composed Runnable (``chain | step``) LangChain streams through ``transform``,
    # whose default calls ``stream``: the next step must still get a RagAnswer.
    def transform(
        self,
        input: Iterator[dict[str, Any]],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[RagAnswer]:
        *_, last = input
        yield self.invoke(last, config)

    async def atransform(
        self,
        input: AsyncIterator[dict[str, Any]],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[RagAnswer]:
        last = [chunk async for chunk in input][-1]
        yield await self.ainvoke(last, config)

    def prepare_stream(self, input: dict[str, Any]) -> dict[str, Any]:
        """Everything before the model call (guard, condense, retrieve, render), blocking.

        The server runs this in its answer pool, so a question a guardrail refuses,
        or an unknown prompt, gets its HTTP status before any event is sent.
        """
        state = self._prepare(input)
        with traced_failure(self.tracer, state):
            state = self._guard_input(state)
            state["standalone"] = self._condense(state)
            state["contexts"] = self._retrieve(state)
            state = self._guard_contexts(state)
            state["rendered"] = self._render(state)
        return state

    async def _aprepare_stream(self, input: dict[str, Any]) -> dict[str, Any]:
        """:meth:`prepare_stream`'s steps for the event loop (retrieval in a worker thread).

        Untraced on failure, unlike :meth:`prepare_stream`: its callers (bulk evaluation,
        ``astream``) have no trace to fail, or trace the model call themselves.
        """
        state = self._guard_input(self._prepare(input))
        state["standalone"] = await self._acondense(state)
        state["contexts"] = await asyncio.to_thread(self._retrieve, state)
        state = self._guard_contexts(state)
        state["rendered"] = self._render(state)
        return state

    async def astream_prepared(self, state: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        """The model's stream for a state from :meth:`prepare_stream`."""
        with traced_failure(self.tracer, state):  # a model failing mid-answer is traced
            async for item in self.model.astream(self._request(state)):
                if isinstance(item, ChatResponse) and self.guard is not None:
                    # the groundedness check runs a local model: keep the loop free
                    yield await asyncio.to_thread(self._event, state, item)
                else:
                    yield self._event(state, item)

    def _event(self, state: dict[str, Any], item: StreamItem) -> StreamEvent:
        if isinstance(item, str):
            state.setdefault("_ttft_ms", (time.perf_counter() - state["_started"]) * 1000)
            return StreamEvent(type="token", text=item)
        state.setdefault("_ttft_ms", (time.perf_counter() - state["_started"]) * 1000)
        state["response"] = item
        answer = self._finish(state)
        return StreamEvent(type="block" if answer.blocked_by else "final", answer=answer)

    # steps -------------------------------------------------------------------
    def _prepare(self, input: dict[str, Any]) -> dict[str, Any]:
        if isinstance(input, str):
            input = {"question": input}
        question = input.get("question") if isinstance(input, dict) else None
        if not isinstance(question, str) or not question.strip():
            raise UserError("the chain needs an input mapping with a non-empty 'question' string")
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no model, store or log can take it
            raise UserError(
                "invalid Unicode in 'question': it holds a lone surrogate (such as \\ud800);"
                " pass valid text"
            ) from None
        unknown = set(input) - {"question", "prompt", "k", "where", "tags", "history", "request_id"}
        if unknown:
            raise UserError(f"unknown chain input keys {sorted(unknown)}")
        history = validate_history(input.get("history"))
        request_id = input.get("request_id") or new_request_id()
        started = time.perf_counter()
        return {
            **input,
            "history": history,
            "_started": started,
            "_request_id": request_id,
            "_marks": {"started": started},  # when each step began; shared by LCEL's copies
        }

    def _guard_input(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.guard is None:
            return state
        state["_marks"]["guarded"] = True  # a failure trace keeps only the guarded question
        guarded = self.guard.check_input(state["question"])  # raises GuardrailBlockedError
        state["_marks"]["question"] = guarded.text
        return {**state, "question": guarded.text, "findings": guarded.findings}

    # A follow-up ("and how long does that take?") means nothing to the index alone:
    # retrieval and the answer prompt get a standalone question instead.
    def _condense(self, state: dict[str, Any]) -> str | None:
        state["_marks"]["condense"] = (
            time.perf_counter()
        )  # span marks: see traces.recorder.spans_of
        if not state["history"]:
            return None
        if self.model.is_local:
            return local_standalone(state["history"], state["question"])
        request = self._condense_request(state)
        return standalone_from_reply(self.model.generate(request).text, state)

    async def _acondense(self, state: dict[str, Any]) -> str | None:
        state["_marks"]["condense"] = time.perf_counter()
        if not state["history"]:
            return None
        if self.model.is_local:
            return local_standalone(state["history"], state["question"])
        request = self._condense_request(state)
        return standalone_from_reply((await self.model.agenerate(request)).text, state)

    def _condense_request(self, state: dict[str, Any]) -> ChatRequest:
        return condense_request(self.store, self.condense_prompt, state)

    def _guard_contexts(self, state: dict[str, Any]) -> dict[str, Any]:
        if self.guard is None:  # chunks carrying planted instructions: dropped, or refused
            return state
        chunks: list[RetrievedChunk] = state["contexts"]
        checked = self.guard.check_contexts(
            state["question"], [c.text for c in chunks], [c.metadata for c in chunks]
        )
        return {
            **state,
            "contexts": [chunks[i] for i in checked.keep],
            "findings": [*(state.get("findings") or []), *checked.findings],
        }

    def _retrieve(self, state: dict[str, Any]) -> list[RetrievedChunk]:
        return self.retriever.retrieve(
            state.get("standalone") or state["question"],
            k=state.get("k") or self.top_k,
            where=state.get("where"),
        )

    def _render(self, state: dict[str, Any]) -> RenderedPrompt:
        state["_marks"]["render"] = time.perf_counter()
        contexts = [
            {"source": c.source, "title": c.title, "heading": c.heading, "text": c.text}
            for c in state["contexts"]
        ]
        ref = state.get("prompt") or self.prompt
        return self.store.render(
            ref,
            {"question": state.get("standalone") or state["question"], "contexts": contexts},
            published_only=not self.allow_drafts,  # a request's `prompt` cannot pick a draft
        )

    def _request(self, state: dict[str, Any]) -> ChatRequest:
        state["_marks"]["request"] = time.perf_counter()
        rendered: RenderedPrompt = state["rendered"]
        params = rendered.parameters
        tags = tuple(sorted((str(k), str(v)) for k, v in (state.get("tags") or {}).items()))
        return ChatRequest(
            messages=rendered.messages,
            temperature=float(params["temperature"]) if "temperature" in params else None,
            max_tokens=int(params["max_tokens"]) if "max_tokens" in params else None,
            prompt=rendered.ref,
            tags=tags,
        )

    def _generate(self, state: dict[str, Any]) -> ChatResponse:
        return self.model.generate(self._request(state))

    async def _agenerate(self, state: dict[str, Any]) -> ChatResponse:
        return await self.model.agenerate(self._request(state))

    def _finish(self, state: dict[str, Any]) -> RagAnswer:
        state["_marks"]["finish"] = time.perf_counter()
        response: ChatResponse = state["response"]
        rendered: RenderedPrompt = state["rendered"]
        contexts: list[RetrievedChunk] = state["contexts"]
        text, findings, blocked_by = response.text, list(state.get("findings") or []), None
        if self.guard is not None:
            guarded = self.guard.check_output(state["question"], text, [c.text for c in contexts])
            text, blocked_by = guarded.text, guarded.blocked_by
            findings.extend(guarded.findings)
        answer = RagAnswer(
            question=state["question"],
            answer=text,
            answered=blocked_by is None and not is_refusal(text),
            citations=_citations(text, contexts) if blocked_by is None else [],
            contexts=[
                ContextPassage(
                    chunk_id=c.chunk_id,
                    source=c.source,
                    title=c.title,
                    heading=c.heading,
                    text=c.text,
                    score=round(c.score, 4),
                )
                for c in contexts
            ],
            prompt=rendered.ref,
            prompt_hash=rendered.hash,
            model=self.model.name,
            usage=response.usage,
            latency_ms=_latency_ms(state["_started"], response),
            index_version=self.retriever.version.version,
            cached=response.cached,
            findings=findings,
            blocked_by=blocked_by,
            standalone_question=state.get("standalone"),
            ttft_ms=state.get("_ttft_ms"),
            request_id=state["_request_id"],
        )
        if self.tracer is not None:
            self.tracer.answered(state, answer)
        return answer

    def warm(self) -> float:
        """Load the models now (embedder, answerer, guardrails); returns the seconds it took.

        The first call of a fresh process otherwise pays the model load (seconds) inside
        its ``latency_ms``, which then reports a load as model latency. Nothing is recorded:
        the embedders are called beneath their cost meters, with a throwaway text.
        """
        started = time.perf_counter()
        embedders = [self.retriever.embedder, getattr(self.model, "embedder", None)]
        inner_model = getattr(self.model, "inner", None)
        embedders.append(getattr(inner_model, "embedder", None))
        seen: set[int] = set()
        for outer in embedders:
            embedder = outer
            while embedder is not None and hasattr(embedder, "inner"):
                embedder = embedder.inner  # a cost meter: warm what it wraps, unrecorded
            if embedder is not None and id(embedder) not in seen:
                seen.add(id(embedder))
                embedder.encode(["warm up"])
        if self.guard is not None:
            self.guard.check_input("warm up")
        return time.perf_counter() - started
