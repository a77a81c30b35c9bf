"""Console helpers shared by CLI commands: consoles, tables that fit, JSON output."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

__all__ = ["console", "err_console", "findings_as_output", "print_json", "table"]

console = Console(soft_wrap=True)  # never split a path or a command across lines
err_console = Console(stderr=True, soft_wrap=True)  # one line per error: greppable


def table(*headers: str, keys: tuple[str, ...] = (), **options: Any) -> Table:
    """A table that wraps instead of cropping, readable at 80 columns.

    Key columns (names, versions, dates: what a reader copies) never wrap, so they
    get their full width first; every other column wraps, and folds a word longer
    than its column instead of ending it with an ellipsis. The light box leaves the
    width to the values.
    """
    options.setdefault("box", box.SIMPLE_HEAD)
    options.setdefault("pad_edge", False)
    result = Table(**options)
    for header in headers:
        result.add_column(header, no_wrap=header in keys, overflow="fold")
    return result


def print_json(data: Any) -> None:
    """Machine-readable output: one JSON document on stdout, never wrapped or coloured."""
    print(json.dumps(data, default=str, ensure_ascii=False))


def findings_as_output() -> None:
    """Guardrail findings are printed with the answer; their log lines would repeat them,
    timestamped and wrapped mid-word, so a command that prints findings silences them."""
    import logging

    for name in ("ragwright.guardrails", "guardrails"):
        logging.getLogger(name).setLevel(logging.ERROR)
