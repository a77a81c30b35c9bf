"""Read a chat completion body ourselves, so that no malformed reply escapes as a crash.

The openai SDK parses leniently: a body without ``choices`` becomes an empty
answer, an HTML page behind a 200 becomes a ``str`` (``AttributeError`` later)
and a truncated body raises ``JSONDecodeError`` from deep inside the SDK. Taking
the raw body and validating the few fields ragwright uses turns every one of
those into one :class:`MalformedReplyError` with a reason that says what was wrong.

:func:`excerpt` makes the start of a body safe to print: whitespace collapsed,
control characters replaced, bearer tokens, ``sk-`` keys and the caller's own
secrets masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["MalformedReplyError", "ParsedReply", "excerpt", "parse_chat_reply"]

_KEYLIKE = re.compile(
    r"(?i)(bearer\s+|basic\s+|api[-_]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;<>]+"
    r"|\bsk-[A-Za-z0-9_\-]{6,}"
)
_SPACE = re.compile(r"\s+")
_MASK = "***"


class MalformedReplyError(ValueError):
    """The body is not a chat completion; ``str()`` is the reason, for the error message."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    content: str | None = None


class _Choice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: _Message


class _Usage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)


class _Completion(BaseModel):
    model_config = ConfigDict(extra="ignore")

    choices: list[_Choice] = Field(min_length=1)
    usage: object = None  # validated apart: unusable usage is estimated, not fatal


@dataclass(frozen=True, slots=True)
class ParsedReply:
    text: str
    prompt_tokens: int | None  # None: the server reported no usage
    completion_tokens: int | None


def parse_chat_reply(body: bytes) -> ParsedReply:
    """The first choice's text and the reported usage; :class:`MalformedReplyError` otherwise."""
    try:
        data = json.loads(body)
    except UnicodeDecodeError as exc:
        raise MalformedReplyError("the body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        what = "empty body" if not body.strip() else f"not JSON ({exc.msg} at char {exc.pos})"
        raise MalformedReplyError(what) from exc
    if not isinstance(data, dict):
        raise MalformedReplyError(f"JSON {type(data).__name__}, not an object")
    if (plain := _plain_reply(data)) is not None:
        return plain
    try:
        completion = _Completion.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise MalformedReplyError(
            f"no usable completion: '{where}' {first['msg'].lower()}"
        ) from exc
    try:
        usage = _Usage.model_validate(completion.usage) if completion.usage is not None else None
    except ValidationError:
        usage = None  # the answer is fine; its tokens get counted and marked estimated
    return ParsedReply(
        text=completion.choices[0].message.content or "",
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
    )


def _plain_reply(data: dict[str, Any]) -> ParsedReply | None:
    """The usual well-formed body, read without building pydantic models (every call).

    It accepts only what the models below accept unchanged (exact JSON types, no
    coercion), so the result is the same; anything else, malformed or merely
    unusual (a string token count, a negative one), goes to the models, which
    coerce what they can and word the error when they cannot.
    """
    choices = data.get("choices")
    if type(choices) is not list or not choices:
        return None
    for choice in choices:
        message = choice.get("message") if type(choice) is dict else None
        if type(message) is not dict:
            return None
        content = message.get("content")
        if content is not None and type(content) is not str:
            return None
    usage = data.get("usage")
    prompt_tokens = completion_tokens = None
    if usage is not None:
        if type(usage) is not dict:
            return None
        prompt_tokens, completion_tokens = (
            usage.get("prompt_tokens"),
            usage.get("completion_tokens"),
        )
        for count in (prompt_tokens, completion_tokens):
            if count is not None and (type(count) is not int or count < 0):
                return None
    return ParsedReply(
        text=choices[0]["message"].get("content") or "",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def excerpt(body: bytes | str, *, secrets: Iterable[str] = (), limit: int = 120) -> str:
    """The start of ``body`` on one line, with key-like strings and ``secrets`` masked."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = _SPACE.sub(" ", text[: limit * 4]).strip()
    text = "".join(c if c.isprintable() else "?" for c in text)  # no terminal escapes
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    text = _KEYLIKE.sub(lambda m: (m.group(1) or "") + _MASK, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
