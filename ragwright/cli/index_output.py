"""What ``index run`` and ``index status`` print: an ingest summary, an index version."""

from __future__ import annotations

from typing import Any

from ragwright.cli.output import console, table

__all__ = ["print_summary", "print_version", "summary_rows"]


def print_summary(summary: dict[str, Any]) -> None:
    """The counts grouped so they add up: loaded = new + changed + unchanged, and so on.

    "seen 6, new 6, failed 1" read as if a seventh document had appeared; the skipped
    ones are files that were not loaded, so they are listed apart, with their reasons.
    """
    rows = table(
        "count",
        "value",
        title=f"ingest summary · index {summary['index_version']}",
        show_header=False,
        box=None,
    )
    for label, value in summary_rows(summary):
        rows.add_row(label, value)
    rows.add_row(
        "seconds per stage", ", ".join(f"{k} {v:.2f}" for k, v in summary["seconds"].items())
    )
    console.print(rows)
    for failure in summary["failures"]:
        where = failure["path"] + (f":{failure['line']}" if failure.get("line") else "")
        console.print(f"[yellow]skipped[/yellow] {where}: {failure['reason']}", highlight=False)


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows; summaries recorded by older versions lack the newer counts."""
    get = summary.get
    rows = [
        ("files seen", str(get("files_seen", 0))),
        (
            "documents loaded",
            f"{get('docs_seen', 0)} = {get('docs_new', 0)} new + {get('docs_changed', 0)}"
            f" changed + {get('docs_unchanged', 0)} unchanged",
        ),
        (
            "documents dropped",
            f"{get('docs_removed', 0)} removed (their file is gone);"
            f" {get('docs_kept', 0)} kept (file unreadable this time)",
        ),
        ("skipped", f"{get('docs_failed', 0)} (each listed below, with the reason)"),
        (
            "chunks",
            f"{get('chunks_added', 0)} embedded, {get('chunks_reused', 0)} reused"
            f" ({get('chunks_resumed', 0)} resumed), {get('chunks_deleted', 0)} deleted",
        ),
        ("orphans repaired", str(get("orphans_repaired", 0))),
        ("switched alias", "yes" if get("switched_alias") else "no"),
    ]
    return rows


def print_version(info: dict[str, Any]) -> None:
    """One index version as labelled lines: whole values at any terminal width."""
    rows = table(
        "field",
        "value",
        keys=("field",),
        title=f"index {info['version']}" + (" · serving" if info["serving"] else ""),
        show_header=False,
        box=None,
    )
    rows.add_row("collection", info["collection"])
    rows.add_row("model", info["embedding_model"])
    rows.add_row("chunking", f"{info['chunk_tokens']} tokens, overlap {info['chunk_overlap']}")
    rows.add_row("documents", str(info["documents"]))
    rows.add_row("chunks", str(info["chunks"]))
    rows.add_row("created", info["created_at"])
    rows.add_row("completed", info["completed_at"] or "building")
    console.print(rows)
