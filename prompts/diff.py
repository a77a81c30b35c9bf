"""What changed between two versions of a prompt: text, variables, metadata."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ragwright.prompts.store import PromptStore

__all__ = ["VersionDiff", "diff_versions"]


@dataclass(frozen=True, slots=True)
class VersionDiff:
    text: str
    added_variables: list[str]
    removed_variables: list[str]
    changed_variables: list[str]
    changed_metadata: list[str]


def diff_versions(store: PromptStore, name: str, a: str, b: str) -> VersionDiff:
    # inspection: an edited published version is exactly what one may want to diff
    left, right = store.get(f"{name}@{a}", verify=False), store.get(f"{name}@{b}", verify=False)
    text = "".join(
        difflib.unified_diff(
            left.file.path.read_text(encoding="utf-8").splitlines(keepends=True),
            right.file.path.read_text(encoding="utf-8").splitlines(keepends=True),
            fromfile=f"{name}@{a}",
            tofile=f"{name}@{b}",
        )
    )
    lv, rv = left.file.meta.variables, right.file.meta.variables
    meta_fields = ("description", "model", "owner", "parameters")
    return VersionDiff(
        text=text,
        added_variables=sorted(set(rv) - set(lv)),
        removed_variables=sorted(set(lv) - set(rv)),
        changed_variables=sorted(v for v in set(lv) & set(rv) if lv[v] != rv[v]),
        changed_metadata=[
            f for f in meta_fields if getattr(left.file.meta, f) != getattr(right.file.meta, f)
        ],
    )
