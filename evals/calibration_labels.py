"""Labelled files for judge calibration: one JSONL row per human-labelled answer.

Field names of both shared sets are accepted (``knowledge|context``,
``response|answer``, ``question|message``, ``hallucinated``); a broken line is
reported with file, line and field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ragwright.errors import InputFileError
from ragwright.jsonl import read_jsonl

if TYPE_CHECKING:
    pass


BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# -- labelled files ---------------------------------------------------------------------------

_CONTEXT_FIELDS = ("knowledge", "context", "contexts")
_ANSWER_FIELDS = ("response", "answer")
_QUESTION_FIELDS = ("question", "message")


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """One human-labelled (context, answer) pair; rows sharing a context share ``group``."""

    line: int
    question: str
    answer: str
    contexts: tuple[str, ...]
    hallucinated: bool
    source: str = ""

    @property
    def group(self) -> str:
        return hashlib.sha256("\n\n".join(self.contexts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Labels:
    path: Path
    sha256: str
    examples: list[LabelledExample]


def _first(
    data: dict[str, Any], names: Sequence[str], path: Path, line: int, *, required: bool
) -> tuple[str, Any]:
    for name in names:
        if name in data:
            return name, data[name]
    if required:
        raise InputFileError(
            f"required field is missing (give one of: {', '.join(names)})",
            path=path,
            line=line,
            field=names[0],
        )
    return names[0], None


def _parse_example(data: dict[str, Any], path: Path, number: int) -> LabelledExample:
    name, value = _first(data, _CONTEXT_FIELDS, path, number, required=True)
    if isinstance(value, str):
        contexts: tuple[str, ...] = (value,)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        contexts = tuple(value)
    else:
        raise InputFileError(
            "must be a string or a list of strings", path=path, line=number, field=name
        )
    if not any(c.strip() for c in contexts):
        raise InputFileError("must not be blank", path=path, line=number, field=name)
    name, answer = _first(data, _ANSWER_FIELDS, path, number, required=True)
    if not isinstance(answer, str):
        raise InputFileError("must be a string", path=path, line=number, field=name)
    name, question = _first(data, _QUESTION_FIELDS, path, number, required=False)
    if question is not None and not isinstance(question, str):
        raise InputFileError("must be a string", path=path, line=number, field=name)
    if "hallucinated" not in data:
        raise InputFileError(
            "required field is missing", path=path, line=number, field="hallucinated"
        )
    label = data["hallucinated"]
    if isinstance(label, bool) or (isinstance(label, int) and label in (0, 1)):
        hallucinated = bool(label)
    else:
        raise InputFileError(
            f"must be 0, 1, true or false (got {label!r})",
            path=path,
            line=number,
            field="hallucinated",
        )
    source = data.get("data_source", "")
    return LabelledExample(
        line=number,
        question=question or "",
        answer=answer,
        contexts=contexts,
        hallucinated=hallucinated,
        source=source if isinstance(source, str) else "",
    )


def load_labels(path: Path, *, limit: int | None = None) -> Labels:
    """Read a hallucination labels JSONL file; raise ``InputFileError`` naming file:line:field.

    The hash covers the whole file even with ``limit``, so a record always names
    the exact file it was measured on.
    """
    source = read_jsonl(path, what="labels")
    examples: list[LabelledExample] = []
    for number, row in source.records():
        if limit is not None and len(examples) >= limit:
            break
        examples.append(_parse_example(row, path, number))
    if not examples:
        raise InputFileError("labels file has no examples", path=path)
    return Labels(path=path, sha256=hashlib.sha256(source.data).hexdigest(), examples=examples)
