"""Run a golden set through the RAG chain and the judges, concurrently and completely.

Every case produces a result. A provider failure after retries (an HTTP error,
a timeout, a malformed reply) becomes an ``error`` case; the run goes on. A
judge that fails on a case, whatever the exception, gives an ``error`` outcome
for that metric, counted apart from answer errors (``RunSummary.judge_errors``).
A user error (a prompt that cannot render) stops the run: it would fail the
same way for every case.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from ragwright.costs.pricing import PriceTable
from ragwright.errors import ProviderError, UserError
from ragwright.evals.golden import GoldenCase, GoldenSet
from ragwright.evals.judges.base import (
    CorrectnessVerdict,
    HallucinationVerdict,
    Judge,
    RelevanceVerdict,
)
from ragwright.evals.metrics import recall_at_k as recall
from ragwright.evals.metrics import reciprocal_rank
from ragwright.evals.results import CaseResult, EvalRun, MetricInfo, summarize
from ragwright.evals.scoring import Answer, Metric, Score, score_safely
from ragwright.providers.limits import request_slots
from ragwright.rag.chain import RagChain

__all__ = ["chain_input", "metric_info", "reads_wording", "run_evals", "run_evals_blocking"]

V = TypeVar("V", HallucinationVerdict, RelevanceVerdict, CorrectnessVerdict)


async def _judged(verdict: Awaitable[V], failed: Callable[[str], V]) -> V:
    """The judge's verdict, or ``failed(reason)`` when the judge itself crashed.

    Judges return ``error`` outcomes for provider failures already; this catches
    the rest (a bug, a local model that failed to load) so one case cannot abort
    the run or vanish from it. User errors still stop the run: they would recur.
    """
    try:
        return await verdict
    except UserError:
        raise
    except Exception as exc:
        return failed(f"{type(exc).__name__}: {exc}"[:300])


async def _correctness(judge: Judge, case: GoldenCase, answer: str) -> CorrectnessVerdict | None:
    if case.reference_answer is None:
        return None
    return await _judged(
        judge.correctness(case.question, answer, case.reference_answer),
        lambda reason: CorrectnessVerdict(None, reason, outcome="error"),
    )


def reads_wording(model: object) -> bool:
    """Whether the chat model (under its cache and meter wrappers) reads the prompt's text.

    ``local/extractive`` declares ``reads_wording = False``: it reads the sources, the
    question and the length budget, so a wording-only change cannot reach it.
    """
    while not hasattr(model, "reads_wording") and hasattr(model, "inner"):
        model = model.inner
    return bool(getattr(model, "reads_wording", True))


def chain_input(case: GoldenCase, prompt: str, run_id: str) -> dict[str, Any]:
    """The chain's input for a case; earlier turns go in as ``history`` when there are any."""
    data: dict[str, Any] = {
        "question": case.question,
        "prompt": prompt,
        "tags": {"eval_run": run_id},
    }
    if case.history:
        data["history"] = [turn.model_dump() for turn in case.history]
    return data


def metric_info(
    metric: Metric, kind: str, gate: tuple[float | None, float | None, bool]
) -> MetricInfo:
    """What a run records about a custom metric (``gate``: floor, margin, gated)."""
    floor, margin, gated = gate
    return MetricInfo(
        name=metric.name,
        kind=kind,
        higher_is_better=metric.higher_is_better,
        value_range=metric.value_range,
        uncalibrated_judge=metric.uncalibrated_judge,
        floor=floor,
        margin=margin,
        gate=gated,
    )


async def _custom_scores(
    metrics: Sequence[Metric], case: GoldenCase, answer: Answer
) -> dict[str, Score]:
    scores = await asyncio.gather(*(score_safely(m, case, answer) for m in metrics))
    return {metric.name: score for metric, score in zip(metrics, scores, strict=True)}


async def _run_case(  # noqa: PLR0917 - private, one caller
    case: GoldenCase,
    chain: RagChain,
    judge: Judge,
    prompt: str,
    prices: PriceTable,
    run_id: str,
    metrics: Sequence[Metric] = (),
) -> CaseResult:
    base: dict[str, Any] = {
        "case_id": case.id,
        "question": case.question,
        "tags": case.tags,
        "answerable": case.answerable,
        "expected_sources": case.expected_sources,
        "reference_answer": case.reference_answer,
    }
    try:
        answer = await chain.aanswer(chain_input(case, prompt, run_id))
    except ProviderError as exc:
        return CaseResult(
            **base,
            error=f"{type(exc).__name__}: {exc}",
            hallucination_outcome="error",
            relevance_outcome="error",
            correctness_outcome="error" if case.reference_answer is not None else None,
        )
    retrieved = [c.source for c in answer.contexts]
    contexts = [c.text for c in answer.contexts]
    view = Answer(answer.answer, answer.answered, answer.citations, retrieved, contexts)
    hallucination, relevance, correctness, scores = await asyncio.gather(
        _judged(
            judge.hallucination(case.question, answer.answer, contexts),
            lambda reason: HallucinationVerdict(None, None, outcome="error", detail=reason),
        ),
        _judged(
            judge.relevance(case.question, answer.answer),
            lambda reason: RelevanceVerdict(None, reason, outcome="error"),
        ),
        _correctness(judge, case, answer.answer),
        _custom_scores(metrics, case, view),
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
        hallucination_detail=hallucination.detail if hallucination.outcome != "ok" else "",
        relevance=relevance.score,
        relevance_reason=relevance.reason,
        relevance_outcome=relevance.outcome,
        correctness=correctness.score if correctness else None,
        correctness_reason=correctness.reason if correctness else "",
        correctness_outcome=correctness.outcome if correctness else None,
        latency_ms=round(answer.latency_ms, 2),
        prompt_tokens=answer.usage.prompt_tokens,
        completion_tokens=answer.usage.completion_tokens,
        tokens_estimated=answer.usage.estimated,
        cost_usd=prices.cost(provider, model, answer.usage),
        scores=scores,
    )


def _prefetch(chain: RagChain, questions: list[str], batch: int = 64) -> None:
    for start in range(0, len(questions), batch):
        chain.retriever.prefetch(questions[start : start + batch], k=chain.top_k)


async def run_evals(
    chain: RagChain,
    golden: GoldenSet,
    judge: Judge,
    *,
    prompts: Sequence[str],
    concurrency: int = 8,
    prices: PriceTable | None = None,
    progress: Callable[[int, int], None] | None = None,
    metrics: Sequence[Metric] = (),
    metric_infos: Sequence[MetricInfo] = (),
) -> list[EvalRun]:
    """Evaluate several prompt versions on the same cases, interleaved; one run each.

    Each case runs every prompt back to back, in an order that rotates from case to
    case. Versions the gate compares then meet the same conditions: warm caches
    (the local answerer's sentence vectors, the call cache), machine load and
    endpoint load favour each version on as many cases as the other, instead of
    always favouring the one that happens to run second.

    ``concurrency`` is the most model requests in flight to remote endpoints
    (:mod:`ragwright.providers.limits`), answer and judge calls together. Twice as
    many cases are open at once, so retrieval and rendering for the next cases
    overlap the requests and the slots never wait on local work. ``progress`` is
    called with the prompt's index and the number of cases just finished.
    """
    prices = prices or PriceTable()
    resolved = [chain.store.get(prompt) for prompt in prompts]
    run_ids = [uuid.uuid4().hex[:12] for _ in resolved]  # tag each run's model calls
    open_cases = asyncio.Semaphore(2 * concurrency)
    started = datetime.now(UTC)

    async def bounded(position: int, case: GoldenCase) -> list[CaseResult]:
        results: dict[int, CaseResult] = {}
        async with open_cases:
            for step in range(len(resolved)):
                index = (position + step) % len(resolved)
                results[index] = await _run_case(
                    case, chain, judge, resolved[index].ref, prices, run_ids[index], metrics
                )
                if progress is not None:
                    progress(index, 1)
        return [results[index] for index in range(len(resolved))]

    # All questions are known: embed them in batches instead of one per case. The
    # first cases' batch is ready before they start; the rest is embedded behind them.
    questions = [case.question for case in golden.cases]
    head = 2 * concurrency
    await asyncio.to_thread(_prefetch, chain, questions[:head])
    behind = asyncio.create_task(asyncio.to_thread(_prefetch, chain, questions[head:]))
    with request_slots(concurrency):
        per_case = await asyncio.gather(
            *(bounded(position, case) for position, case in enumerate(golden.cases))
        )
    await behind
    finished = datetime.now(UTC)
    runs = []
    for index, version in enumerate(resolved):
        cases = [results[index] for results in per_case]
        runs.append(
            EvalRun(
                run_id=run_ids[index],
                started_at=started,
                finished_at=finished,
                prompt=version.ref,
                prompt_hash=version.hash,
                golden_set=golden.name,
                golden_set_hash=golden.hash,
                chat_model=chain.model.name,
                chat_model_local=chain.model.is_local,
                chat_model_reads_wording=reads_wording(chain.model),
                judge=judge.name,
                judge_local=judge.is_local,
                judge_prompts=judge.prompt_refs,
                index_version=chain.retriever.version.version,
                top_k=chain.top_k,
                metrics=list(metric_infos),
                cases=cases,
                summary=summarize(cases, metric_infos),
            )
        )
    return runs


def run_evals_blocking(
    chain: RagChain,
    golden: GoldenSet,
    judge: Judge,
    *,
    prompts: Sequence[str],
    concurrency: int = 8,
    prices: PriceTable | None = None,
    progress: Callable[[int, int], None] | None = None,
    metrics: Sequence[Metric] = (),
    metric_infos: Sequence[MetricInfo] = (),
) -> list[EvalRun]:
    """Run :func:`run_evals` on a fresh event loop whose thread pool matches ``concurrency``.

    The chain's blocking steps (retrieval, local models) run in the loop's default
    executor, which asyncio sizes to the CPU count; with many cases waiting on a
    slow endpoint that pool, not the endpoint, became the limit.
    """

    async def main() -> list[EvalRun]:
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(
                max_workers=max(4, 2 * concurrency), thread_name_prefix="ragwright-eval"
            )
        )
        try:
            return await run_evals(
                chain,
                golden,
                judge,
                prompts=prompts,
                concurrency=concurrency,
                prices=prices,
                progress=progress,
                metrics=metrics,
                metric_infos=metric_infos,
            )
        finally:  # this loop ends here: close its connections while it still runs
            await chain.model.aclose()
            await judge.aclose()
            for metric in metrics:
                await metric.aclose()

    return asyncio.run(main())
