"""The demo project: a scaffolded project plus a candidate prompt to gate.

``ragwright demo`` needs no checkout: it makes a project from the starter corpus
shipped as package data (``ragwright init``'s own), then adds the demo's candidate,
``rag_answer@v2``, published and pointed at by the ``staging`` alias, so the loop
has a production version and a candidate to compare.
"""

from __future__ import annotations

from pathlib import Path

from ragwright.scaffold.init import ANSWER_PROMPT, TEMPLATE, InitResult, init_project

__all__ = ["CANDIDATE_ALIAS", "create_demo_project"]

CANDIDATE_ALIAS = "staging"


def create_demo_project(directory: Path) -> InitResult:
    """Scaffold ``directory`` like ``ragwright init`` and add the staged candidate v2."""
    from ragwright.prompts.lifecycle import Lifecycle, current_actor
    from ragwright.prompts.store import PromptStore

    result = init_project(directory)
    prompts = result.root / "prompts"
    candidate = prompts / ANSWER_PROMPT / "v2.jinja2"
    candidate.write_bytes((TEMPLATE / "demo" / f"{ANSWER_PROMPT}_v2.jinja2").read_bytes())
    lifecycle = Lifecycle(PromptStore(prompts))
    by = current_actor()
    lifecycle.publish(ANSWER_PROMPT, "v2", by=by)
    lifecycle.promote(
        ANSWER_PROMPT,
        "v2",
        alias=CANDIDATE_ALIAS,
        force=True,
        reason="ragwright demo: the candidate the demo gates against production",
        find_evidence=lambda *_: None,
        by=by,
    )
    return InitResult(
        root=result.root,
        created=(*result.created, candidate),
        overwritten=result.overwritten,
        skipped=result.skipped,
        notes=result.notes,
    )
