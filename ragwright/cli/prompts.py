"""``ragwright prompts ...``: inspect, render and lint versioned prompts."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from ragwright.cli.output import console, err_console, print_json, table

app = typer.Typer(
    help="Versioned prompts: inspect, render, lint, publish, promote, roll back.",
    no_args_is_help=True,
)


def _store() -> Any:
    from ragwright.prompts.store import PromptStore
    from ragwright.settings import load_settings

    return PromptStore.from_settings(load_settings())


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print the prompts as JSON.")] = False,
) -> None:
    """List prompts with their layer (project or built-in), versions and aliases."""
    store = _store()
    prompts = []
    for name in store.names():
        manifest = store.manifest(name)
        layer = store.layer_of(name).name
        prompts.append(
            {
                "name": name,
                "layer": layer,
                "overrides_built_in": layer == "project" and name in store.names(layer="built-in"),
                "versions": store.version_ids(name),
                "published": [v for v in store.version_ids(name) if v in manifest.versions],
                "aliases": dict(sorted(manifest.aliases.items())),
                "description": manifest.description,
            }
        )
    if as_json:
        print_json(prompts)
        return
    rows = table("prompt", "layer", "versions", "aliases", "description", keys=("prompt",))
    for p in prompts:
        versions = [v if v in p["published"] else f"{v} (draft)" for v in p["versions"]]
        aliases = ", ".join(f"{a}→{v}" for a, v in p["aliases"].items())
        layer = p["layer"] + (" (overrides built-in)" if p["overrides_built_in"] else "")
        rows.add_row(p["name"], layer, ", ".join(versions), aliases, escape(p["description"]))
    console.print(rows)


@app.command("copy")
def copy(
    name: Annotated[str, typer.Argument(help="Built-in prompt, e.g. judge_relevance.")],
) -> None:
    """Copy a built-in prompt into the project, where it overrides the built-in one."""
    from ragwright.prompts.lifecycle import Lifecycle

    path = Lifecycle(_store()).copy(name)
    console.print(
        f"copied {name} to {path}; it now overrides the built-in one. Change it with"
        f" `ragwright prompts new {name} --from VERSION`",
        highlight=False,
    )


@app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME:ALIAS")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the version as JSON.")] = False,
) -> None:
    """Show one version: metadata, hash, template."""
    version = _store().get(ref)
    meta = version.file.meta
    if as_json:
        print_json(
            {
                "ref": version.ref,
                "published": version.published,
                "hash": version.hash,
                "meta": meta.model_dump(mode="json"),
                "body": version.file.body,
            }
        )
        return
    console.print(
        f"[bold]{version.ref}[/bold] {'published' if version.published else 'draft'}"
        f" · {version.hash}"
    )
    console.print(
        f"{meta.description}\nmodel: {meta.model} · owner: {meta.owner or '-'}"
        f" · parameters: {meta.parameters}",
        markup=False,
        highlight=False,
    )
    for var, spec in meta.variables.items():
        console.print(
            f"  {var}: {spec.type}{'' if spec.required else ' (optional)'}  {spec.description}",
            markup=False,
            highlight=False,
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


def _lifecycle() -> Any:
    """A Lifecycle over the configured store, mirroring each change to MLflow if enabled."""
    from ragwright.prompts.lifecycle import Lifecycle
    from ragwright.prompts.registry import RegistryMirror
    from ragwright.prompts.store import PromptStore
    from ragwright.settings import load_settings

    settings = load_settings()
    store = PromptStore.from_settings(settings)
    if not settings.prompt_registry:
        return settings, Lifecycle(store)
    mirror = RegistryMirror(settings.tracking_uri)

    def mirror_change(name: str) -> None:
        try:
            aliases = mirror.sync(store, name)
        except Exception as exc:  # git holds the change; the replica can be re-synced later
            err_console.print(
                f"[yellow]warning:[/] MLflow registry not updated ({exc});"
                " run `ragwright prompts sync` to retry",
                highlight=False,
            )
            return
        console.print(f"[dim]mirrored to MLflow registry: {aliases}[/dim]")

    return settings, Lifecycle(store, on_change=mirror_change)


@app.command("new")
def new(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    from_version: Annotated[str, typer.Option("--from", help="Version to start from.")],
) -> None:
    """Scaffold the next version as a draft copy of --from; edit it, then publish it."""
    _, lifecycle = _lifecycle()
    path = lifecycle.new(name, from_version)
    console.print(
        f"created draft {path}; edit it, then `ragwright prompts publish {name} {path.stem}`",
        highlight=False,
    )


@app.command("publish")
def publish(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    version: Annotated[str, typer.Argument(help="Draft version to freeze, e.g. v3.")],
) -> None:
    """Freeze a draft: record its content hash in prompt.yaml. It can never change again."""
    _, lifecycle = _lifecycle()
    record = lifecycle.publish(name, version)
    console.print(f"published {name}@{version} {record.hash}")


@app.command("diff")
def diff(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    a: Annotated[str, typer.Argument(help="Old version.")],
    b: Annotated[str, typer.Argument(help="New version.")],
) -> None:
    """Text diff of two versions, plus the variables and metadata that changed."""
    from ragwright.prompts.lifecycle import diff_versions

    result = diff_versions(_store(), name, a, b)
    console.print(result.text or "(files are identical)", markup=False, highlight=False)
    for label, items in (
        ("added variables", result.added_variables),
        ("removed variables", result.removed_variables),
        ("changed variables", result.changed_variables),
        ("changed metadata", result.changed_metadata),
    ):
        if items:
            console.print(f"{label}: {', '.join(items)}")


@app.command("promote")
def promote(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    version: Annotated[str, typer.Argument(help="Published version to promote.")],
    to: Annotated[str, typer.Option("--to", help="Alias to move.")] = "production",
    evidence: Annotated[
        str | None,
        typer.Option(help="MLflow run id of the passing gate run (default: newest matching run)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Skip the evidence check (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why; recorded in history.")] = None,
) -> None:
    """Point an alias at a version that passed the eval gate; writes prompt.yaml."""
    from ragwright.evals.evidence import mlflow_evidence

    settings, lifecycle = _lifecycle()
    entry = lifecycle.promote(
        name,
        version,
        alias=to,
        force=force,
        reason=reason,
        find_evidence=mlflow_evidence(settings, settings.golden_set, evidence),
    )
    how = f"evidence {entry.evidence}" if entry.evidence else f"FORCED: {entry.reason}"
    console.print(
        f"{name}:{to} {entry.from_version or '-'} -> {entry.to_version} ({how})", highlight=False
    )


@app.command("rollback")
def rollback(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = "production",
) -> None:
    """Move an alias back to the version it served before the current one."""
    _, lifecycle = _lifecycle()
    entry = lifecycle.rollback(name, alias=alias)
    console.print(f"{name}:{alias} {entry.from_version} -> {entry.to_version} (rollback)")


@app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="Prompt name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the history as JSON.")] = False,
) -> None:
    """Who changed what, when, from/to which version, with which evidence."""
    entries = _store().manifest(name).history
    if as_json:
        print_json([e.model_dump(mode="json") for e in entries])
        return
    rows = table("when (UTC)", "change", "by", "evidence / reason", keys=("when (UTC)",))
    for e in entries:
        note = e.evidence or ""
        if e.forced:
            note = f"forced: {e.reason or ''}"
        moved = f"{e.from_version} → {e.to_version}" if e.from_version else e.to_version
        rows.add_row(
            e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            " ".join(x for x in (e.action, e.alias, moved) if x),
            e.by,
            note,
        )
    console.print(rows)


@app.command("sync")
def sync(
    name: Annotated[list[str] | None, typer.Argument(help="Prompts (default: all).")] = None,
) -> None:
    """Register published versions and aliases in MLflow's prompt registry."""
    from ragwright.prompts.registry import RegistryMirror
    from ragwright.settings import load_settings

    settings = load_settings()
    store = _store()
    mirror = RegistryMirror(settings.tracking_uri)
    for prompt in name or store.names():
        console.print(f"{prompt}: {mirror.sync(store, prompt)}")
