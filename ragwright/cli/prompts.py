"""``ragwright prompts ...``: inspect, render and lint versioned prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ragwright.cli.output import console

app = typer.Typer(help="Versioned prompts: list, show, render, lint.", no_args_is_help=True)


def _store() -> Any:
    from ragwright.prompts.store import PromptStore
    from ragwright.settings import load_settings

    return PromptStore(load_settings().prompts_dir)


@app.command("list")
def list_() -> None:
    """List prompts with their versions and aliases."""
    store = _store()
    table = Table("prompt", "versions", "aliases", "description")
    for name in store.names():
        manifest = store.manifest(name)
        versions = [
            v if v in manifest.versions else f"{v} (draft)" for v in store.version_ids(name)
        ]
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(manifest.aliases.items()))
        table.add_row(name, ", ".join(versions), aliases, manifest.description)
    console.print(table)


@app.command("show")
def show(ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME:ALIAS")]) -> None:
    """Show one version: metadata, hash, template."""
    version = _store().get(ref)
    meta = version.file.meta
    console.print(
        f"[bold]{version.ref}[/bold] {'published' if version.published else 'draft'}"
        f" · {version.hash}"
    )
    console.print(
        f"{meta.description}\nmodel: {meta.model} · owner: {meta.owner or '-'}"
        f" · parameters: {meta.parameters}"
    )
    for var, spec in meta.variables.items():
        console.print(
            f"  {var}: {spec.type}{'' if spec.required else ' (optional)'}  {spec.description}"
        )
    console.rule()
    console.print(version.file.body, markup=False, highlight=False)


@app.command("render")
def render(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME:ALIAS")],
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="Variable as name=value (value parsed as JSON when it can be)."
        ),
    ] = None,
    inputs_file: Annotated[Path | None, typer.Option(help="JSON file of variables.")] = None,
    example: Annotated[bool, typer.Option(help="Use the version's example inputs.")] = False,
) -> None:
    """Render a version with inputs; errors name the prompt, version and variable."""
    from ragwright.errors import InputFileError

    store = _store()
    inputs: dict[str, Any] = {}
    if example:
        inputs.update(store.get(ref).file.meta.example)
    if inputs_file is not None:
        try:
            loaded = json.loads(inputs_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputFileError(f"cannot read inputs: {exc}", path=inputs_file) from exc
        if not isinstance(loaded, dict):
            raise InputFileError("inputs must be a JSON object", path=inputs_file)
        inputs.update(loaded)
    for item in input_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"'{item}': use name=value", param_hint="--input")
        try:
            inputs[key] = json.loads(value)
        except json.JSONDecodeError:
            inputs[key] = value
    rendered = store.render(ref, inputs)
    for message in rendered.messages:
        console.rule(f"{message.role}")
        console.print(message.content, markup=False, highlight=False)


@app.command("lint")
def lint() -> None:
    """Check immutability, aliases, rendering of examples and token budgets; exit 1 on errors."""
    from ragwright.prompts.lint import lint_store

    findings = lint_store(_store())
    colours = {"error": "red", "warning": "yellow", "info": "dim"}
    for f in findings:
        where = f"{f.prompt}@{f.version}" if f.version else f.prompt
        console.print(f"[{colours[f.level]}]{f.level:7}[/] {where}: {f.message}", highlight=False)
    errors = sum(1 for f in findings if f.level == "error")
    console.print(
        f"{errors} error(s), {sum(1 for f in findings if f.level == 'warning')} warning(s)"
    )
    if errors:
        raise typer.Exit(1)
