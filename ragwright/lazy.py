"""Lazy package attributes: a package names where each export lives, and imports it on use.

One-shot commands (``costs report``, ``monitor report``) import a package's light
modules; importing every export eagerly would pull in LangChain, the metered
providers or the recorder for nothing. A package sets
``__getattr__ = lazy_attributes(__name__, {"Name": "module.path", ...})`` and keeps
the eager imports under ``TYPE_CHECKING`` for type checkers.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``homes[name]`` and returns its ``name``."""

    def attribute(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name]), name)

    return attribute
