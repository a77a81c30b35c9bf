"""``ragwright init`` and ``ragwright demo``: the two commands that work outside a project."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ragwright.cli.output import console

if TYPE_CHECKING:
    from ragwright.scaffold import InitResult

__all__ = ["demo", "init"]


def init(
    directory: Annotated[
        Path, typer.Argument(help="Folder to make a project (created if missing).")
    ] = Path("."),
    docs: Annotated[
        Path | None,
        typer.Option(help="Your documents folder (default: docs/, with starter documents)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Overwrite the files init would otherwise refuse to replace.")
    ] = False,
) -> None:
    """Make a folder a ragwright project: settings, a first prompt, a golden set, CI."""
    from ragwright.scaffold import init_project

    result = init_project(directory, docs=docs, force=force)
    print_init(result)
    here = Path.cwd().resolve()
    cd = "" if result.root == here else f"cd {_shown(result.root, here)} && "
    console.print(
        f"\nnext: {cd}ragwright index run && ragwright ask"
        ' "How do I roll back the production prompt?"'
        " && ragwright eval gate --candidate rag_answer@v1",
        highlight=False,
        markup=False,
    )


def print_init(result: InitResult) -> None:
    """The files a scaffold wrote or left alone, relative to the project root."""
    console.print(f"ragwright project: {result.root}", highlight=False)
    for label, paths in (("created", result.created), ("overwritten", result.overwritten)):
        for path in paths:
            console.print(f"  {label:11} {_shown(path, result.root)}", highlight=False)
    for path, reason in result.skipped:
        console.print(f"  {'skipped':11} {_shown(path, result.root)}: {reason}", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def demo(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Project to run in; created from the demo corpus when it has no ragwright.toml"
            " (default: a new temporary folder).",
        ),
    ] = None,
) -> None:
    """Ingest, answer, guard, evaluate production vs candidate, gate, report: offline."""
    from ragwright.cli.demo import run_demo
    from ragwright.project import PROJECT_FILE
    from ragwright.scaffold import create_demo_project
    from ragwright.settings import load_settings

    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="ragwright-demo-"))
    root = directory.expanduser().resolve()
    if (root / PROJECT_FILE).is_file():
        console.print(f"demo project: {root}", highlight=False)
    else:
        print_init(create_demo_project(root))
    settings = load_settings(project_root=root)
    run_demo(settings, settings.golden_set, console)
