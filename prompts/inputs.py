"""Inputs of a render, checked against the variables a version's front matter declares.

A strict pydantic model per signature: a missing, unknown or mistyped variable is
an error naming prompt, version and variable, never an empty string in a prompt.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ragwright.errors import RenderError
from ragwright.prompts.model import VariableSpec

__all__ = ["validate_inputs"]

_PY_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
}


@functools.lru_cache(maxsize=512)
def _inputs_model(title: str, signature: tuple[tuple[str, str, bool], ...]) -> type[BaseModel]:
    """The strict pydantic model of a version's variables (built once: create_model is slow)."""
    fields: dict[str, Any] = {
        var: (_PY_TYPES[kind], ...) if required else (_PY_TYPES[kind] | None, None)
        for var, kind, required in signature
    }
    model: type[BaseModel] = create_model(
        title, __config__=ConfigDict(extra="forbid", strict=True), **fields
    )
    return model


def validate_inputs(
    name: str, version_id: str, variables: Mapping[str, VariableSpec], inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """Check inputs against declared variables; the error names the variable."""
    signature = tuple((var, spec.type, spec.required) for var, spec in variables.items())
    model = _inputs_model(f"Inputs_{name}_{version_id}", signature)
    try:
        validated = model.model_validate(dict(inputs))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            variable = ".".join(str(p) for p in err["loc"]) or "?"
            if err["type"] == "missing":
                problems.append(f"missing required variable '{variable}'")
            elif err["type"] == "extra_forbidden":
                problems.append(f"unknown variable '{variable}' (not declared in front matter)")
            else:
                declared = variables.get(str(err["loc"][0]))
                kind = declared.type if declared else "?"
                problems.append(f"variable '{variable}' must be {kind}: {err['msg']}")
        raise RenderError(f"prompt {name}@{version_id}: " + "; ".join(problems)) from exc
    return dict(validated.model_dump())  # optional variables not given are None, never undefined
