"""Where a ragwright project lives: the nearest folder upward that holds ``ragwright.toml``.

Like git (``.git``), dbt (``dbt_project.yml``) and promptfoo, ragwright finds its
project by walking up from the working directory, so every command run from any
subfolder reads the same settings and the same state. Every relative path in the
settings resolves against that root, never against the working directory.

Services that have no meaningful working directory name the root explicitly:
``Settings(project_root=...)`` or ``RAGWRIGHT_PROJECT_ROOT``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ragwright.errors import ProjectNotFoundError

__all__ = ["PROJECT_FILE", "ROOT_ENV", "find_project_root", "project_root"]

PROJECT_FILE = "ragwright.toml"
ROOT_ENV = "RAGWRIGHT_PROJECT_ROOT"


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder from ``start`` (default: the working directory) upward with
    ``ragwright.toml``, or None when there is none up to the filesystem root."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def project_root(explicit: Path | str | None = None, start: Path | None = None) -> Path:
    """The project root: ``explicit``, else ``RAGWRIGHT_PROJECT_ROOT``, else found upward.

    An explicit root must exist but needs no ``ragwright.toml`` (a service may run
    on defaults and environment variables alone). Raises
    :class:`~ragwright.errors.ProjectNotFoundError` when nothing names a root and no
    folder up the tree is a project.
    """
    named = explicit if explicit not in (None, "") else os.environ.get(ROOT_ENV) or None
    if named is not None:
        root = Path(named).expanduser()
        root = (start or Path.cwd()) / root if not root.is_absolute() else root
        if not root.is_dir():
            raise ProjectNotFoundError(
                f"project root {root} is not a folder (from"
                f" {'Settings(project_root=...)' if explicit else ROOT_ENV})"
            )
        return root.resolve()
    found = find_project_root(start)
    if found is None:
        where = (start or Path.cwd()).resolve()
        raise ProjectNotFoundError(
            f"not inside a ragwright project: no {PROJECT_FILE} in {where} or any folder"
            " above it. Run `ragwright init` to make this folder a project, or cd into one"
        )
    return found
