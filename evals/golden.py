"""Golden sets: JSONL files of evaluation cases, validated line by line.

A broken line stops the load with an error naming the file, the line and the
field; nothing is evaluated from a half-valid set. The set's content hash is
recorded with every run, so a result always says exactly which cases it saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ragwright.errors import GoldenSetError
from ragwright.jsonl import read_jsonl

__all__ = ["GoldenCase", "GoldenSet", "Turn", "load_golden_set"]

UNANSWERABLE_TAG = "unanswerable"


class Turn(BaseModel):
    """One earlier turn of a conversation, before the case's final ``question``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str


class GoldenCase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    reference_answer: str | None = None
    expected_sources: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    history: list[Turn] = Field(default_factory=list)  # the chain gets it as input "history"

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @property
    def answerable(self) -> bool:
        return UNANSWERABLE_TAG not in self.tags


@dataclass(frozen=True, slots=True)
class GoldenSet:
    path: Path
    cases: tuple[GoldenCase, ...]
    hash: str

    @property
    def name(self) -> str:
        return self.path.stem


def load_golden_set(path: Path) -> GoldenSet:
    source = read_jsonl(path, what="golden set", error=GoldenSetError)
    cases: list[GoldenCase] = []
    seen: dict[str, int] = {}
    for number, data in source.records(GoldenSetError):
        try:
            case = GoldenCase.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or None
            message = "required field is missing" if err["type"] == "missing" else err["msg"]
            raise GoldenSetError(message, path=path, line=number, field=field) from exc
        if case.id in seen:
            raise GoldenSetError(
                f"duplicate case id (first on line {seen[case.id]})",
                path=path,
                line=number,
                field="id",
            )
        seen[case.id] = number
        cases.append(case)
    if not cases:
        raise GoldenSetError("golden set has no cases", path=path)
    return GoldenSet(
        path=path, cases=tuple(cases), hash="sha256:" + hashlib.sha256(source.data).hexdigest()
    )
