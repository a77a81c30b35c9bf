"""The prompt store: a folder per prompt, a file per version, a manifest of aliases.

::

    prompts/
      rag_answer/
        prompt.yaml       aliases, published versions with content hashes, history
        v1.jinja2         front matter + template; immutable once published
        v2.jinja2

The store reads from git-tracked files only, so what serves is always what
was reviewed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ragwright.errors import PromptError
from ragwright.prompts.files import MANIFEST, VersionFile, read_manifest, read_version
from ragwright.prompts.model import VERSION_PATTERN, Manifest, PromptRef
from ragwright.prompts.render import RenderedPrompt, Renderer

__all__ = ["PromptStore", "PromptVersion"]


@dataclass(frozen=True, slots=True)
class PromptVersion:
    name: str
    version: str
    file: VersionFile
    published: bool

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def hash(self) -> str:
        return self.file.hash


def version_number(version: str) -> int:
    return int(version[1:])


class PromptStore:
    """Reads prompts under ``root``; changes go through :mod:`ragwright.prompts.lifecycle`."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise PromptError(f"prompt store {root} does not exist (set RAGWRIGHT_PROMPTS_DIR)")
        self.root = root.resolve()
        self.renderer = Renderer.for_root(self.root)

    def names(self) -> list[str]:
        return sorted(p.parent.name for p in self.root.glob(f"*/{MANIFEST}"))

    def folder(self, name: str) -> Path:
        folder = self.root / name
        if not (folder / MANIFEST).is_file():
            known = ", ".join(self.names()) or "none"
            raise PromptError(f"unknown prompt '{name}' in {self.root} (known: {known})")
        return folder

    def manifest(self, name: str) -> Manifest:
        return read_manifest(self.folder(name) / MANIFEST)

    def version_ids(self, name: str) -> list[str]:
        """Every version file present, published or draft, in numeric order."""
        found = [
            p.stem for p in self.folder(name).glob("v*.jinja2") if VERSION_PATTERN.match(p.stem)
        ]
        return sorted(found, key=version_number)

    def resolve(self, ref: PromptRef | str) -> tuple[str, str]:
        """Turn a reference into (name, version id), following aliases."""
        ref = PromptRef.parse(ref) if isinstance(ref, str) else ref
        if ref.version is not None:
            if not (self.folder(ref.name) / f"{ref.version}.jinja2").is_file():
                raise PromptError(
                    f"prompt '{ref.name}' has no version {ref.version}"
                    f" (versions: {', '.join(self.version_ids(ref.name))})"
                )
            return ref.name, ref.version
        manifest = read_manifest(self.folder(ref.name) / MANIFEST, copy=False)
        assert ref.alias is not None
        if ref.alias not in manifest.aliases:
            raise PromptError(
                f"prompt '{ref.name}' has no alias '{ref.alias}'"
                f" (aliases: {', '.join(sorted(manifest.aliases)) or 'none'})"
            )
        return ref.name, manifest.aliases[ref.alias]

    def get(self, ref: PromptRef | str) -> PromptVersion:
        name, version = self.resolve(ref)
        folder = self.root / name  # resolve() checked that it is a prompt folder
        file = read_version(folder / f"{version}.jinja2")
        published = version in read_manifest(folder / MANIFEST, copy=False).versions
        return PromptVersion(name=name, version=version, file=file, published=published)

    def render(self, ref: PromptRef | str, inputs: Mapping[str, Any]) -> RenderedPrompt:
        version = self.get(ref)
        return self.renderer.render(version.name, version.version, version.file, inputs)
