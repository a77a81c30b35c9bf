"""Run a golden set through the RAG chain and the judges, concurrently and completely.

Every case produces a result. A provider failure after retries becomes an
``error`` case; the run goes on. A user error (a prompt that cannot render)
stops the run: it would fail the same way for every case.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ragwright.costs.pricing import PriceTable
from ragwright.errors import ProviderError
from ragwright.evals.golden import GoldenCase, GoldenSet
from ragwright.evals.judges.base import Judge
from ragwright.evals.metrics import recall_at_k as recall
from ragwright.evals.metrics import reciprocal_rank
from ragwright.evals.results import CaseResult, EvalRun, summarize
from ragwright.rag.chain import RagChain

__all__ = ["run_eval", "run_eval_blocking"]


async def _run_case(  # noqa: PLR0917 - private, one caller
    case: GoldenCase, chain: RagChain, judge: Judge, prompt: str, prices: PriceTable, run_id: str
) -> CaseResult:
    base: dict[str, Any] = {
        "case_id": case.id,
        "question": case.question,
        "tags": case.tags,
        "answerable": case.answerable,
        "expected_sources": case.expected_sources,
    }
    try:
        answer = await chain.ainvoke(
            {"question": case.question, "prompt": prompt, "tags": {"eval_run": run_id}}
        )
    except ProviderError as exc:
        return CaseResult(
            **base,
            error=f"{type(exc).__name__}: {exc}",
            hallucination_outcome="error",
            relevance_outcome="error",
        )
    retrieved = [c.source for c in answer.contexts]
    contexts = [c.text for c in answer.contexts]
    hallucination, relevance = await asyncio.gather(
        judge.hallucination(case.question, answer.answer, contexts),
        judge.relevance(case.question, answer.answer),
    )
    provider, _, model = answer.model.partition("/")
    return CaseResult(
        **base,
        answer=answer.answer,
        answered=answer.answered,
        citations=answer.citations,
        retrieved_sources=retrieved,
        contexts=contexts,
        recall_at_k=recall(case.expected_sources, retrieved, chain.top_k),
        reciprocal_rank=reciprocal_rank(case.expected_sources, retrieved),
        hallucinated=hallucination.hallucinated,
        hallucination_score=hallucination.score,
        unsupported_claims=hallucination.unsupported_claims,
        hallucination_outcome=hallucination.outcome,
        relevance=relevance.score,
        relevance_reason=relevance.reason,
        relevance_outcome=relevance.outcome,
        latency_ms=round(answer.latency_ms, 2),
        prompt_tokens=answer.usage.prompt_tokens,
        completion_tokens=answer.usage.completion_tokens,
        tokens_estimated=answer.usage.estimated,
        cost_usd=prices.cost(provider, model, answer.usage),
    )


async def run_eval(
    chain: RagChain,
    golden: GoldenSet,
    judge: Judge,
    *,
    prompt: str,
    concurrency: int = 8,
    prices: PriceTable | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalRun:
    """Evaluate ``prompt`` (a reference such as ``rag_answer@v2``) on every case."""
    prices = prices or PriceTable()
    resolved = chain.store.get(prompt)
    run_id = uuid.uuid4().hex[:12]  # tags every model call of this run in the cost store
    limit = asyncio.Semaphore(concurrency)
    started = datetime.now(UTC)

    async def bounded(case: GoldenCase) -> CaseResult:
        async with limit:
            result = await _run_case(case, chain, judge, resolved.ref, prices, run_id)
        if progress is not None:
            progress(1)
        return result

    cases = await asyncio.gather(*(bounded(case) for case in golden.cases))
    return EvalRun(
        run_id=run_id,
        started_at=started,
        finished_at=datetime.now(UTC),
        prompt=resolved.ref,
        prompt_hash=resolved.hash,
        golden_set=golden.name,
        golden_set_hash=golden.hash,
        chat_model=chain.model.name,
        chat_model_local=chain.model.is_local,
        judge=judge.name,
        judge_local=judge.is_local,
        judge_prompts=judge.prompt_refs,
        index_version=chain.retriever.version.version,
        top_k=chain.top_k,
        cases=list(cases),
        summary=summarize(list(cases)),
    )


def run_eval_blocking(
    chain: RagChain,
    golden: GoldenSet,
    judge: Judge,
    *,
    prompt: str,
    concurrency: int = 8,
    prices: PriceTable | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvalRun:
    """Run :func:`run_eval` on a fresh event loop whose thread pool matches ``concurrency``.

    The chain's blocking steps (retrieval, rendering, local models) run in the loop's
    default executor, which asyncio sizes to the CPU count; with many cases waiting on
    a slow endpoint that pool, not the endpoint, became the limit.
    """

    async def main() -> EvalRun:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(
                max_workers=max(4, 2 * concurrency), thread_name_prefix="ragwright-eval"
            )
        )
        return await run_eval(
            chain,
            golden,
            judge,
            prompt=prompt,
            concurrency=concurrency,
            prices=prices,
            progress=progress,
        )

    return asyncio.run(main())
