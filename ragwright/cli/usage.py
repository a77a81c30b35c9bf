"""Usage mistakes as one line: the command, what was wrong, and the fix.

Click prints a usage error as three lines (the usage, a "Try --help" hint, the error),
and typer 0.29 raises its own vendored copies of click's exception classes, which the
CLI once failed to catch (a 32-line traceback for ``ragwright build``). Here both
kinds become ``error: ragwright index run: No such option: --doc; did you mean --docs?``,
with exit code 2, and an unknown command gets the nearest real one.
"""

from __future__ import annotations

import difflib
from typing import Any

__all__ = ["is_usage_error", "suggest_command", "usage_line"]

# Words people type for a command that is spelled differently here.
SYNONYMS = {
    "build": "index run",
    "ingest": "index run",
    "reindex": "index run",
    "search": "index query",
    "query": "index query",
    "status": "index status",
    "gate": "eval gate",
    "compare": "eval compare",
    "report": "costs report",
    "budget": "costs check",
    "budgets": "costs check",
    "rollback": "prompts rollback",
    "promote": "prompts promote",
    "lint": "prompts lint",
    "version": "--version",
}


def is_usage_error(exc: BaseException) -> bool:
    """Click's usage errors, and typer's vendored copies of them (not click subclasses)."""
    import click
    from typer._click.exceptions import ClickException as TyperClickException

    return isinstance(exc, click.ClickException | TyperClickException)


def command_paths(command: Any, prefix: str = "") -> list[str]:
    """Every command under ``command`` as a space-separated path ("index run")."""
    paths: list[str] = []
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        path = f"{prefix}{name}"
        paths.append(path)
        paths.extend(command_paths(sub, path + " "))
    return paths


def suggest_command(root: Any, prefix: str, word: str) -> str | None:
    """The command a mistyped ``word`` after ``prefix`` most likely meant, if any."""
    paths = command_paths(root)
    if not prefix and word in SYNONYMS:
        return SYNONYMS[word]
    siblings = [
        p[len(prefix) :] for p in paths if p.startswith(prefix) and " " not in p[len(prefix) :]
    ]
    close = difflib.get_close_matches(word, siblings, n=1, cutoff=0.6)
    if close:
        return prefix + close[0]
    leaves = {p.rsplit(" ", 1)[-1]: p for p in paths if " " in p}
    close = difflib.get_close_matches(word, list(leaves), n=1, cutoff=0.75)
    return leaves[close[0]] if close else None


def usage_line(exc: Any, root: Any) -> str:
    """One line for a click/typer usage error: where, what, and how to fix it."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else "ragwright"
    message = exc.format_message().strip().replace("\n", " ")
    prefix = " ".join(where.split()[1:])
    fix = f"see `{where} --help`"
    if message.startswith("No such command"):
        word = message.split("'")[1] if "'" in message else ""
        guess = suggest_command(root, prefix + " " if prefix else "", word)
        if guess:
            message = message.split(". Did you mean", 1)[0]
            fix = f"did you mean '{guess}'? (`ragwright --help` lists every command)"
    elif "Did you mean" in message or "(Possible options" in message:
        fix = ""
    return f"{where}: {message.rstrip('.')}" + (f"; {fix}" if fix else "")
