"""LLM-as-judge over any chat model, with prompts from the versioned prompt store.

Judge prompts (``judge_hallucination``, ``judge_relevance``, ``judge_correctness``) follow the same
lifecycle as answer prompts, so a judge change is reviewed and gated too. The
model must answer JSON; the reply is parsed into a pydantic model. On a reply
that does not parse, the judge asks once more with the validation error; a
second failure is an explicit ``unparseable`` verdict, counted and shown,
never dropped and never a NaN. With ``samples > 1`` each case is judged n
times (distinct cache keys, so the samples are independent) and the verdicts
are combined: majority label and mean score.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from statistics import fmean, median
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from ragwright.errors import ProviderError
from ragwright.evals.judges.base import (
    CorrectnessVerdict,
    HallucinationVerdict,
    Judge,
    RelevanceVerdict,
)
from ragwright.prompts.render import RenderedPrompt
from ragwright.prompts.store import PromptStore
from ragwright.providers.base import ChatModel, ChatRequest, Message

__all__ = [
    "ClaimJudgment",
    "CorrectnessJudgment",
    "HallucinationJudgment",
    "LLMJudge",
    "RelevanceJudgment",
    "ask_json",
    "parse_json_reply",
]

M = TypeVar("M", bound=BaseModel)
_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


class ClaimJudgment(BaseModel):
    claim: str
    supported: bool


class HallucinationJudgment(BaseModel):
    claims: list[ClaimJudgment] = Field(default_factory=list)
    hallucinated: bool
    score: float = Field(ge=0.0, le=1.0)


class RelevanceJudgment(BaseModel):
    score: int = Field(ge=1, le=5)
    reason: str = ""


class CorrectnessJudgment(BaseModel):
    verdict: Literal["correct", "partially_correct", "incorrect"]
    reason: str = ""

    @property
    def score(self) -> float:
        return {"correct": 1.0, "partially_correct": 0.5, "incorrect": 0.0}[self.verdict]


def parse_json_reply(text: str, schema: type[M]) -> M:
    """Parse the first JSON object in ``text`` (models like to wrap it in code fences)."""
    match = _OBJECT.search(text)
    if match is None:
        raise ValueError("no JSON object in the reply")
    try:
        data: Any = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON: {exc.msg}") from exc
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"JSON does not match the schema: {exc.errors()[0]['msg']}") from exc


async def ask_json(
    model: ChatModel, rendered: RenderedPrompt, schema: type[M], sample: int
) -> M | str:
    """The parsed judgment, or the raw reply when it stayed unparseable after one repair.

    Shared by the built-in LLM judges and ``llm_judge`` rubric metrics, so both get
    the same repair retry, cache keys (per sample) and ``unparseable`` outcome.
    """
    params = rendered.parameters
    messages = rendered.messages
    reply = ""
    for attempt in range(2):
        request = ChatRequest(
            messages=messages,
            json_output=True,
            operation="judge",
            prompt=rendered.ref,
            temperature=float(params.get("temperature", 0)) if sample == 0 else 0.7,
            max_tokens=int(params["max_tokens"]) if "max_tokens" in params else None,
            sample=sample,
        )
        reply = (await model.agenerate(request)).text
        try:
            return parse_json_reply(reply, schema)
        except ValueError as exc:
            if attempt == 1:
                break
            messages = (
                *messages,
                Message("assistant", reply),
                Message(
                    "user",
                    f"That reply was not usable ({exc}). Reply again with only the"
                    " JSON object in the requested shape.",
                ),
            )
    return reply


class LLMJudge(Judge):
    is_local = False

    def __init__(
        self,
        model: ChatModel,
        store: PromptStore,
        *,
        hallucination_prompt: str = "judge_hallucination",
        relevance_prompt: str = "judge_relevance",
        correctness_prompt: str = "judge_correctness",
        samples: int = 1,
    ) -> None:
        self.model = model
        self.store = store
        self.name = model.name
        self.samples = samples
        self.hallucination_prompt = store.get(hallucination_prompt).ref
        self.relevance_prompt = store.get(relevance_prompt).ref
        self.correctness_prompt = store.get(correctness_prompt).ref

    @property
    def prompt_refs(self) -> list[str]:
        """The exact judge prompt versions (with hashes), for run lineage."""
        return [
            f"{ref} {self.store.get(ref).hash}"
            for ref in (self.hallucination_prompt, self.relevance_prompt, self.correctness_prompt)
        ]

    async def aclose(self) -> None:
        await self.model.aclose()

    async def _ask(self, rendered: RenderedPrompt, schema: type[M], sample: int) -> M | str:
        return await ask_json(self.model, rendered, schema, sample)

    async def _samples(self, rendered: RenderedPrompt, schema: type[M]) -> list[M | str]:
        return list(
            await asyncio.gather(*(self._ask(rendered, schema, i) for i in range(self.samples)))
        )

    async def hallucination(
        self, question: str, answer: str, contexts: Sequence[str]
    ) -> HallucinationVerdict:
        rendered = self.store.render(
            self.hallucination_prompt,
            {"question": question, "answer": answer, "contexts": list(contexts)},
        )
        try:
            results = await self._samples(rendered, HallucinationJudgment)
        except ProviderError as exc:
            return HallucinationVerdict(None, None, outcome="error", detail=str(exc)[:300])
        parsed = [r for r in results if isinstance(r, HallucinationJudgment)]
        if not parsed:
            raw = next(r for r in results if isinstance(r, str))
            return HallucinationVerdict(None, None, outcome="unparseable", detail=raw[:300])
        votes = sum(1 for p in parsed if p.hallucinated)
        unsupported = [c.claim for c in parsed[0].claims if not c.supported]
        return HallucinationVerdict(
            hallucinated=votes * 2 > len(parsed),
            score=round(fmean(p.score for p in parsed), 4),
            unsupported_claims=unsupported,
            detail=f"{votes}/{len(parsed)} samples hallucinated"
            + (f"; {len(results) - len(parsed)} unparseable" if len(parsed) < len(results) else ""),
        )

    async def relevance(self, question: str, answer: str) -> RelevanceVerdict:
        rendered = self.store.render(
            self.relevance_prompt, {"question": question, "answer": answer}
        )
        try:
            results = await self._samples(rendered, RelevanceJudgment)
        except ProviderError as exc:
            return RelevanceVerdict(None, str(exc)[:300], outcome="error")
        parsed = [r for r in results if isinstance(r, RelevanceJudgment)]
        if not parsed:
            raw = next(r for r in results if isinstance(r, str))
            return RelevanceVerdict(None, raw[:300], outcome="unparseable")
        return RelevanceVerdict(round(median(p.score for p in parsed)), parsed[0].reason)

    async def correctness(self, question: str, answer: str, reference: str) -> CorrectnessVerdict:
        rendered = self.store.render(
            self.correctness_prompt,
            {"question": question, "answer": answer, "reference": reference},
        )
        try:
            results = await self._samples(rendered, CorrectnessJudgment)
        except ProviderError as exc:
            return CorrectnessVerdict(None, str(exc)[:300], outcome="error")
        parsed = [r for r in results if isinstance(r, CorrectnessJudgment)]
        if not parsed:
            raw = next(r for r in results if isinstance(r, str))
            return CorrectnessVerdict(None, raw[:300], outcome="unparseable")
        return CorrectnessVerdict(round(fmean(p.score for p in parsed), 4), parsed[0].reason)
