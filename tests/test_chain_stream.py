"""Streamed answers (tokens, then a final event with TTFT) and multi-turn conversations."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from ragwright.costs.monitor import monitor_for
from ragwright.errors import UserError
from ragwright.flows.ingest import ingest
from ragwright.providers.base import ChatRequest
from ragwright.providers.function import FunctionChatModel
from ragwright.providers.guard import override_allow_model_requests
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.rag import RagChain
from ragwright.rag.chain import StreamEvent
from ragwright.rag.guard import Guarded, GuardedContexts, GuardFinding
from ragwright.settings import Settings
from tests.conftest import cost_rows, write_docs
from tests.openai_server import (
    CHAT_PATH,
    OpenAIServer,
    openai_server_fixture,  # noqa: F401 - provides `openai_server`
)

CONVERSATION_DOCS = {
    "reindex.md": """
        # Rebuilding the search index

        The ragwright index run command rebuilds the search index from the docs folder.
        Rebuilding the search index takes about ten minutes for a thousand documents.
        """,
    "waiting.md": """
        # Waiting times

        How long does that take? That depends: most requests take a few seconds.
        """,
    "chroma.md": """
        # Chroma modes

        Setting RAGWRIGHT_CHROMA_URL switches ragwright from the embedded Chroma database
        to a Chroma server. Without it, Chroma runs embedded under the .ragwright folder.
        """,
}
HISTORY = [
    {"role": "user", "content": "How do I rebuild the search index?"},
    {
        "role": "assistant",
        "content": "The ragwright index run command rebuilds the search index. [reindex.md]",
    },
]
FOLLOW_UP = "and how long does that take?"


@pytest.fixture
def indexed(tmp_path: Path) -> Settings:
    settings = Settings(
        docs_dir=write_docs(tmp_path / "docs", CONVERSATION_DOCS), chunk_tokens=64, chunk_overlap=8
    )
    ingest(settings)
    return settings


def _events(chain: RagChain, payload: dict[str, object]) -> list[StreamEvent]:
    return list(chain.stream(payload))


def test_extractive_stream_yields_sentences_then_the_final_answer(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)
    question = {"question": "How long does rebuilding the search index take?"}
    events = _events(chain, question)
    tokens = [e.text for e in events if e.type == "token"]
    final = events[-1]
    assert [e.type for e in events[:-1]] == ["token"] * len(tokens)
    assert tokens
    assert final.type == "final"
    assert final.answer is not None
    assert "".join(tokens) == final.answer.answer
    assert final.answer.citations == ["reindex.md"]
    assert final.answer.ttft_ms is not None
    assert 0 < final.answer.ttft_ms <= final.answer.latency_ms
    assert final.answer.answer == chain.invoke(question).answer  # same answer as invoke

    async def collect() -> list[StreamEvent]:
        return [e async for e in chain.astream(question)]

    assert [e.model_dump() for e in asyncio.run(collect())][:-1] == [
        e.model_dump() for e in events[:-1]
    ]
    monitor_for(indexed).flush()
    streamed = [r for r in cost_rows(indexed.costs_db) if r["operation"] == "generate"]
    assert streamed[-1]["ttft_ms"] is not None
    assert streamed[-1]["ttft_ms"] > 0


def test_openai_stream_reaches_the_chain_with_usage_and_ttft(
    indexed: Settings, openai_server: OpenAIServer
) -> None:
    openai_server.stream_delay_s = 0.02
    openai_server.enqueue("Rebuilding takes about ten minutes [reindex.md]")
    model = OpenAICompatibleChatModel("gpt-4o-mini", base_url=openai_server.base_url)
    chain = RagChain.from_settings(indexed, chat_model=model)
    with override_allow_model_requests(True):
        events = _events(chain, {"question": "How long does rebuilding the index take?"})
    tokens = [e.text for e in events if e.type == "token"]
    assert tokens == ["Rebuilding", " takes", " about", " ten", " minutes", " [reindex.md]"]
    answer = events[-1].answer
    assert answer is not None
    assert answer.citations == ["reindex.md"]
    assert answer.usage.prompt_tokens == 11
    assert not answer.usage.estimated
    body = next(r.body for r in openai_server.requests if r.path == CHAT_PATH)
    assert body is not None
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    monitor_for(indexed).flush()
    (row,) = [r for r in cost_rows(indexed.costs_db) if r["model"] == "gpt-4o-mini"]
    # chunks are 20 ms apart: the first token arrives well before the last
    assert 0 < row["ttft_ms"] < row["latency_ms"] - 60
    assert row["prompt_tokens"] == 11
    assert row["cost_usd"] > 0


def test_a_composed_chain_still_streams_answers_to_the_next_step(indexed: Settings) -> None:
    answer_only = RagChain.from_settings(indexed) | RunnableLambda(lambda r: r.citations)
    question = {"question": "How long does rebuilding the search index take?"}
    assert list(answer_only.stream(question)) == [["reindex.md"]]

    async def collect() -> list[object]:
        return [chunk async for chunk in answer_only.astream(question)]

    assert asyncio.run(collect()) == [["reindex.md"]]


class PassContexts:
    """Guard fakes keep every retrieved chunk (the ``Guard`` protocol's context check)."""

    def check_contexts(
        self, question: str, contexts: Sequence[str], metadata: Sequence[Mapping[str, Any]] = ()
    ) -> GuardedContexts:
        return GuardedContexts(keep=list(range(len(contexts))))


class _BlockEverything(PassContexts):
    def check_input(self, question: str) -> Guarded:
        return Guarded(text=question)

    def check_output(self, question: str, answer: str, contexts: Sequence[str]) -> Guarded:
        finding = GuardFinding(check="pii_output", action="block", message="withheld")
        return Guarded(text="[withheld]", findings=[finding])


def test_a_blocked_stream_ends_with_the_block_event(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed, guard=_BlockEverything())
    events = _events(chain, {"question": "How long does rebuilding the search index take?"})
    assert events[-1].type == "block"
    assert events[-1].answer is not None
    assert events[-1].answer.blocked_by == "pii_output"
    assert events[-1].answer.citations == []
    assert all(e.type == "token" for e in events[:-1])


def test_a_follow_up_retrieves_from_the_conversations_document(indexed: Settings) -> None:
    chain = RagChain.from_settings(indexed)
    alone = chain.invoke({"question": FOLLOW_UP})
    followed = chain.invoke({"question": FOLLOW_UP, "history": HISTORY})
    assert followed.standalone_question == f"How do I rebuild the search index? {FOLLOW_UP}"
    assert followed.contexts[0].source == "reindex.md"
    assert "ten minutes" in followed.answer
    assert followed.citations == ["reindex.md"]
    assert followed.question == FOLLOW_UP
    assert alone.contexts[0].source != "reindex.md"  # without the history it misses


def test_a_chat_model_condenses_through_the_versioned_prompt(indexed: Settings) -> None:
    def respond(request: ChatRequest) -> str:
        if request.operation == "condense":
            return "How long does rebuilding the search index take?\n"
        return "About ten minutes [reindex.md]"

    model = FunctionChatModel(respond)
    chain = RagChain.from_settings(indexed, chat_model=model)
    answer = chain.invoke({"question": FOLLOW_UP, "history": HISTORY, "tags": {"team": "a"}})
    condense, generate = model.calls
    assert condense.prompt == "condense_question@v1"
    assert condense.operation == "condense"
    assert condense.tags == (("team", "a"),)
    assert "user: How do I rebuild the search index?" in condense.messages[-1].content
    assert FOLLOW_UP in condense.messages[-1].content
    assert answer.standalone_question == "How long does rebuilding the search index take?"
    assert answer.contexts[0].source == "reindex.md"
    assert "How long does rebuilding" in generate.messages[-1].content


@pytest.mark.parametrize(
    ("history", "message"),
    [
        ("not a list", "'history' must be a list"),
        ([{"role": "system", "content": "x"}], "history[0].role must be 'user' or 'assistant'"),
        ([{"role": "user"}], "history[0] must have exactly the keys"),
        ([{"role": "user", "content": 3}], "history[0].content must be a string"),
    ],
)
def test_a_misshapen_history_is_a_user_error(
    indexed: Settings, history: object, message: str
) -> None:
    chain = RagChain.from_settings(indexed)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")):
        chain.invoke({"question": "hi", "history": history})


def test_openai_stream_retries_a_429_and_estimates_missing_usage() -> None:
    from ragwright.providers.base import ChatResponse, Message
    from tests.openai_server import Error

    with OpenAIServer(default_usage=None) as server, override_allow_model_requests(True):
        server.enqueue(Error(429, headers={"retry-after-ms": "5"}), "one two three")
        model = OpenAICompatibleChatModel("gpt-4o-mini", base_url=server.base_url)
        request = ChatRequest(messages=(Message("user", "count to three"),))
        items = list(model.stream(request))
    *pieces, response = items
    assert pieces == ["one", " two", " three"]
    assert isinstance(response, ChatResponse)
    assert response.text == "one two three"
    assert response.usage.estimated  # the server sent no usage chunk
    assert response.ttft_ms is not None
    assert response.ttft_ms <= response.latency_ms
    assert len([r for r in server.requests if r.path == CHAT_PATH]) == 2
