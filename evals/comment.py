"""The pull-request comment of a prompt gate: the verdict first, one table, one report each.

``ragwright eval gate --changed --comment FILE`` writes this markdown; the GitHub
Action posts it as one comment, found again by :data:`MARKER` and edited on every
push, so a PR never collects a pile of stale verdicts. Everything a reviewer
needs is here, including what the verdict could not see: answers from the
built-in extractive model ignore the prompt's instructions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMMENT_LIMIT",
    "MARKER",
    "CandidateOutcome",
    "Status",
    "exit_code",
    "render_comment",
]

MARKER = "<!-- ragwright-prompt-gate -->"
COMMENT_LIMIT = 60_000
"""Characters; GitHub refuses comments over 65,536, so reports are cut to fit."""

Status = Literal["passed", "failed", "not_informative", "error", "skipped"]
_BADGE: dict[Status, str] = {
    "not_informative": "🔍 not informative",
    "passed": "✅ passed",
    "failed": "❌ failed",
    "error": "⚠️ error",
    "skipped": "➖ skipped",
}
_LOCAL_ANSWERER_NOTE = (
    "> **What this verdict cannot see:** answers came from the built-in `local/extractive`"
    " model, which reads only the question and the retrieved sources in the rendered prompt,"
    " never its instructions. The gate saw changes to which sources a version shows and to"
    " its parameters, not to its wording. Set `chat_model` (and `openai_base_url`) to a real"
    " model for a verdict on wording."
)


@dataclass(frozen=True, slots=True)
class CandidateOutcome:
    """One changed prompt version and what its gate said."""

    candidate: str  # name@version
    baseline: str  # name:production
    change: str  # added, modified or published (see evals.changes)
    status: Status
    detail: str  # failed rules, the error, or why it was skipped
    report: str | None = None  # the markdown report of the gate run
    local_answerer: bool = False  # answered by local/extractive, which ignores wording


def exit_code(outcomes: Sequence[CandidateOutcome]) -> int:
    """2 if any candidate could not be gated, else 1 if any failed, else 3 if any gate
    could not see its change (not informative), else 0."""
    statuses = {o.status for o in outcomes}
    if "error" in statuses:
        return 2
    if "failed" in statuses:
        return 1
    return 3 if "not_informative" in statuses else 0


def _headline(outcomes: Sequence[CandidateOutcome]) -> str:
    gated = [o for o in outcomes if o.status != "skipped"]
    failed = sum(o.status == "failed" for o in outcomes)
    errors = sum(o.status == "error" for o in outcomes)
    if not gated:
        return "✅ nothing to gate: this branch adds, edits or publishes no answer-prompt version"
    blind = sum(o.status == "not_informative" for o in outcomes)
    # first, before any pass: a pass next to it would be read as covering this change too
    unseen = (
        f"🔍 not informative for {blind} of {len(gated)} candidate(s):"
        " the gate could not see the change"
    )
    if errors:
        head = f"⚠️ {errors} of {len(gated)} candidate(s) could not be gated"
    elif failed:
        head = f"❌ {failed} of {len(gated)} candidate(s) failed the gate"
    elif blind:
        return unseen
    else:
        return f"✅ {len(gated)} candidate(s) passed the gate"
    return f"{head}; {unseen}" if blind else head


def render_comment(
    outcomes: Sequence[CandidateOutcome],
    *,
    base: str,
    run_url: str | None = None,
    limit: int = COMMENT_LIMIT,
) -> str:
    """The comment's markdown, at most ``limit`` characters.

    When the reports do not all fit, the last ones are replaced by a pointer to the
    job's artefacts; the verdict and the table are always complete.
    """
    lines = [MARKER, f"## ragwright prompt gate: {_headline(outcomes)}", ""]
    lines.append(
        f"Prompt versions this branch adds, edits or publishes (since its merge-base with"
        f" `{base}`), each gated against its prompt's `production` alias on the same"
        " golden-set cases (paired bootstrap)."
    )
    if outcomes:
        lines += [
            "",
            "| candidate | baseline | change | verdict | detail |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{o.candidate}` | `{o.baseline}` | {o.change} | {_BADGE[o.status]} |"
            f" {_cell(o.detail)} |"
            for o in outcomes
        ]
    if any(
        o.local_answerer for o in outcomes if o.status in ("passed", "failed", "not_informative")
    ):
        lines += ["", _LOCAL_ANSWERER_NOTE]
    footer = f"\n<sub>[workflow run]({run_url})</sub>\n" if run_url else "\n"
    text = "\n".join(lines) + "\n"
    cut = "\n_report cut to fit a GitHub comment: see the job summary and artefacts._\n"
    for outcome in outcomes:
        if outcome.report is None:
            continue
        block = (
            f"\n<details><summary><code>{outcome.candidate}</code>:"
            f" {_BADGE[outcome.status]}</summary>\n\n{outcome.report.strip()}\n\n</details>\n"
        )
        if len(text) + len(block) + len(footer) + len(cut) > limit:
            text += cut
            break
        text += block
    return text + footer


def _cell(text: str) -> str:
    """Table-safe: one line, no pipe that would split the cell."""
    return " ".join(text.split()).replace("|", "\\|") or "-"
