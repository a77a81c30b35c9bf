"""``ragwright index ...``: build, query and inspect the vector index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ragwright.cli.index_output import print_summary, print_version
from ragwright.cli.output import console, print_json, table

if TYPE_CHECKING:
    from ragwright.settings import Settings

app = typer.Typer(help="Build, query and inspect the vector index.", no_args_is_help=True)


def run_ingest_flow(
    settings: Any,
    *,
    docs_dir: Path | None = None,
    rebuild: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run the Prefect ingestion flow for ``settings`` and return its summary.

    A Prefect ephemeral API started for it dies with this process, even a killed one.
    """
    from ragwright.flows.ephemeral import tie_ephemeral_api
    from ragwright.flows.ingest import flow_settings, ingest_flow

    tie_ephemeral_api()
    result = ingest_flow(
        docs_dir=str(docs_dir) if docs_dir else None,
        rebuild=rebuild,
        settings=flow_settings(settings),
        show_progress=show_progress,
    )
    if not isinstance(result, dict):  # Prefect raises a failed run's error instead
        raise TypeError(f"the ingest flow returned {type(result).__name__}, not a summary")
    return result


@app.command("run")
def run(
    docs: Annotated[Path | None, typer.Option(help="Documents folder (default: docs_dir).")] = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Rebuild every chunk into a new index version, then switch to it."
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="With --docs: let that folder replace the index's documents (those not in it"
            " are removed).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Ingest documents incrementally through the Prefect flow.

    When nothing changed (documents, chunking, embedder), it says so in a fraction of a
    second without starting Prefect; real work runs as a flow, visible in the Prefect UI.
    """
    from ragwright.errors import InputFileError, UserError
    from ragwright.flows.fastpath import unchanged_summary
    from ragwright.flows.lock import ingest_lock
    from ragwright.settings import load_settings

    settings = load_settings()
    folder = (docs or settings.docs_dir).expanduser()
    if not folder.is_dir():  # before Prefect starts: one line, no flow-run noise
        raise InputFileError("documents folder does not exist", path=folder)
    if docs is not None and folder.resolve() != settings.docs_dir.resolve() and not replace:
        raise UserError(
            f"--docs {docs} is not the project's documents folder ({settings.docs_dir}):"
            " the index holds one folder, so its documents would replace the indexed ones;"
            " pass --replace to do that, or set docs_dir in ragwright.toml"
        )
    # Taken here, before Prefect's API starts (seconds), so a second ingest fails at once;
    # the flow takes it again in this process, and alone when a deployment runs it.
    with ingest_lock(settings.home):
        unchanged = None if full else unchanged_summary(settings, folder)
        summary = (
            unchanged.as_dict()
            if unchanged is not None
            else run_ingest_flow(settings, docs_dir=docs, rebuild=full, show_progress=not as_json)
        )
    if as_json:
        print(json.dumps(summary, default=str))
        return
    if unchanged is not None:
        console.print(
            f"nothing to do: {unchanged.docs_unchanged} document(s) unchanged in index"
            f" {unchanged.index_version} (the flow was not started; --full rebuilds)",
            highlight=False,
        )
        return
    print_summary(summary)


@app.command("query")
def query(
    text: Annotated[str, typer.Argument(help="Query text.")],
    k: Annotated[int, typer.Option("-k", help="Number of hits.")] = 5,
    where: Annotated[list[str] | None, typer.Option(help="Metadata filter key=value.")] = None,
    hybrid: Annotated[
        bool | None,
        typer.Option(
            "--hybrid/--dense", help="Fuse BM25 with dense retrieval (default: settings)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON.")] = False,
) -> None:
    """Show the chunks the retriever returns, with scores and sources."""
    from ragwright.providers.registry import embedder_from_settings
    from ragwright.rag.retriever import Retriever
    from ragwright.rag.vectorstore import chroma_client
    from ragwright.settings import load_settings

    settings = load_settings()
    filters: dict[str, Any] | None = None
    if where:
        pairs = [item.split("=", 1) for item in where]
        if any(len(p) != 2 for p in pairs):
            raise typer.BadParameter("use key=value", param_hint="--where")
        clauses = [{key: value} for key, value in pairs]
        filters = clauses[0] if len(clauses) == 1 else {"$and": clauses}
    retriever = Retriever(settings, embedder_from_settings(settings), chroma_client(settings))
    hits = retriever.retrieve(text, k=k, where=filters, hybrid=hybrid)
    if as_json:
        print_json(
            [
                {
                    "rank": rank,
                    "score": round(hit.score, 4),
                    "chunk_id": hit.chunk_id,
                    "source": hit.source,
                    "heading": hit.heading,
                    "text": hit.text,
                    "flagged": str(hit.metadata.get("guard_injection") or ""),
                }
                for rank, hit in enumerate(hits, 1)
            ]
        )
        return
    rows = table(
        "#", "score", "source", "heading", "text", "flagged", keys=("#", "score", "source")
    )
    for rank, hit in enumerate(hits, 1):
        flagged = str(hit.metadata.get("guard_injection") or "")  # set at ingest (guardrails)
        rows.add_row(
            str(rank), f"{hit.score:.3f}", hit.source, hit.heading, _preview(hit.text), flagged
        )
    console.print(rows)


def _flagged(settings: Settings, collection: str) -> list[str]:
    """Chunks the ingest scan flagged (guardrails/documents.py), one line each."""
    from ragwright.guardrails.documents import flagged_in_collection
    from ragwright.rag.vectorstore import chroma_client, store_errors

    with store_errors(settings):
        return flagged_in_collection(chroma_client(settings), collection)


def _preview(text: str, limit: int = 160) -> str:
    """The start of a chunk, cut at a word (the whole chunk is in --json)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show index versions, chunk counts, embedding model and the last run's summary."""
    from dataclasses import asdict

    from ragwright.flows.lock import lock_holder
    from ragwright.rag.records import IndexRecords
    from ragwright.rag.staging import StagingStore
    from ragwright.settings import load_settings

    settings = load_settings()
    records = IndexRecords(settings.index_db)
    try:
        serving = records.alias(settings.collection)
        versions = []
        for version in records.versions():
            docs = records.documents(version.version)
            versions.append(
                {
                    **asdict(version),
                    "documents": len(docs),
                    "chunks": sum(len(d.chunk_ids) for d in docs.values()),
                    "serving": bool(serving and serving.version == version.version),
                }
            )
        last = records.last_run()
    finally:
        records.close()
    staged = StagingStore.read(settings.staging_db)
    holder = lock_holder(settings.home)
    flagged = _flagged(settings, serving.collection) if serving is not None else []
    if as_json:
        print_json(
            {
                "collection": settings.collection,
                "serving": serving.version if serving else None,
                "versions": versions,
                "part_way": [asdict(s) for s in staged],
                "ingest_running": holder,
                "last_run": last,
                "flagged": flagged,
            }
        )
        return
    for info in versions:
        print_version(info)
    for line in flagged:
        console.print(f"flagged at ingest: {line}", highlight=False)
    for part in staged:
        console.print(
            f"part-way: {part.doc_id} {part.chunks_staged}/{part.chunks_total} chunks"
            f" embedded (at {part.updated_at}); the next run resumes it",
            highlight=False,
        )
    if holder is not None:
        console.print(
            f"ingest running: pid {holder.get('pid', '?')} since {holder.get('since', '?')}",
            highlight=False,
        )
    if last:
        print_summary(last)
    else:
        console.print("no ingestion run yet: run `ragwright index run`")


@app.command("schedule")
def schedule(
    cron: Annotated[
        str, typer.Option(help='Cron expression (5 fields), e.g. "0 * * * *" = hourly.')
    ] = "0 * * * *",
    name: Annotated[str, typer.Option(help="Deployment name.")] = "ragwright-reindex",
    docs: Annotated[Path | None, typer.Option(help="Documents folder (default: docs_dir).")] = None,
    limit: Annotated[
        int | None, typer.Option(help="Most runs at the same time (default: no cap).")
    ] = None,
) -> None:
    """Serve the ingestion flow as a Prefect deployment on a cron schedule (blocks).

    Runs execute on this machine, no work pool needed. PREFECT_API_URL picks the server.
    """
    from ragwright.flows.schedule import build_deployment, prefect_api_url, serve_schedule
    from ragwright.settings import load_settings

    settings = load_settings()
    deployment = build_deployment(settings, cron=cron, name=name, docs_dir=docs)  # validates
    api = prefect_api_url()
    console.print(
        f"serving [bold]{deployment.flow_name}/{deployment.name}[/bold]"
        f" · cron {cron.strip()!r} · docs {docs or settings.docs_dir}"
        f" · Prefect API {api or 'local ephemeral API (PREFECT_API_URL unset)'}",
        highlight=False,
    )
    if api is None:
        console.print(
            "[yellow]warning:[/yellow] the ephemeral API runs no scheduler: cron runs will not"
            " fire. Start `prefect server start` and set PREFECT_API_URL.",
            highlight=False,
        )
    console.print("press Ctrl+C to stop (the schedule is paused on shutdown)", highlight=False)
    serve_schedule(settings, cron=cron, name=name, docs_dir=docs, limit=limit)
