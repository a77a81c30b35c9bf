"""Data of the prompt store: version front matter, the ``prompt.yaml`` manifest, references."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragwright.errors import PromptError

__all__ = [
    "HistoryEntry",
    "Manifest",
    "PromptMeta",
    "PromptRef",
    "VariableSpec",
    "VersionRecord",
    "check_name",
    "check_version",
]

VariableType = Literal["str", "int", "float", "bool", "list", "dict"]
# Check with fullmatch: with match, ``$`` also accepts a trailing newline ("v1\n").
VERSION_PATTERN = re.compile(r"^v[1-9][0-9]*$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


def check_name(name: str) -> str:
    """``name`` if it is a prompt name; the store's folders are named by it, so nothing
    else (``..``, ``/abs``, ``a/b``, ``.hidden``) may reach a path."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise PromptError(
            f"'{name}' is not a prompt name: prompt names are lower-case letters, digits and"
            " underscores, starting with a letter"
        )
    return name


def check_version(name: str, version: str) -> str:
    """``version`` if it is a version id (``v1``, ``v2``, ...); it names a file too."""
    if not isinstance(version, str) or not VERSION_PATTERN.fullmatch(version):
        raise PromptError(f"'{name}@{version}': version must look like v1, v2, ...")
    return version


class VariableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: VariableType = "str"
    required: bool = True
    description: str = ""


class PromptMeta(BaseModel):
    """YAML front matter of one version file."""

    model_config = ConfigDict(extra="forbid")

    description: str
    model: str = Field(description="Intended model, e.g. gpt-4o-mini or local/extractive.")
    owner: str = ""
    variables: dict[str, VariableSpec] = Field(default_factory=dict)
    parameters: dict[str, float | int] = Field(
        default_factory=dict, description="Generation parameters: temperature, max_tokens."
    )
    example: dict[str, Any] = Field(default_factory=dict)


class VersionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hash: str
    published_at: datetime
    eval_run: str | None = None
    includes: dict[str, str] | None = Field(
        None,
        description="Versions this one includes, extends or imports, directly or not"
        " (name@vN -> content hash): they shape its output, so they are frozen with it.",
    )


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: datetime
    by: str
    action: Literal["promote", "rollback", "publish"]
    alias: str | None = None
    from_version: str | None = None
    to_version: str
    evidence: str | None = None
    forced: bool = False
    reason: str | None = None


class Manifest(BaseModel):
    """``prompt.yaml``: which versions are published (with hashes) and where aliases point."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    aliases: dict[str, str] = Field(default_factory=dict)
    versions: dict[str, VersionRecord] = Field(default_factory=dict)
    history: list[HistoryEntry] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PromptRef:
    """``name`` (= ``name:production``), ``name@v3`` or ``name:staging``."""

    name: str
    version: str | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, text: str) -> PromptRef:
        text = text.strip()
        if "@" in text:
            name, version = text.split("@", 1)
            if not VERSION_PATTERN.fullmatch(version):
                raise PromptError(f"'{text}': version must look like v1, v2, ...")
            ref = cls(name=name, version=version)
        elif ":" in text:
            name, alias = text.split(":", 1)
            ref = cls(name=name, alias=alias)
        else:
            ref = cls(name=text, alias="production")
        return ref

    def __post_init__(self) -> None:
        # A reference built directly, not parsed, must not reach a path either.
        if not isinstance(self.name, str) or not NAME_PATTERN.fullmatch(self.name):
            raise PromptError(
                f"'{self.name}': prompt names are lower-case letters, digits and underscores"
            )
        if self.version is not None:
            check_version(self.name, self.version)

    def __str__(self) -> str:
        return f"{self.name}@{self.version}" if self.version else f"{self.name}:{self.alias}"
