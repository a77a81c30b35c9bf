"""``ragwright eval gate --changed``: gate every prompt version a branch changes.

Each answer-prompt version the branch adds, edits or publishes (see
:mod:`ragwright.evals.changes`) is gated against its own prompt's ``production``
alias. One candidate's failure or error never stops the others: every candidate
gets a verdict, and the PR comment (:mod:`ragwright.evals.comment`) is written
before the exit code says 0 (all passed), 1 (a gate failed) or 2 (one could not run).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rich.table import Table

from ragwright.cli.output import console, err_console
from ragwright.evals.changes import ChangedVersion, changed_prompt_versions
from ragwright.evals.comment import CandidateOutcome, Status, exit_code, render_comment
from ragwright.prompts.store import PromptStore
from ragwright.settings import Settings

__all__ = ["default_base", "gate_changed"]


def default_base(project_root: Path) -> str:
    """The PR's base in GitHub Actions (``origin/$GITHUB_BASE_REF``), else ``origin/HEAD``'s
    branch, else ``main``."""
    if ref := os.environ.get("GITHUB_BASE_REF"):
        return f"origin/{ref}"
    done = subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "origin/HEAD"],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=False,
    )
    head = done.stdout.strip()
    return head if done.returncode == 0 and head and head != "origin/HEAD" else "main"


def _run_url() -> str | None:
    """The workflow run's page, when running in GitHub Actions."""
    parts = [os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repository, run_id = parts
    return f"{server}/{repository}/actions/runs/{run_id}"


def gate_changed(
    settings: Settings,
    golden: Path,
    *,
    base: str | None = None,
    comment: Path | None = None,
    mlflow: bool = True,
) -> int:
    """Gate each changed version, write the comment if asked, return the exit code."""
    base = base or default_base(settings.project_root)
    changes = changed_prompt_versions(settings.project_root, base, settings.prompts_dir)
    store = PromptStore(settings.prompts_dir)
    outcomes = [_gate_one(settings, store, golden, change, mlflow=mlflow) for change in changes]
    _print_outcomes(outcomes, base)
    if comment is not None:
        comment.parent.mkdir(parents=True, exist_ok=True)
        comment.write_text(render_comment(outcomes, base=base, run_url=_run_url()), "utf-8")
        console.print(f"comment: {comment}", highlight=False)
    return exit_code(outcomes)


def _gate_one(
    settings: Settings, store: PromptStore, golden: Path, change: ChangedVersion, *, mlflow: bool
) -> CandidateOutcome:
    from ragwright.cli.evaluation import evaluate_prompts, print_runs

    baseline = f"{change.name}:production"

    def outcome(
        status: Status, detail: str, report: str | None = None, local: bool = False
    ) -> CandidateOutcome:
        return CandidateOutcome(change.ref, baseline, change.change, status, detail, report, local)

    if change.name in store.names(layer="built-in"):
        return outcome(
            "skipped",
            "a judge prompt: check it against human labels with `ragwright eval calibrate`",
        )
    if "production" not in store.manifest(change.name).aliases:
        return outcome(
            "skipped",
            f"{change.name} has no production alias to compare with; promote its first"
            ' version with `--force --reason "..."`',
        )
    console.rule(f"gate {change.ref} vs {baseline}")
    try:
        comparison = evaluate_prompts(
            settings, [baseline, change.ref], golden, console, log_mlflow=mlflow
        )
    except Exception as exc:  # every candidate gets a verdict; this one's is "error"
        err_console.print(f"[bold red]error:[/bold red] {change.ref}: {exc}", highlight=False)
        return outcome("error", f"{type(exc).__name__}: {exc}")
    print_runs(console, comparison)
    decision = comparison.gate
    assert decision is not None  # two prompts: always gated
    failed = [r.rule for r in decision.rules if not r.passed]
    markdown = next(p for p in comparison.reports if p.suffix == ".md")
    statuses: dict[str, Status] = {
        "pass": "passed",
        "fail": "failed",
        "not_informative": "not_informative",
    }
    status = statuses[decision.verdict]
    detail = f"failed: {'; '.join(failed)}" if failed else f"{len(decision.rules)} rules passed"
    return outcome(
        status,
        f"{decision.not_informative}; {detail}" if decision.not_informative else detail,
        report=markdown.read_text(encoding="utf-8"),
        local=comparison.runs[-1].chat_model == "local/extractive",
    )


def _print_outcomes(outcomes: list[CandidateOutcome], base: str) -> None:
    if not outcomes:
        console.print(f"no prompt version added, edited or published since {base}: nothing to gate")
        return
    table = Table("candidate", "baseline", "change", "verdict", title=f"prompt gate vs {base}")
    colours = {
        "passed": "green",
        "failed": "red",
        "error": "red",
        "skipped": "dim",
        "not_informative": "yellow",
    }
    for o in outcomes:
        table.add_row(o.candidate, o.baseline, o.change, f"[{colours[o.status]}]{o.status}[/]")
    console.print(table)
    for o in outcomes:
        if o.status != "passed":
            console.print(f"{o.candidate}: {o.detail}", highlight=False, markup=False)
