"""Changing the store: new versions, publishing, promotion with evidence, rollback.

Every change rewrites ``prompt.yaml`` atomically and appends to its history,
so the change itself is a reviewable commit. Promotion refuses a version that
has no passing eval-gate run for its exact content hash, unless forced with a
reason, which the history records.
"""

from __future__ import annotations

import difflib
import getpass
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ragwright.errors import PromptError
from ragwright.prompts.files import MANIFEST, read_version, write_manifest
from ragwright.prompts.model import HistoryEntry, Manifest, VersionRecord
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


@dataclass(frozen=True, slots=True)
class VersionDiff:
    text: str
    added_variables: list[str]
    removed_variables: list[str]
    changed_variables: list[str]
    changed_metadata: list[str]


def diff_versions(store: PromptStore, name: str, a: str, b: str) -> VersionDiff:
    left, right = store.get(f"{name}@{a}"), store.get(f"{name}@{b}")
    text = "".join(
        difflib.unified_diff(
            left.file.path.read_text(encoding="utf-8").splitlines(keepends=True),
            right.file.path.read_text(encoding="utf-8").splitlines(keepends=True),
            fromfile=f"{name}@{a}",
            tofile=f"{name}@{b}",
        )
    )
    lv, rv = left.file.meta.variables, right.file.meta.variables
    meta_fields = ("description", "model", "owner", "parameters")
    return VersionDiff(
        text=text,
        added_variables=sorted(set(rv) - set(lv)),
        removed_variables=sorted(set(lv) - set(rv)),
        changed_variables=sorted(v for v in set(lv) & set(rv) if lv[v] != rv[v]),
        changed_metadata=[
            f for f in meta_fields if getattr(left.file.meta, f) != getattr(right.file.meta, f)
        ],
    )


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
    def __init__(
        self, store: PromptStore, *, on_change: Callable[[str], None] | None = None
    ) -> None:
        self.store = store
        self.on_change = on_change  # e.g. mirror the prompt to MLflow's registry

    def _write(self, name: str, manifest: Manifest) -> None:
        write_manifest(self.store.writable_folder(name) / MANIFEST, manifest)
        if self.on_change is not None:
            self.on_change(name)

    def _verified(self, name: str, version: str) -> tuple[Manifest, VersionRecord]:
        manifest = self.store.manifest(name)
        record = manifest.versions.get(version)
        if record is None:
            raise PromptError(
                f"{name}@{version} is not published; run `ragwright prompts publish {name}"
                f" {version}` first"
            )
        current = read_version(self.store.folder(name) / f"{version}.jinja2").hash
        if current != record.hash:
            raise PromptError(
                f"{name}@{version} was edited after publishing (hash {current[:19]}... vs"
                f" recorded {record.hash[:19]}...); restore it and create a new version"
            )
        return manifest, record

    def copy(self, name: str) -> Path:
        """Copy a built-in prompt into the project, where it overrides the built-in one.

        Version files and ``prompt.yaml`` are copied byte for byte, so hashes, aliases
        and history carry over and the copy serves exactly what the package did.
        """
        layer = self.store.layer_of(name)
        if layer.writable:
            raise PromptError(
                f"'{name}' is already a project prompt ({layer.root / name}): change it with"
                f" `ragwright prompts new {name} --from VERSION`"
            )
        source = layer.root / name
        target = self.store.root / name
        if target.exists():
            raise PromptError(f"{target} exists but holds no {MANIFEST}: move it away first")
        target.mkdir()
        for path in sorted(source.iterdir()):
            if path.is_file() and (path.name == MANIFEST or path.suffix == ".jinja2"):
                (target / path.name).write_bytes(path.read_bytes())
        return target

    def new(self, name: str, from_version: str) -> Path:
        """Copy ``from_version`` to the next free version number, as a draft to edit."""
        folder = self.store.writable_folder(name)
        source = self.store.get(f"{name}@{from_version}")
        existing = self.store.version_ids(name)
        target_id = f"v{max(version_number(v) for v in existing) + 1}"
        target = folder / f"{target_id}.jinja2"
        target.write_bytes(source.file.path.read_bytes())
        return target

    def publish(self, name: str, version: str, *, by: str | None = None) -> VersionRecord:
        """Freeze a draft: record its content hash. Published versions never change."""
        folder = self.store.writable_folder(name)
        manifest = self.store.manifest(name)
        file = read_version(folder / f"{version}.jinja2")
        self.store.renderer(name).compile(file)  # syntax and sandbox check before freezing
        if version in manifest.versions:
            raise PromptError(
                f"{name}@{version} is already published ({manifest.versions[version].hash[:19]}...)"
            )
        now = datetime.now(UTC)
        record = VersionRecord(hash=file.hash, published_at=now)
        manifest.versions[version] = record
        manifest.history.append(
            HistoryEntry(at=now, by=by or current_actor(), action="publish", to_version=version)
        )
        self._write(name, manifest)
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
        self.store.writable_folder(name)  # refuse a built-in prompt before looking for evidence
        manifest, record = self._verified(name, version)
        current = manifest.aliases.get(alias)
        if current == version:
            raise PromptError(f"{name}:{alias} already points at {version}")
        if force and not (reason and reason.strip()):
            raise PromptError(
                "--force needs --reason: the history records why the gate was skipped"
            )
        evidence = find_evidence(name, version, record.hash)
        if evidence is None and not force:
            raise PromptError(
                f"no passing eval-gate run for {name}@{version} ({record.hash[:19]}...) on the"
                f" configured golden set; run `ragwright eval gate --candidate {name}@{version}`"
                ' first, or override with --force --reason "..."'
            )
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
        self._write(name, manifest)
        return entry

    def rollback(
        self, name: str, *, alias: str = "production", by: str | None = None
    ) -> HistoryEntry:
        self.store.writable_folder(name)
        manifest = self.store.manifest(name)
        stack = _production_stack(manifest, alias)
        current = manifest.aliases.get(alias)
        if len(stack) < 2 or stack[-1] != current:
            raise PromptError(
                f"{name}:{alias} has no previous version to roll back to"
                f" (history: {' -> '.join(stack) or 'empty'})"
            )
        self._verified(name, stack[-2])
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
        self._write(name, manifest)
        return entry
