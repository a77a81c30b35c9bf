"""Generate docs/cli-reference.md: the ``--help`` text of every ``ragwright`` command.

Usage (from the repository root):

    .venv/bin/python docs/generate_cli_reference.py          # rewrite docs/cli-reference.md
    .venv/bin/python docs/generate_cli_reference.py --check  # exit 1 if it is out of date

The help is rendered in-process with Click's plain formatter at a fixed width of
100 columns (no Rich panels, no colours, no terminal detection), so the output
depends only on the command definitions and is the same on every machine.
``tests/test_cli_reference.py`` fails when the committed file is out of date.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from ragwright.cli.app import app

WIDTH = 100
OUTPUT = Path(__file__).resolve().parent / "cli-reference.md"
COMMAND = "python docs/generate_cli_reference.py"

# One sentence per line, like the other pages (they are also the demo's retrieval corpus).
HEADER_LINES = (
    "# CLI reference",
    "",
    "This page lists the help text of every `ragwright` command and sub-command, the same text"
    " that `ragwright COMMAND --help` prints, so that every command, argument and option can be"
    " found in one place.",
    "The page is generated from the command definitions by `docs/generate_cli_reference.py`,"
    f" so do not edit it by hand: run `{COMMAND}` after changing a command and commit the result.",
    "The test `tests/test_cli_reference.py` fails when this page no longer matches the commands.",
    "In a terminal the same help is drawn in panels; set the environment variable"
    " `TYPER_USE_RICH=0` to print it as plain text, as shown below.",
    "The commands are explained with examples in [Prompt commands](cli-prompts.md),"
    " [Index commands](cli-index.md) and [Eval commands](cli-eval.md).",
)


def iter_help(
    command: Any = None, path: tuple[str, ...] = ("ragwright",), parent: Any = None
) -> Iterator[tuple[str, str]]:
    """Yield (command path, plain help text) for a command and, depth first, its sub-commands."""
    if command is None:
        command = typer.main.get_command(app)  # a fresh Click tree built from the Typer app
    command.rich_markup_mode = None  # Click's plain formatter instead of Rich panels
    ctx = typer.Context(
        command, info_name=path[-1], parent=parent, terminal_width=WIDTH, max_content_width=WIDTH
    )
    text = "\n".join(line.rstrip() for line in command.get_help(ctx).splitlines())
    yield " ".join(path), text.strip("\n")
    if isinstance(command, TyperGroup):
        for name in command.list_commands(ctx):
            sub = command.commands[name]
            if not getattr(sub, "hidden", False):
                yield from iter_help(sub, (*path, name), ctx)


def render() -> str:
    """The full Markdown page."""
    sections = [f"## {path}\n\n```text\n{text}\n```\n" for path, text in iter_help()]
    return "\n".join(["\n".join(HEADER_LINES) + "\n", *sections])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate docs/cli-reference.md.")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/cli-reference.md is out of date"
    )
    args = parser.parse_args(argv)
    expected = render()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if args.check:
        if current == expected:
            print(f"{OUTPUT.name} is up to date")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            fromfile="docs/cli-reference.md (committed)",
            tofile="docs/cli-reference.md (generated)",
        )
        sys.stdout.writelines(diff)
        print(f"\ndocs/cli-reference.md is out of date: run `{COMMAND}` and commit the result")
        return 1
    if current != expected:
        OUTPUT.write_text(expected, encoding="utf-8")
        print(f"wrote {OUTPUT.name}")
    else:
        print(f"{OUTPUT.name} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
