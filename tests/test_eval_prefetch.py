"""The runner embeds each golden question once, in batches, even when a batch is late."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ragwright.evals.golden import load_golden_set
from ragwright.evals.judges.base import HallucinationVerdict, Judge, RelevanceVerdict
from ragwright.evals.runner import run_evals_blocking
from ragwright.flows.ingest import ingest
from ragwright.providers.base import Embedder
from ragwright.providers.function import FunctionChatModel
from ragwright.rag import RagChain
from ragwright.settings import Settings
from tests.conftest import write_golden


class SlowCountingEmbedder(Embedder):
    """Counts every text it embeds; each call is slow, as a busy machine makes it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.texts: Counter[str] = Counter()

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        time.sleep(0.3)
        self.texts.update(texts)
        return self.inner.encode(texts)


class FixedJudge(Judge):
    name = "fixed"
    is_local = True

    async def hallucination(
        self, question: str, answer: str, contexts: Sequence[str]
    ) -> HallucinationVerdict:
        return HallucinationVerdict(False, 0.0)

    async def relevance(self, question: str, answer: str) -> RelevanceVerdict:
        return RelevanceVerdict(5)


def test_each_question_is_embedded_once_when_batches_are_late(
    small_docs: Path, tmp_path: Path
) -> None:
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    rows: list[dict[str, object]] = [
        {"id": f"q{i}", "question": f"Question {i}: how do I roll back?"} for i in range(7)
    ]
    golden = load_golden_set(write_golden(tmp_path / "set.jsonl", rows))
    answer = FunctionChatModel(lambda request: "Use the rollback command. [rollback.md]")
    chain = RagChain.from_settings(settings, chat_model=answer)
    counting = SlowCountingEmbedder(chain.retriever.embedder)
    chain.retriever.embedder = counting
    # concurrency 1: batches of 2 questions; later cases used to start before their batch
    [run] = run_evals_blocking(
        chain, golden, FixedJudge(), prompts=["rag_answer@v1"], concurrency=1
    )
    assert [c.case_id for c in run.cases] == [row["id"] for row in rows]
    assert run.summary.errors == 0
    questions = {str(row["question"]) for row in rows}
    assert {text: n for text, n in counting.texts.items() if text in questions} == dict.fromkeys(
        questions, 1
    )


def test_prefetch_chunks_start_small_and_grow_to_the_open_cases() -> None:
    from ragwright.evals.runner import _chunk_starts

    assert _chunk_starts(100, 32) == [0, 4, 12, 28, 60, 92]  # 4, 8, 16, 32, 32, 8
    assert _chunk_starts(3, 32) == [0]
    assert _chunk_starts(0, 32) == []
    assert _chunk_starts(10, 2) == [0, 2, 4, 6, 8]  # never larger than the open cases
