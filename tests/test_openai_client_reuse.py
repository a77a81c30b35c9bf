"""Per-call client work: shared async clients per endpoint, and reply parsing without models."""

from __future__ import annotations

import asyncio
import json

import pytest

from ragwright.providers.base import ChatRequest, Message
from ragwright.providers.guard import override_allow_model_requests
from ragwright.providers.openai_compat import OpenAICompatibleChatModel
from ragwright.providers.openai_reply import (
    MalformedReplyError,
    ParsedReply,
    _Completion,
    _Usage,
    parse_chat_reply,
)
from tests.openai_server import (
    OpenAIServer,
    openai_server_fixture,  # noqa: F401 - provides `openai_server`
)


def _model(server: OpenAIServer, name: str = "gpt-4o-mini") -> OpenAICompatibleChatModel:
    return OpenAICompatibleChatModel(name, base_url=server.base_url, timeout_s=5, max_retries=0)


def _request(text: str) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),))


def test_models_on_one_endpoint_share_a_client_per_loop(openai_server: OpenAIServer) -> None:
    """The answer model and the judge share one connection pool; each loop gets its own."""
    answer, judge = _model(openai_server), _model(openai_server, "judge-model")
    other = OpenAICompatibleChatModel(
        "gpt-4o-mini", base_url=openai_server.base_url, timeout_s=9, max_retries=0
    )

    async def clients() -> tuple[object, ...]:
        texts = await asyncio.gather(
            answer.agenerate(_request("a")), judge.agenerate(_request("j"))
        )
        assert [t.text for t in texts] == ["a", "j"]
        shared = (answer._async_client(), judge._async_client(), other._async_client())
        await answer.aclose()  # closes the shared client: the judge opens a new one
        assert (await judge.agenerate(_request("after close"))).text == "after close"
        await judge.aclose()
        await other.aclose()
        return shared

    with override_allow_model_requests(True):
        first = asyncio.run(clients())
        second = asyncio.run(clients())
    assert first[0] is first[1]  # same endpoint settings: one client
    assert first[2] is not first[0]  # another timeout is another client
    assert second[0] is not first[0]  # a new loop, a new client
    assert len(openai_server.requests) == 6


def _reference(body: dict[str, object]) -> ParsedReply:
    """What the pydantic models alone make of a body: the plain path must agree."""
    completion = _Completion.model_validate(body)
    try:
        usage = _Usage.model_validate(completion.usage) if completion.usage is not None else None
    except ValueError:
        usage = None
    return ParsedReply(
        text=completion.choices[0].message.content or "",
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
    )


USUAL = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
BODIES = {
    "usual": {
        "id": "x",
        "choices": [{"message": {"role": "assistant", "content": "hi"}}],
        "usage": USUAL,
    },
    "null content": {"choices": [{"message": {"content": None}}], "usage": USUAL},
    "no content key": {"choices": [{"message": {"role": "assistant"}}]},
    "no usage": {"choices": [{"message": {"content": "hi"}}]},
    "null usage": {"choices": [{"message": {"content": "hi"}}], "usage": None},
    "partial usage": {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 4}},
    "string count": {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": "7"}},
    "float count": {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 7.0}},
    "negative count": {"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": -1}},
    "usage a list": {"choices": [{"message": {"content": "hi"}}], "usage": [1]},
    "two choices": {"choices": [{"message": {"content": "a"}}, {"message": {"content": "b"}}]},
}


@pytest.mark.parametrize("body", BODIES.values(), ids=list(BODIES))
def test_plain_reply_path_agrees_with_the_models(body: dict[str, object]) -> None:
    assert parse_chat_reply(json.dumps(body).encode()) == _reference(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"choices": [{"message": {"content": "a"}}, {"index": 1}]}, "'choices.1.message'"),
        ({"choices": [{"message": {"content": 5}}]}, "'choices.0.message.content'"),
        ({"choices": [{"message": "text"}]}, "'choices.0.message'"),
    ],
)
def test_any_bad_choice_is_still_malformed(body: dict[str, object], reason: str) -> None:
    with pytest.raises(MalformedReplyError, match=reason):
        parse_chat_reply(json.dumps(body).encode())
