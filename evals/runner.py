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
import bisect
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from ragwright.costs.pricing import PriceTable
from ragwright.errors import ProviderError
from ragwright.evals.builtin_metrics import builtin_metrics
from ragwright.evals.golden import GoldenCase, GoldenSet
from ragwright.evals.judges.base import Judge
from ragwright.evals.model_timer import case_model_calls, timed_model_calls
from ragwright.evals.results import CaseResult, EvalRun, MetricInfo, summarize, with_builtins
from ragwright.evals.scoring import Answer, Metric, Score, score_safely
from ragwright.providers.limits import request_slots
from ragwright.rag.chain import RagChain

__all__ = ["chain_input", "metric_info", "reads_wording", "run_evals", "run_evals_blocking"]


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


async def _scores(metrics: Sequence[Metric], case: GoldenCase, answer: Answer) -> dict[str, Score]:
    """Every metric that applies to the case, concurrently; a raising metric is an error."""
    applicable = [m for m in metrics if m.applies(case)]
    scores = await asyncio.gather(*(score_safely(m, case, answer) for m in applicable))
    return {metric.name: score for metric, score in zip(applicable, scores, strict=True)}


def _failed_scores(metrics: Sequence[Metric], case: GoldenCase, reason: str) -> dict[str, Score]:
    """A case whose answer call failed: the worst value for each metric that judges answers."""
    failed = Score(value=None, outcome="error", reason=reason[:300])
    return {m.name: failed for m in metrics if m.applies(case) and not m.skip_failed_answers}


async def _run_case(  # noqa: PLR0917 - private, one caller
    case: GoldenCase,
    chain: RagChain,
    prompt: str,
    prices: PriceTable,
    run_id: str,
    metrics: Sequence[Metric],
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
        with case_model_calls() as calls:
            answer = await chain.aanswer(chain_input(case, prompt, run_id))
    except ProviderError as exc:
        error = f"{type(exc).__name__}: {exc}"
        return CaseResult(**base, error=error, scores=_failed_scores(metrics, case, error))
    retrieved = [c.source for c in answer.contexts]
    contexts = [c.text for c in answer.contexts]
    provider, _, model = answer.model.partition("/")
    cost = prices.cost(provider, model, answer.usage)
    view = Answer(
        answer.answer,
        answer.answered,
        answer.citations,
        retrieved,
        contexts,
        latency_ms=answer.latency_ms,
        model_latency_ms=round(sum(calls), 2) if calls else None,
        cost_usd=cost,
    )
    return CaseResult(
        **base,
        answer=answer.answer,
        answered=answer.answered,
        citations=answer.citations,
        retrieved_sources=retrieved,
        contexts=contexts,
        latency_ms=round(answer.latency_ms, 2),
        model_latency_ms=view.model_latency_ms,
        prompt_tokens=answer.usage.prompt_tokens,
        completion_tokens=answer.usage.completion_tokens,
        tokens_estimated=answer.usage.estimated,
        cost_usd=cost,
        scores=await _scores(metrics, case, view),
    )


def _prefetch(chain: RagChain, questions: list[str], batch: int = 64) -> None:
    for start in range(0, len(questions), batch):
        chain.retriever.prefetch(questions[start : start + batch], k=chain.top_k)


def _chunk_starts(total: int, size: int, first: int = 4) -> list[int]:
    """Where each prefetch chunk starts: ``first`` questions, doubling up to ``size``.

    The first calls wait for the first chunk: a small one lets them start after a
    few questions are embedded instead of a whole batch (0.25 s before the first
    request at concurrency 16 on 2 cores), while later chunks stay large.
    """
    starts, start, step = [], 0, max(1, min(first, size))
    while start < total:
        starts.append(start)
        start += step
        step = min(2 * step, size)
    return starts


def _prefetch_in_order(
    chain: RagChain, questions: list[str], starts: list[int]
) -> list[asyncio.Task[None]]:
    """Embed the questions in chunks beginning at ``starts``, one after another, in a thread.

    Task ``i`` is done when chunk ``i`` is; a case awaits its chunk's task before it
    retrieves. Without that wait, a case whose question was not embedded yet encoded
    it alone while the batch that held it was being encoded too: on a busy machine a
    third of the questions were encoded twice, and that CPU came out of the calls'.
    """
    tasks: list[asyncio.Task[None]] = []

    async def chunk(previous: asyncio.Task[None] | None, part: list[str]) -> None:
        if previous is not None:
            await previous  # one encoder at a time, first chunks first
        await asyncio.to_thread(_prefetch, chain, part)

    for start, end in zip(starts, [*starts[1:], len(questions)], strict=True):
        previous = tasks[-1] if tasks else None
        tasks.append(asyncio.create_task(chunk(previous, questions[start:end])))
    return tasks


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
    every = [*builtin_metrics(judge, chain.top_k), *metrics]  # built-ins first, as reports show
    infos = with_builtins(metric_infos)
    resolved = [chain.store.get(prompt) for prompt in prompts]
    run_ids = [uuid.uuid4().hex[:12] for _ in resolved]  # tag each run's model calls
    open_cases = asyncio.Semaphore(2 * concurrency)
    started = datetime.now(UTC)

    async def bounded(position: int, case: GoldenCase) -> list[CaseResult]:
        results: dict[int, CaseResult] = {}
        async with open_cases:
            await prefetched[bisect.bisect_right(starts, position) - 1]
            for step in range(len(resolved)):
                index = (position + step) % len(resolved)
                results[index] = await _run_case(
                    case, chain, resolved[index].ref, prices, run_ids[index], every
                )
                if progress is not None:
                    progress(index, 1)
        return [results[index] for index in range(len(resolved))]

    # All questions are known: embed them in batches instead of one per case, the
    # first cases' batch first; each case waits for its own batch (_prefetch_in_order).
    starts = _chunk_starts(len(golden.cases), 2 * concurrency)  # up to the cases open at once
    prefetched = _prefetch_in_order(chain, [case.question for case in golden.cases], starts)
    try:
        with request_slots(concurrency), timed_model_calls(chain):
            per_case = await asyncio.gather(
                *(bounded(position, case) for position, case in enumerate(golden.cases))
            )
    finally:  # after a failure or a cancel, batches not yet embedded are not needed
        for task in prefetched:
            task.cancel()  # no-op for the batches done, which is all of them on success
        await asyncio.gather(*prefetched, return_exceptions=True)
    for task in prefetched:
        task.result()  # a batch that failed fails the run, as its cases did
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
                metrics=infos,
                cases=cases,
                summary=summarize(cases, infos),
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
