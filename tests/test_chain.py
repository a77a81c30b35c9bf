"""The RAG chain over a real index: answers, citations, async, LangChain composition."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableLambda

from ragwright.errors import IndexStateError, UserError
from ragwright.flows.ingest import ingest
from ragwright.providers.base import ChatRequest
from ragwright.providers.extractive import CANNOT_ANSWER
from ragwright.providers.function import FunctionChatModel
from ragwright.rag import RagAnswer, RagChain
from ragwright.settings import Settings


@pytest.fixture
def indexed(small_docs: Path) -> Settings:
    settings = Settings(docs_dir=small_docs, chunk_tokens=64, chunk_overlap=8)
    ingest(settings)
    return settings


def test_answers_with_citations_from_the_right_document(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)
    answer = chain.invoke({"question": "How do I roll back the production prompt?"})
    assert isinstance(answer, RagAnswer)
    assert answer.answered
    assert "rollback" in answer.answer.lower()
    assert answer.citations[0] == "rollback.md"
    assert answer.prompt == "rag_answer@v1"
    assert answer.prompt_hash.startswith("sha256:")
    assert answer.model == "local/extractive"
    assert answer.usage.estimated
    assert answer.usage.prompt_tokens > 0
    assert answer.contexts
    assert answer.contexts[0].source == "rollback.md"


def test_declines_when_nothing_relevant(indexed: Settings) -> None:
    answer = RagChain.from_settings(indexed).invoke(
        {"question": "Who won the football world cup in 1974?"}
    )
    assert not answer.answered
    assert answer.answer == CANNOT_ANSWER
    assert answer.citations == []


def test_extractive_answers_are_deterministic(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)
    question = {"question": "What cost does a model without a price get?"}
    assert chain.invoke(question).answer == chain.invoke(question).answer


def test_async_batch_and_composition(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)
    async_answer = asyncio.run(chain.ainvoke({"question": "How much sun do tomatoes need?"}))
    assert async_answer.citations == ["gardening.txt"]
    answers = chain.batch(
        [
            {"question": "What does RAGWRIGHT_CHROMA_URL do?"},
            {"question": "How do I roll back a prompt?"},
        ]
    )
    assert [a.citations[0] for a in answers] == ["chroma.md", "rollback.md"]
    just_text = chain | RunnableLambda(lambda a: a.answer)
    assert "sun" in just_text.invoke({"question": "How much sun do tomatoes need?"})


def test_direct_path_matches_the_lcel_pipeline(indexed: Settings) -> None:
    """``aanswer`` (bulk evaluation) and ``ainvoke`` run the same steps."""
    chain = RagChain.from_settings(indexed)
    question = {"question": "How do I roll back a prompt?", "prompt": "rag_answer@v2"}
    piped = asyncio.run(chain.ainvoke(question))
    direct = asyncio.run(chain.aanswer(question))
    same = {"latency_ms", "request_id"}  # each answer is its own request
    assert direct.model_dump(exclude=same) == piped.model_dump(exclude=same)
    with pytest.raises(UserError, match="question"):
        asyncio.run(chain.aanswer({"question": "  "}))


def test_prefetched_queries_retrieve_what_single_queries_do(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)
    questions = ["How do I roll back a prompt?", "How much sun do tomatoes need?"]
    single = [chain.retriever.retrieve(q) for q in questions]
    encoded: list[int] = []
    encode = chain.retriever.embedder.encode

    def counting(texts):  # type: ignore[no-untyped-def]
        encoded.append(len(texts))
        return encode(texts)

    chain.retriever.embedder.encode = counting  # type: ignore[method-assign]
    chain.retriever.prefetch([*questions, questions[0]])
    assert encoded == [2]  # one batch, duplicates once
    batched = [chain.retriever.retrieve(q) for q in questions]
    assert encoded == [2]  # answered from the prefetched vectors
    assert [[h.chunk_id for h in r] for r in batched] == [[h.chunk_id for h in r] for r in single]
    for mine, theirs in zip(batched, single, strict=True):
        assert [h.score for h in mine] == pytest.approx([h.score for h in theirs], abs=1e-5)
    chain.retriever.retrieve("a question nobody prefetched")
    assert encoded == [2, 1]
    # a filter is not what was prefetched: it searches again, with the filter
    filtered = chain.retriever.retrieve(questions[1], where={"doc_id": "rollback.md"})
    assert filtered
    assert {h.doc_id for h in filtered} == {"rollback.md"}


def test_prompt_version_reaches_the_model(indexed: Settings) -> None:
    seen: list[ChatRequest] = []

    def respond(request: ChatRequest) -> str:
        seen.append(request)
        return "Basil grows next to tomatoes. [gardening.txt]"

    chain = RagChain.from_settings(indexed, chat_model=FunctionChatModel(respond))
    answer = chain.invoke({"question": "What grows next to tomatoes?", "prompt": "rag_answer@v2"})
    assert answer.prompt == "rag_answer@v2"
    assert seen[0].prompt == "rag_answer@v2"
    assert seen[0].max_tokens == 90
    # v2 shows at most three sources
    assert seen[0].messages[-1].content.count("<source ") <= 3
    assert answer.citations == ["gardening.txt"]


def test_metered_calls_reach_the_cost_store(indexed: Settings) -> None:
    from ragwright.costs.monitor import monitor_for
    from ragwright.costs.store import CostStore

    chain = RagChain.from_settings(indexed)
    chain.invoke({"question": "How do I roll back a prompt?", "tags": {"app": "test"}})
    monitor_for(indexed).flush()
    store = CostStore(indexed.costs_db)
    by_prompt = {g.key: g for g in store.group("prompt")}
    group = by_prompt["rag_answer@v1"]
    assert group.calls == 1
    by_operation = {g.key: g for g in store.group("operation")}
    assert by_operation["generate"].calls == 1
    assert by_operation["embed"].calls >= 2  # ingestion batches and the query
    assert {g.key for g in store.group("tag")} == {"app=test"}
    assert group.cost_usd == 0.0  # local model: priced at zero, not unknown


def test_bad_input_and_missing_index(indexed: Settings, tmp_path: Path) -> None:
    chain = RagChain.from_settings(indexed)
    with pytest.raises(UserError, match="question"):
        chain.invoke({"query": "wrong key"})
    with pytest.raises(IndexStateError, match="ragwright index run"):
        RagChain.from_settings(Settings(home=tmp_path / "empty-home"))


def test_a_lone_surrogate_is_a_user_error_not_a_crash(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)
    with pytest.raises(UserError, match="lone surrogate"):
        chain.invoke({"question": "why \ud800?"})
