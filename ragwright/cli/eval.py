"""``ragwright eval ...``: evaluate prompt versions and gate candidates."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ragwright.cli.output import console

app = typer.Typer(
    help="Evaluate prompt versions on golden sets and gate candidates.", no_args_is_help=True
)

GoldenOption = Annotated[
    Path | None, typer.Option(help="Golden set JSONL file (default: settings.golden_set).")
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the summary as JSON on stdout (keys: docs/cli-eval.md)."),
]


@app.command("run")
def run(
    prompt: Annotated[str, typer.Option(help="Prompt reference, e.g. rag_answer@v2.")] = (
        "rag_answer:production"
    ),
    golden_set: GoldenOption = None,
    mlflow: Annotated[bool, typer.Option(help="Log the run to MLflow.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Evaluate one prompt version; writes reports and logs to MLflow."""
    from ragwright.cli.eval_output import print_json
    from ragwright.cli.evaluation import evaluate_prompts, print_runs
    from ragwright.cli.output import err_console
    from ragwright.settings import load_settings

    settings = load_settings()
    comparison = evaluate_prompts(
        settings,
        [prompt],
        golden_set or settings.golden_set,
        err_console if as_json else console,  # stdout carries only the JSON
        gate=False,
        log_mlflow=mlflow,
    )
    if as_json:
        print_json(comparison)
        return
    print_runs(console, comparison)
    for path in comparison.reports:
        console.print(f"report: {path}")


@app.command("gate")
def gate(
    candidate: Annotated[
        str | None, typer.Option(help="Candidate prompt, e.g. rag_answer@v3.")
    ] = None,
    baseline: Annotated[
        str | None, typer.Option(help="Baseline prompt (default: the candidate's NAME:production).")
    ] = None,
    changed: Annotated[
        bool,
        typer.Option(
            "--changed", help="Gate every prompt version this branch adds, edits or publishes."
        ),
    ] = False,
    base: Annotated[
        str | None,
        typer.Option(help="With --changed: base revision (default: the PR's base, origin/HEAD)."),
    ] = None,
    comment: Annotated[
        Path | None, typer.Option(help="With --changed: write the PR comment markdown here.")
    ] = None,
    golden_set: GoldenOption = None,
    mlflow: Annotated[bool, typer.Option(help="Log the runs to MLflow.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Gate a candidate, or every changed version, vs production.

    Exit 0 pass, 1 fail, 2 error, 3 not informative (the gate could not see the change).
    """
    from ragwright.settings import load_settings

    if changed == (candidate is not None):
        raise typer.BadParameter("give either --candidate REF or --changed", param_hint="--changed")
    if not changed and (base is not None or comment is not None):
        raise typer.BadParameter("--base and --comment go with --changed", param_hint="--base")
    if changed and as_json:
        raise typer.BadParameter("--json goes with --candidate", param_hint="--json")
    settings = load_settings()
    golden = golden_set or settings.golden_set
    if changed:
        from ragwright.cli.gate_changed import gate_changed

        raise typer.Exit(gate_changed(settings, golden, base=base, comment=comment, mlflow=mlflow))
    from ragwright.cli.eval_output import exit_status, print_json
    from ragwright.cli.evaluation import evaluate_prompts, print_runs
    from ragwright.cli.output import err_console
    from ragwright.prompts.model import PromptRef

    assert candidate is not None
    baseline = baseline or f"{PromptRef.parse(candidate).name}:production"
    comparison = evaluate_prompts(
        settings,
        [baseline, candidate],
        golden,
        err_console if as_json else console,
        log_mlflow=mlflow,
    )
    if as_json:
        print_json(comparison)
    else:
        print_runs(console, comparison)
        for path in comparison.reports:
            console.print(f"report: {path}")
    raise typer.Exit(exit_status(comparison))


@app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(help="MLflow run id of the baseline eval run.")],
    run_b: Annotated[str, typer.Argument(help="MLflow run id of the candidate eval run.")],
    as_json: JsonOption = False,
) -> None:
    """Gate run B against run A from their MLflow records (no model calls).

    Exit 0 pass, 1 fail, 3 not informative (the gate could not see the change).
    """
    from ragwright.cli.eval_output import exit_status, print_json
    from ragwright.cli.evaluation import print_runs
    from ragwright.evals.api import compare as compare_runs
    from ragwright.settings import load_settings

    comparison = compare_runs(load_settings(), run_a, run_b)
    if as_json:
        print_json(comparison)
    else:
        print_runs(console, comparison)
        for path in comparison.reports:
            console.print(f"report: {path}")
    raise typer.Exit(exit_status(comparison))


@app.command("changed")
def changed(
    base: Annotated[str, typer.Option(help="Base revision of the PR, e.g. origin/main.")],
    head: Annotated[str | None, typer.Option(help="Head revision (default: HEAD).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """List prompt versions a PR adds, edits or publishes (committed since the merge-base)."""
    import json

    from ragwright.evals.changes import changed_prompt_versions
    from ragwright.settings import load_settings

    settings = load_settings()
    changes = changed_prompt_versions(settings.project_root, base, settings.prompts_dir, head)
    if as_json:
        print(json.dumps([c.as_dict() for c in changes]))
        return
    for change in changes:
        print(f"{change.ref}\t{change.change}")


@app.command("calibrate")
def calibrate(
    labels: Annotated[
        Path,
        typer.Option(
            help="Labelled JSONL: knowledge|context, response|answer, question?, hallucinated."
        ),
    ],
    judge: Annotated[
        str | None, typer.Option(help="Judge to calibrate (default: settings.judge_model).")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Score only the first N labelled rows.")
    ] = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Save the calibration record that eval runs cite (<home>/calibration/).",
        ),
    ] = False,
) -> None:
    """Score the judge against human hallucination labels; print agreement metrics.

    The record is written only with --write, so a quick check on a sample
    (--limit) never replaces the record a gate relies on.
    """
    from rich.table import Table

    from ragwright.evals.calibration import (
        METRICS,
        load_labels,
        run_calibration,
        write_calibration_record,
    )
    from ragwright.evals.judges.registry import judge_from_settings
    from ragwright.settings import load_settings

    overrides = {"judge_model": "local/judge" if judge == "local" else judge} if judge else {}
    settings = load_settings(**overrides)
    labelled = load_labels(labels, limit=limit)  # InputFileError -> exit 2, file:line (field)
    scorer = judge_from_settings(settings)
    result = run_calibration(scorer, labelled)

    table = Table(title=f"{scorer.name} vs human labels: {labels}")
    table.add_column("metric")
    table.add_column(scorer.name, justify="right")
    table.add_column(f"content-word baseline (< {result.baseline_threshold:.2f})", justify="right")
    for metric in METRICS:
        values = (result.metrics[metric], result.baseline_metrics[metric])
        table.add_row(metric, *("-" if v is None else f"{v:.3f}" for v in values))
    console.print(table)
    console.print(
        f"rows {result.n} · hallucinated {result.positives} · judged {result.judged} · "
        f"errors {result.errors}",
        highlight=False,
    )
    if result.errors:
        lines = ", ".join(str(n) for n in result.error_lines[:20])
        console.print(
            f"[yellow]{result.errors} rows could not be judged (lines {lines}); "
            "metrics cover the judged rows only[/yellow]",
            highlight=False,
        )
    if result.fitted_threshold is not None and result.fitted_metrics is not None:
        ba = result.fitted_metrics.get("balanced_accuracy")
        console.print(
            f"best threshold on these labels: {result.fitted_threshold:.3f}"
            + (f" (balanced accuracy {ba:.3f}, in-sample)" if ba is not None else ""),
            highlight=False,
        )
    if write:
        path = write_calibration_record(settings, scorer, labelled, result, limit=limit)
        console.print(f"record: {path}", highlight=False)
        if getattr(scorer, "weights", None) is not None and result.fitted_threshold is not None:
            console.print(
                f"{scorer.name} now uses threshold {result.fitted_threshold:.3f} in this project",
                highlight=False,
            )
    else:
        console.print("[dim]record not written (pass --write to save it)[/dim]")
