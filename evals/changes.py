"""Which prompt versions a branch changes: the candidates a pull request must gate.

A pull request that changes prompts adds a version file (``v3.jinja2``), edits a
draft, or publishes an existing draft in ``prompt.yaml``. CI should gate exactly
those versions, no more (an unrelated prompt is not re-evaluated on every PR) and
no fewer (publishing a draft that nobody edited still freezes it for production).

``ragwright eval changed`` is a thin wrapper around :func:`changed_prompt_versions`:
it prints one ``name@version`` per line, or :meth:`ChangedVersion.as_dict` items as
a JSON list with ``--json``.

Semantics, chosen to match what a GitHub pull request shows:

* the comparison is ``merge-base(base, head)`` against ``head``, like
  ``git diff base...head``: commits that landed on ``base`` after the branch
  started are not the branch's changes;
* only commits count. ``head=None`` means ``HEAD``; uncommitted and untracked files
  are ignored, because CI checks out the PR head and the store serves only what
  git tracks, so a local run lists what CI will gate;
* a version counts once, with the strongest reason: ``added`` (the file is new at
  this path, renames and copies included), then ``modified`` (the file changed),
  then ``published`` (the file is unchanged but ``prompt.yaml`` gained it under
  ``versions``);
* ignored: files outside the prompt store, files that are not ``<name>/vN.jinja2``,
  alias moves, history entries and recorded eval runs in ``prompt.yaml`` (a
  promotion is not a new candidate), and deleted versions (nothing is left to
  evaluate; ``ragwright prompts lint`` flags a published version whose file is gone,
  and an alias that points at a version that is no longer published).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from ragwright.errors import PromptFileError, UserError
from ragwright.prompts.files import MANIFEST
from ragwright.prompts.model import NAME_PATTERN, VERSION_PATTERN

__all__ = ["Change", "ChangedVersion", "changed_prompt_versions"]

Change = Literal["added", "modified", "published"]

# A version is reported once, with the strongest of its reasons.
_STRENGTH: dict[Change, int] = {"added": 3, "modified": 2, "published": 1}
_SUFFIX = ".jinja2"


@dataclass(frozen=True, slots=True)
class ChangedVersion:
    """One prompt version the branch changed, and why it is a candidate."""

    name: str
    version: str
    change: Change

    @property
    def ref(self) -> str:
        """The reference ``ragwright eval gate --candidate`` takes: ``name@version``."""
        return f"{self.name}@{self.version}"

    def as_dict(self) -> dict[str, str]:
        """Plain data for ``ragwright eval changed --json`` (the CI workflow reads ``ref``)."""
        return {"ref": self.ref, "name": self.name, "version": self.version, "change": self.change}


def changed_prompt_versions(
    repo: Path, base: str, prompts_dir: Path, head: str | None = None
) -> list[ChangedVersion]:
    """Prompt versions changed between ``merge-base(base, head)`` and ``head``.

    ``repo`` is any folder inside the git work tree; ``prompts_dir`` is absolute or
    relative to ``repo`` (symlinks are resolved, so ``ragwright/prompts`` works).
    ``head`` defaults to ``HEAD``. The result is sorted by prompt name, then version
    number, with one entry per version. Raises :class:`UserError` when git, the
    repository, ``base`` or ``head`` is missing, or when the two share no history.
    """
    top = _toplevel(repo)
    store = _store_prefix(repo, top, prompts_dir)
    base_commit = _commit(top, base, role="base")
    head_commit = _commit(top, head or "HEAD", role="head")
    merge_base = _merge_base(top, (base, base_commit), (head or "HEAD", head_commit))

    found: dict[tuple[str, str], Change] = {}

    def record(name: str, version: str, change: Change) -> None:
        key = (name, version)
        if key not in found or _STRENGTH[change] > _STRENGTH[found[key]]:
            found[key] = change

    manifests: list[str] = []
    for status, path in _name_status(top, merge_base, head_commit, store):
        relative = _within(path, store)
        if relative is None:
            continue
        if len(relative.parts) == 2 and relative.name == MANIFEST:
            manifests.append(path)
            continue
        parsed = _version_of(relative)
        if parsed is not None:
            record(*parsed, "modified" if status in {"M", "T"} else "added")

    for path in manifests:
        name = PurePosixPath(path).parent.name
        if not NAME_PATTERN.match(name):
            continue
        before = _published(top, merge_base, path)
        for version in sorted(_published(top, head_commit, path) - before):
            file = str(PurePosixPath(path).parent / f"{version}{_SUFFIX}")
            # A manifest that lists a missing file is a lint error, not a candidate.
            if VERSION_PATTERN.match(version) and _exists(top, head_commit, file):
                record(name, version, "published")

    return [
        ChangedVersion(name, version, change)
        for (name, version), change in sorted(
            found.items(), key=lambda item: (item[0][0], int(item[0][1][1:]))
        )
    ]


def _git(top: Path | None, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run git with an argument list (never a shell) and no pager, prompt or ext diff."""
    command = ["git", "--no-pager", "--literal-pathspecs"]
    if top is not None:
        command += ["-C", str(top)]
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        return subprocess.run(
            [*command, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            check=False,
        )
    except FileNotFoundError as exc:
        raise UserError("git not found on PATH: listing changed prompts needs git") from exc


def _toplevel(repo: Path) -> Path:
    if not repo.is_dir():
        raise UserError(f"{repo} is not a folder: pass the git repository's folder")
    done = _git(None, "rev-parse", "--show-toplevel", cwd=repo)
    if done.returncode != 0:
        raise UserError(f"{repo} is not inside a git work tree: {done.stderr.strip()}")
    return Path(done.stdout.strip()).resolve()


def _store_prefix(repo: Path, top: Path, prompts_dir: Path) -> str:
    """The store's path relative to the repository root, as git writes paths ("" = root)."""
    absolute = (prompts_dir if prompts_dir.is_absolute() else repo / prompts_dir).resolve()
    try:
        relative = absolute.relative_to(top)
    except ValueError:
        raise UserError(
            f"prompt store {absolute} is outside the git repository {top}: point"
            " RAGWRIGHT_PROMPTS_DIR at the git-tracked prompts folder"
        ) from None
    return relative.as_posix() if relative.parts else ""


def _commit(top: Path, rev: str, *, role: str) -> str:
    if not rev.strip() or rev.startswith("-"):
        raise UserError(f"{role} {rev!r} is not a git revision")
    done = _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if done.returncode == 0:
        return done.stdout.strip()
    if role != "base":
        raise UserError(f"{role} {rev!r} not found in {top}")
    if any(char in rev for char in "~^:@{ "):
        raise UserError(f"base {rev!r} not found in {top}: check the revision")
    remote, _, branch = rev.removeprefix("refs/remotes/").partition("/")
    fetch = f"git fetch {remote} {branch}" if branch else f"git fetch origin {rev}"
    raise UserError(
        f"base {rev!r} not found: fetch it with `{fetch}`"
        " (in GitHub Actions, check out with fetch-depth: 0)"
    )


def _merge_base(top: Path, base: tuple[str, str], head: tuple[str, str]) -> str:
    """The commit a PR diff starts from; ``(name, commit)`` pairs name revs in errors."""
    done = _git(top, "merge-base", base[1], head[1])
    if done.returncode != 0:
        raise UserError(
            f"base {base[0]!r} and {head[0]!r} share no history (a shallow clone?): fetch the"
            " full history with `git fetch --unshallow`, or check out with fetch-depth: 0"
        )
    return done.stdout.split()[0]


def _name_status(top: Path, old: str, new: str, store: str) -> list[tuple[str, str]]:
    """(status letter, path at ``new``) per changed path; deletions are left out.

    ``-z`` keeps paths with spaces or non-ASCII characters intact. A rename or copy
    is ``R<score>``/``C<score>`` followed by two paths; its destination counts as
    added (a new ref), its source as deleted.
    """
    args = ["diff", "--name-status", "-z", "--find-renames", "--no-relative", "--no-ext-diff"]
    done = _git(top, *args, old, new, "--", *([store] if store else []))
    if done.returncode != 0:
        raise UserError(f"git diff {old[:12]} {new[:12]} failed: {done.stderr.strip()}")
    tokens = done.stdout.split("\0")
    changes: list[tuple[str, str]] = []
    index = 0
    while index < len(tokens) and tokens[index]:
        status = tokens[index][0]
        if status in {"R", "C"}:
            changes.append(("A", tokens[index + 2]))
            index += 3
            continue
        if status != "D":
            changes.append((status, tokens[index + 1]))
        index += 2
    return changes


def _within(path: str, store: str) -> PurePosixPath | None:
    pure = PurePosixPath(path)
    if not store:
        return pure
    try:
        return pure.relative_to(store)
    except ValueError:
        return None


def _version_of(relative: PurePosixPath) -> tuple[str, str] | None:
    """``(name, version)`` for ``<name>/vN.jinja2``; anything else is not a version file."""
    if len(relative.parts) != 2 or relative.suffix != _SUFFIX:
        return None
    name, version = relative.parts[0], relative.name[: -len(_SUFFIX)]
    if NAME_PATTERN.match(name) and VERSION_PATTERN.match(version):
        return name, version
    return None


def _exists(top: Path, commit: str, path: str) -> bool:
    return _git(top, "cat-file", "-e", f"{commit}:{path}").returncode == 0


def _published(top: Path, commit: str, path: str) -> set[str]:
    """Version ids under ``versions`` in ``prompt.yaml`` at ``commit`` (none if absent).

    Only the keys are read, not the full :class:`Manifest` model, so this listing
    keeps working on manifests written by an older or newer ragwright.
    """
    if not _exists(top, commit, path):
        return set()
    done = _git(top, "cat-file", "blob", f"{commit}:{path}")
    if done.returncode != 0:
        raise UserError(f"cannot read {path} at {commit[:12]}: {done.stderr.strip()}")
    where = f"{path} at {commit[:12]}"
    try:
        data: Any = yaml.safe_load(done.stdout)
    except yaml.YAMLError as exc:
        raise PromptFileError(f"invalid YAML: {exc}", path=where) from exc
    versions = data.get("versions") if isinstance(data, dict) else None
    if versions is None:
        return set()
    if not isinstance(versions, dict):
        raise PromptFileError("'versions' must be a mapping", path=where, field="versions")
    return {str(key) for key in versions}
