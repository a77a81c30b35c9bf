"""Import layers: kernel <- prompts <- rag <- evals | guardrails <- flows <- cli.

A module may import its own layer and the layers below it, never one above,
and evals and guardrails never import each other. Checked over the source with
``ast`` (imports inside functions and ``TYPE_CHECKING`` blocks included: a lazy
import is still a dependency). Part of ``make lint``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

LAYER = {"kernel": 0, "prompts": 1, "rag": 2, "evals": 3, "guardrails": 3, "flows": 4, "cli": 5}
PACKAGES = ("prompts", "rag", "evals", "guardrails", "flows")  # top-level, linked in ragwright/
APPLICATION = ("cli", "scaffold")  # ragwright/scaffold writes new projects for `ragwright init`
# ragwright/traces records what the chain answers (the chain calls it): it sits beside rag.
# Scoring traces and exporting them as golden cases is evaluation: evals/online.py, trace_export.py
BESIDE_RAG = ("traces",)


def layer_of_module(name: str) -> str | None:
    """The layer of a ``ragwright.*`` module name; None for anything else."""
    parts = name.split(".")
    if parts[0] != "ragwright":
        return None
    if len(parts) > 1 and parts[1] in APPLICATION:
        return "cli"
    if len(parts) > 1 and parts[1] in BESIDE_RAG:
        return "rag"
    if len(parts) > 1 and parts[1] in LAYER and parts[1] != "kernel":
        return parts[1]
    return "kernel"


def layer_of_file(path: Path) -> str:
    relative = path.relative_to(REPO).parts
    if relative[0] in PACKAGES:
        return relative[0]
    if relative[0] == "ragwright" and len(relative) > 2 and relative[1] in APPLICATION:
        return "cli"
    if relative[0] == "ragwright" and len(relative) > 2 and relative[1] in BESIDE_RAG:
        return "rag"
    return "kernel"


def source_files() -> list[Path]:
    files = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")]
    files += [
        p
        for p in (REPO / "ragwright").rglob("*.py")
        if not any((REPO / "ragwright" / package) in p.parents for package in PACKAGES)
    ]
    return sorted(files)


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def violations() -> list[str]:
    problems = []
    for path in source_files():
        own = layer_of_file(path)
        for line, module in imported(ast.parse(path.read_text("utf-8"))):
            target = layer_of_module(module)
            if target is None or target == own:
                continue
            upward = LAYER[target] > LAYER[own]
            sideways = LAYER[target] == LAYER[own]  # evals <-> guardrails
            if upward or sideways:
                problems.append(f"{path.relative_to(REPO)}:{line}: {own} imports {module}")
    return problems


def test_no_import_goes_up_or_sideways() -> None:
    assert violations() == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The checker is not vacuous: a sideways import in guardrails is found."""
    tree = ast.parse("def f():\n    from ragwright.evals.judges.local import LocalJudge\n")
    [(line, module)] = imported(tree)
    assert (line, layer_of_module(module)) == (2, "evals")
    assert layer_of_file(REPO / "guardrails" / "pipeline.py") == "guardrails"
    assert LAYER["evals"] == LAYER["guardrails"]
    assert len(source_files()) > 50
