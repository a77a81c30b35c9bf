"""Console helpers shared by CLI commands."""

from __future__ import annotations

from rich.console import Console

__all__ = ["console", "err_console"]

console = Console(soft_wrap=True)  # never split a path or a command across lines
err_console = Console(stderr=True, soft_wrap=True)  # one line per error: greppable
