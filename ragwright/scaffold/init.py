"""``ragwright init``: make a folder a working ragwright project.

It writes what every later command expects, so that ``ragwright index run``,
``ragwright ask`` and ``ragwright eval gate --candidate rag_answer@v1`` work with
no further edits:

* ``ragwright.toml`` (commented: every key it sets is explained);
* ``prompts/rag_answer/v1.jinja2`` and its ``prompt.yaml``, published through the
  real lifecycle (content hash recorded, ``production`` alias, history);
* ``golden_sets/starter.jsonl``, cases about the starter documents;
* ``docs/`` with starter documents, only when ``--docs`` is not given and the
  project has no ``docs/`` yet;
* ``.github/workflows/ragwright.yml`` (at the git repository's root, so GitHub
  finds it; it calls ragwright's action in the project's folder) and ``prefect.yaml``;
* ``.ragwright/`` added to ``.gitignore``.

Every conflict is found before anything is written: an existing file is never
overwritten without ``force``, and the result lists what was created, overwritten
and skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ragwright.errors import InputFileError, ScaffoldConflictError
from ragwright.project import PROJECT_FILE, find_project_root

__all__ = ["ANSWER_PROMPT", "TEMPLATE", "InitResult", "action_ref", "init_project"]

TEMPLATE = Path(__file__).resolve().parent / "template"
ANSWER_PROMPT = "rag_answer"
STATE_DIR = ".ragwright/"
WORKFLOW = Path(".github/workflows/ragwright.yml")
IGNORED = (STATE_DIR, ".ragwright.lock")
"""Local state, and the prompt store's lock file (prompts/.ragwright.lock)."""
_GITIGNORE_COMMENT = (
    "# ragwright's local state: index, cost records, MLflow runs, reports; lock files"
)


@dataclass(frozen=True, slots=True)
class InitResult:
    """What ``init`` did, for the CLI to print; every path is absolute."""

    root: Path
    created: tuple[Path, ...]
    overwritten: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...]
    notes: tuple[str, ...] = field(default=())


def action_ref() -> str:
    """The ``uses:`` reference of ragwright's GitHub Action at the installed version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ragwright/ragwright@v{version('ragwright')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "ragwright/ragwright@main"


def init_project(directory: Path, *, docs: Path | None = None, force: bool = False) -> InitResult:
    """Scaffold a project in ``directory`` (created if missing); see the module docstring.

    Raises :class:`ScaffoldConflictError`, having written nothing, when a file it
    would write exists and ``force`` is false.
    """
    root = directory.expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise InputFileError("not a folder: a project needs a folder", path=root)
    docs_dir, docs_skipped = _docs_choice(root, docs)
    skipped = [docs_skipped] if docs_skipped else []
    files = _planned_files(root, docs_dir, write_docs=docs_skipped is None)
    manifest = root / "prompts" / ANSWER_PROMPT / "prompt.yaml"
    blocked = sorted({a for p in files for a in p.parents if a.exists() and not a.is_dir()})
    if blocked:  # a file where a folder must go: even --force does not delete it
        raise ScaffoldConflictError(root, blocked, folders=True)
    conflicts = sorted(p for p in [*files, manifest] if p.exists())
    if conflicts and not force:
        raise ScaffoldConflictError(root, conflicts)
    try:
        return _write(
            root, files, manifest, conflicts=conflicts, skipped=skipped, own_docs=bool(docs_skipped)
        )
    except OSError as exc:
        where = exc.filename or root
        raise InputFileError(f"cannot write the project: {exc.strerror}", path=where) from exc


def _write(
    root: Path,
    files: dict[Path, bytes],
    manifest: Path,
    *,
    conflicts: list[Path],
    skipped: list[tuple[Path, str]],
    own_docs: bool,
) -> InitResult:
    """Write the planned files (conflicts checked), then prompt.yaml and .gitignore."""
    notes: list[str] = []
    parent_project = find_project_root(root.parent) if root.parent != root else None
    if parent_project is not None:
        notes.append(
            f"this project is nested inside the project at {parent_project}: commands run"
            f" under {root} use the new one"
        )
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    manifest.unlink(missing_ok=True)  # only reached with force when it existed
    _publish_first_version(root / "prompts")
    ignore = _ignore_state(root)
    created = [p for p in [*files, manifest] if p not in conflicts]
    if ignore is None:
        skipped.append((root / ".gitignore", f"already ignores {', '.join(IGNORED)}"))
    else:
        created.append(ignore)
    starter = {p.name for p in (TEMPLATE / "docs").glob("*.md")}
    docs_folder = root / "docs"
    kept_starter = docs_folder.is_dir() and starter <= {p.name for p in docs_folder.iterdir()}
    if own_docs and not kept_starter:
        notes.append(
            "golden_sets/starter.jsonl asks about the starter documents: replace its cases"
            " with questions about your own documents before relying on the gate"
        )
    return InitResult(
        root=root,
        created=tuple(sorted(created)),
        overwritten=tuple(conflicts),
        skipped=tuple(skipped),
        notes=tuple(notes),
    )


def _docs_choice(root: Path, docs: Path | None) -> tuple[str, tuple[Path, str] | None]:
    """``docs_dir`` for ragwright.toml, and why the starter documents are skipped (if so)."""
    if docs is None:
        if (root / "docs").exists():
            return "docs", (root / "docs", "exists: your documents are indexed")
        return "docs", None
    folder = docs.expanduser().resolve()
    if not folder.is_dir():
        raise InputFileError("documents folder does not exist", path=docs)
    try:
        value = folder.relative_to(root).as_posix() or "."
    except ValueError:
        value = folder.as_posix()  # outside the project: kept absolute
    return value, (folder, "--docs given: your documents are indexed")


def _planned_files(root: Path, docs_dir: str, *, write_docs: bool) -> dict[Path, bytes]:
    """Every file init writes (except prompt.yaml and .gitignore), with its content."""
    toml = (TEMPLATE / "ragwright.toml").read_text(encoding="utf-8")
    toml = toml.replace("@DOCS_DIR@", docs_dir).replace("@COLLECTION@", _collection(root))
    files: dict[Path, bytes] = {
        root / PROJECT_FILE: toml.encode("utf-8"),
        root / "prefect.yaml": (TEMPLATE / "prefect.yaml").read_bytes(),
        root / "golden_sets" / "starter.jsonl": (
            TEMPLATE / "golden_sets" / "starter.jsonl"
        ).read_bytes(),
        root / "prompts" / ANSWER_PROMPT / "v1.jinja2": (
            TEMPLATE / "prompts" / ANSWER_PROMPT / "v1.jinja2"
        ).read_bytes(),
    }
    top = _git_toplevel(root) or root
    files[top / WORKFLOW] = _workflow(root, top).encode("utf-8")
    if write_docs:
        for path in sorted((TEMPLATE / "docs").glob("*.md")):
            files[root / "docs" / path.name] = path.read_bytes()
    return files


def _collection(root: Path) -> str:
    """A Chroma collection name of this project (3-63 chars of [a-z0-9_], as Chroma allows)."""
    slug = re.sub(r"[^a-z0-9]+", "_", root.name.lower()).strip("_")[:50] or "ragwright"
    return f"{slug}_docs"


def _workflow(root: Path, top: Path) -> str:
    """The PR workflow, pointed at the project's folder inside the repository."""
    prefix = root.relative_to(top).as_posix() if root != top else ""
    paths = ", ".join(
        f'"{prefix}/{p}"' if prefix else f'"{p}"'
        for p in ("prompts/**", "golden_sets/**", PROJECT_FILE)
    )
    text = (TEMPLATE / "workflow.yml").read_text(encoding="utf-8")
    text = text.replace("@PATHS@", paths).replace("@ACTION@", action_ref())
    if prefix:
        return text.replace("@WORKDIR@", prefix)
    return re.sub(r"\n\s*with:\n\s*working-directory: \"@WORKDIR@\"", "", text)


def _git_toplevel(folder: Path) -> Path | None:
    """The git work tree holding ``folder`` (whose .github GitHub reads), if any."""
    probe = folder
    while not probe.exists():
        probe = probe.parent
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=probe,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 else None


def _publish_first_version(prompts: Path) -> None:
    """prompt.yaml through the real lifecycle: v1 published, then the production alias."""
    from ragwright.prompts.files import write_manifest
    from ragwright.prompts.lifecycle import Lifecycle, current_actor
    from ragwright.prompts.model import Manifest
    from ragwright.prompts.store import PromptStore

    manifest = Manifest(
        name=ANSWER_PROMPT,
        description="Answers a question from retrieved documents with [source-id] citations.",
    )
    write_manifest(prompts / ANSWER_PROMPT / "prompt.yaml", manifest)
    lifecycle = Lifecycle(PromptStore(prompts))
    by = current_actor()
    lifecycle.publish(ANSWER_PROMPT, "v1", by=by)
    lifecycle.promote(
        ANSWER_PROMPT,
        "v1",
        alias="production",
        force=True,
        reason="ragwright init: the first version serves until a gated one replaces it",
        find_evidence=lambda *_: None,
        by=by,
    )


def _ignore_state(root: Path) -> Path | None:
    """Append the ignored patterns .gitignore lacks; None when it has them all."""
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    present = {line.strip().strip("/") for line in text.splitlines()}
    missing = [p for p in IGNORED if p.strip("/") not in present]
    if not missing:
        return None
    separator = "" if not text or text.endswith("\n") else "\n"
    block = "\n".join([_GITIGNORE_COMMENT, *missing]) + "\n"
    path.write_text(text + separator + ("\n" if text else "") + block, encoding="utf-8")
    return path
