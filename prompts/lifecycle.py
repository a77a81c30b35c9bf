"""Changing the store: new versions, publishing, promotion with evidence, rollback.

Every change rewrites ``prompt.yaml`` atomically and appends to its history,
so the change itself is a reviewable commit; the read, the checks and the write
happen under the store's lock (:mod:`ragwright.prompts.lock`), so concurrent
changes never overwrite each other. Promotion refuses a version that
has no passing eval-gate run for its exact content hash, unless forced with a
reason, which the history records.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ragwright.errors import PromptError, PromptFileError
from ragwright.prompts.diff import VersionDiff, diff_versions
from ragwright.prompts.files import MANIFEST, read_manifest, read_version, write_manifest
from ragwright.prompts.integrity import verify_published
from ragwright.prompts.lock import store_lock
from ragwright.prompts.model import HistoryEntry, Manifest, VersionRecord, check_version
from ragwright.prompts.store import PromptStore, version_number

__all__ = [
    "Evidence",
    "EvidenceFinder",
    "Lifecycle",
    "VersionDiff",
    "current_actor",
    "diff_versions",
]


@dataclass(frozen=True, slots=True)
class Evidence:
    """A passing gate run for one prompt version hash (found in MLflow by the evals package)."""

    run_id: str
    golden_set: str
    golden_set_hash: str


EvidenceFinder = Callable[[str, str, str], Evidence | None]
"""(prompt name, version, content hash) -> the newest passing gate run, or None."""


def current_actor() -> str:
    """Who is changing the store: RAGWRIGHT_ACTOR, else git's user.email, else the OS user."""
    if actor := os.environ.get("RAGWRIGHT_ACTOR"):
        return actor
    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    return email or getpass.getuser()


def _production_stack(manifest: Manifest, alias: str) -> list[str]:
    """Versions the alias served, oldest first: promotions push, rollbacks pop."""
    stack: list[str] = []
    for entry in manifest.history:
        if entry.alias != alias:
            continue
        if entry.action == "promote":
            stack.append(entry.to_version)
        elif entry.action == "rollback" and stack:
            stack.pop()
    return stack


class Lifecycle:
    """Every change is a locked read-modify-write of ``prompt.yaml`` (:func:`store_lock`).

    Checks that need the current manifest run inside the lock, against a fresh
    read, so two commands at once apply one after the other and neither is lost.
    Slow work (looking up evidence in MLflow, mirroring to the registry) runs
    outside it.
    """

    def __init__(
        self, store: PromptStore, *, on_change: Callable[[str], None] | None = None
    ) -> None:
        self.store = store
        self.on_change = on_change  # e.g. mirror the prompt to MLflow's registry

    def _fresh(self, name: str) -> tuple[Path, Manifest]:
        """The prompt's writable folder and its manifest as on disk (call under the lock)."""
        folder = self.store.writable_folder(name)
        return folder, read_manifest(folder / MANIFEST, fresh=True)

    def _write(self, folder: Path, manifest: Manifest) -> None:
        write_manifest(folder / MANIFEST, manifest)

    def _changed(self, name: str) -> None:
        if self.on_change is not None:
            self.on_change(name)

    def _verified(self, name: str, version: str, manifest: Manifest) -> VersionRecord:
        check_version(name, version)
        record = manifest.versions.get(version)
        if record is None:
            raise PromptError(
                f"{name}@{version} is not published; run `ragwright prompts publish {name}"
                f" {version}` first"
            )
        root = self.store.layer_of(name).root
        file = read_version(root / name / f"{version}.jinja2")
        verify_published(f"{name}@{version}", file, record, root)
        return record

    def copy(self, name: str) -> Path:
        """Copy a built-in prompt into the project, where it overrides the built-in one.

        Version files and ``prompt.yaml`` are copied byte for byte, so hashes, aliases
        and history carry over and the copy serves exactly what the package did. The
        files land in a hidden folder first, renamed into place whole.
        """
        with store_lock(self.store.root):
            layer = self.store.layer_of(name)
            if layer.writable:
                raise PromptError(
                    f"'{name}' is already a project prompt ({layer.root / name}): change it"
                    f" with `ragwright prompts new {name} --from VERSION`"
                )
            source = layer.root / name
            target = self.store.root / name
            if target.exists():
                raise PromptError(f"{target} exists but holds no {MANIFEST}: move it away first")
            staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.store.root))
            try:
                for path in sorted(source.iterdir()):
                    if path.is_file() and (path.name == MANIFEST or path.suffix == ".jinja2"):
                        (staging / path.name).write_bytes(path.read_bytes())
                staging.rename(target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return target

    def new(self, name: str, from_version: str) -> Path:
        """Copy ``from_version`` to the next free version number, as a draft to edit."""
        source = self.store.get(f"{name}@{from_version}")
        with store_lock(self.store.root):
            folder = self.store.writable_folder(name)
            existing = self.store.version_ids(name)
            target = folder / f"v{max(version_number(v) for v in existing) + 1}.jinja2"
            with target.open("xb") as handle:  # never overwrite, even a file made meanwhile
                handle.write(source.file.path.read_bytes())
        return target

    def publish(self, name: str, version: str, *, by: str | None = None) -> VersionRecord:
        """Freeze a draft: record its hash and its includes' hashes; it never changes again.

        The draft must compile, pass the sandbox, include only published versions,
        and render its ``example`` within the render limits, as lint demands.
        """
        check_version(name, version)
        with store_lock(self.store.root):
            folder, manifest = self._fresh(name)
            if version in manifest.versions:
                raise PromptError(
                    f"{name}@{version} is already published"
                    f" ({manifest.versions[version].hash[:19]}...)"
                )
            file = read_version(folder / f"{version}.jinja2")
            renderer = self.store.renderer(name)
            includes = renderer.include_closure(file)
            try:
                renderer.render(name, version, file, file.meta.example)
            except PromptFileError:
                raise
            except PromptError as exc:
                raise type(exc)(
                    f"{exc} (publish renders the version's front-matter example, as"
                    " `ragwright prompts lint` does; fix the template or the example)"
                ) from exc
            now = datetime.now(UTC)
            record = VersionRecord(hash=file.hash, published_at=now, includes=includes or None)
            manifest.versions[version] = record
            manifest.history.append(
                HistoryEntry(at=now, by=by or current_actor(), action="publish", to_version=version)
            )
            self._write(folder, manifest)
        self._changed(name)
        return record

    def promote(
        self,
        name: str,
        version: str,
        *,
        find_evidence: EvidenceFinder,
        alias: str = "production",
        force: bool = False,
        reason: str | None = None,
        by: str | None = None,
    ) -> HistoryEntry:
        """Point ``alias`` at ``version``, with evidence of a passing gate run or forced.

        Evidence is looked up before taking the lock (MLflow can take seconds); the
        locked step re-reads the manifest and refuses if the version's hash moved.
        """
        self.store.writable_folder(name)  # refuse a built-in prompt before looking for evidence
        before = self.store.manifest(name)
        looked_up = self._verified(name, version, before)
        if before.aliases.get(alias) == version:
            raise PromptError(f"{name}:{alias} already points at {version}")
        if force and not (reason and reason.strip()):
            raise PromptError(
                "--force needs --reason: the history records why the gate was skipped"
            )
        evidence = find_evidence(name, version, looked_up.hash)
        if evidence is None and not force:
            raise PromptError(
                f"no passing eval-gate run for {name}@{version} ({looked_up.hash[:19]}...) on"
                f" the configured golden set; run `ragwright eval gate --candidate"
                f' {name}@{version}` first, or override with --force --reason "..."'
            )
        with store_lock(self.store.root):
            folder, manifest = self._fresh(name)
            record = self._verified(name, version, manifest)
            current = manifest.aliases.get(alias)
            if current == version:
                raise PromptError(f"{name}:{alias} already points at {version}")
            entry = HistoryEntry(
                at=datetime.now(UTC),
                by=by or current_actor(),
                action="promote",
                alias=alias,
                from_version=current,
                to_version=version,
                evidence=evidence.run_id if evidence else None,
                forced=evidence is None,
                reason=reason,
            )
            manifest.aliases[alias] = version
            if evidence is not None:
                manifest.versions[version] = record.model_copy(update={"eval_run": evidence.run_id})
            manifest.history.append(entry)
            self._write(folder, manifest)
        self._changed(name)
        return entry

    def rollback(
        self, name: str, *, alias: str = "production", by: str | None = None
    ) -> HistoryEntry:
        with store_lock(self.store.root):
            folder, manifest = self._fresh(name)
            stack = _production_stack(manifest, alias)
            current = manifest.aliases.get(alias)
            if len(stack) < 2 or stack[-1] != current:
                raise PromptError(
                    f"{name}:{alias} has no previous version to roll back to"
                    f" (history: {' -> '.join(stack) or 'empty'})"
                )
            self._verified(name, stack[-2], manifest)
            entry = HistoryEntry(
                at=datetime.now(UTC),
                by=by or current_actor(),
                action="rollback",
                alias=alias,
                from_version=current,
                to_version=stack[-2],
            )
            manifest.aliases[alias] = stack[-2]
            manifest.history.append(entry)
            self._write(folder, manifest)
        self._changed(name)
        return entry
