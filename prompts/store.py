"""The prompt store: a folder per prompt, a file per version, a manifest of aliases.

::

    prompts/
      rag_answer/
        prompt.yaml       aliases, published versions with content hashes, history
        v1.jinja2         front matter + template; immutable once published
        v2.jinja2

The store has two layers. The project's ``prompts/`` is the only writable one;
the built-in judge prompts ship as read-only package data underneath it
(``ragwright/prompts/builtin``). A project prompt of the same name overrides a
built-in one, so a team tunes a judge by copying it into the project
(``ragwright prompts copy``), never by editing the installed package.

The store reads from git-tracked files only, so what serves is always what
was reviewed: a published version whose file (or anything it includes) no
longer has its recorded hash is refused, and serving can ask for published
versions only (:meth:`PromptStore.render` with ``published_only``). Every
name is checked against the prompt-name pattern before it becomes a path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ragwright.errors import DraftPromptError, PromptError, ReadOnlyPromptError
from ragwright.prompts.files import MANIFEST, VersionFile, read_manifest, read_version
from ragwright.prompts.integrity import verify_published
from ragwright.prompts.limits import DEFAULT_LIMITS, RenderLimits
from ragwright.prompts.model import (
    NAME_PATTERN,
    VERSION_PATTERN,
    Manifest,
    PromptRef,
    check_name,
)
from ragwright.prompts.render import RenderedPrompt, Renderer

if TYPE_CHECKING:
    from ragwright.settings import Settings

__all__ = ["BUILTIN_DIR", "Layer", "PromptStore", "PromptVersion"]

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
"""Built-in prompts (the LLM judges), shipped read-only inside the package."""


@dataclass(frozen=True, slots=True)
class Layer:
    """One folder of prompts; the first layer holding a name serves it."""

    name: Literal["project", "built-in"]
    root: Path

    @property
    def writable(self) -> bool:
        return self.name == "project"


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
    """Reads prompts from the project's ``root`` over the built-in layer.

    Changes go through :mod:`ragwright.prompts.lifecycle`, which writes only in
    :meth:`writable_folder`. ``builtin=None`` leaves the built-in layer out;
    ``limits`` bound every render (:class:`RenderLimits`: time and size).
    """

    def __init__(
        self,
        root: Path,
        *,
        builtin: Path | None = BUILTIN_DIR,
        limits: RenderLimits = DEFAULT_LIMITS,
    ) -> None:
        if not root.is_dir():
            raise PromptError(
                f"prompt store {root} does not exist: create it with `ragwright init`,"
                " or set prompts_dir in ragwright.toml"
            )
        self.root = root.resolve()
        layers = [Layer("project", self.root)]
        if builtin is not None and builtin.resolve() != self.root:
            layers.append(Layer("built-in", builtin.resolve()))
        self.layers = tuple(layers)
        self._renderers = {
            layer.name: Renderer.for_root(layer.root, limits) for layer in self.layers
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptStore:
        """The project's store, rendering within ``render_timeout_s`` and ``render_max_chars``."""
        return cls(settings.prompts_dir, limits=RenderLimits.from_settings(settings))

    def names(self, layer: Literal["project", "built-in"] | None = None) -> list[str]:
        """Every prompt name served, or only those a given layer holds."""
        found = {
            path.parent.name
            for each in self.layers
            if layer in (None, each.name)
            for path in each.root.glob(f"*/{MANIFEST}")
            if NAME_PATTERN.fullmatch(path.parent.name)  # not .hidden or temporary folders
        }
        return sorted(found)

    def layer_of(self, name: str) -> Layer:
        """The layer that serves ``name``: the project's, unless only the package has it.

        Every method taking a name comes through here, so a name that is not a
        prompt name (``..``, ``/abs``, ``a/b``, ``.hidden``) never becomes a path.
        """
        check_name(name)
        for layer in self.layers:
            if (layer.root / name / MANIFEST).is_file():
                return layer
        searched = " and ".join(f"{layer.name} prompts in {layer.root}" for layer in self.layers)
        known = ", ".join(self.names()) or "none"
        raise PromptError(f"unknown prompt '{name}': searched {searched} (known: {known})")

    def folder(self, name: str) -> Path:
        return self.layer_of(name).root / name

    def writable_folder(self, name: str) -> Path:
        """The prompt's folder, if it is the project's: nothing writes inside the package."""
        layer = self.layer_of(name)
        if not layer.writable:
            raise ReadOnlyPromptError(
                f"'{name}' is a built-in prompt, read-only in the installed package"
                f" ({layer.root / name}); copy it into the project with `ragwright prompts copy"
                f" {name}`: the copy in {self.root / name} then overrides the built-in one"
            )
        return layer.root / name

    def renderer(self, name: str) -> Renderer:
        """The renderer of the layer serving ``name`` (``include`` stays inside a layer)."""
        return self._renderers[self.layer_of(name).name]

    def manifest(self, name: str) -> Manifest:
        return read_manifest(self.folder(name) / MANIFEST)

    def version_ids(self, name: str) -> list[str]:
        """Every version file present, published or draft, in numeric order."""
        found = [
            p.stem for p in self.folder(name).glob("v*.jinja2") if VERSION_PATTERN.fullmatch(p.stem)
        ]
        return sorted(found, key=version_number)

    def resolve(self, ref: PromptRef | str) -> tuple[str, str]:
        """Turn a reference into (name, version id), following aliases."""
        name, version, _ = self._locate(ref)
        return name, version

    def _locate(self, ref: PromptRef | str) -> tuple[str, str, Layer]:
        """(name, version id, serving layer): the layer is looked up once per render."""
        ref = PromptRef.parse(ref) if isinstance(ref, str) else ref
        layer = self.layer_of(ref.name)
        folder = layer.root / ref.name
        if ref.version is not None:
            if not (folder / f"{ref.version}.jinja2").is_file():
                raise PromptError(
                    f"prompt '{ref.name}' has no version {ref.version}"
                    f" (versions: {', '.join(self.version_ids(ref.name))})"
                )
            return ref.name, ref.version, layer
        manifest = read_manifest(folder / MANIFEST, copy=False)
        assert ref.alias is not None
        if ref.alias not in manifest.aliases:
            raise PromptError(
                f"prompt '{ref.name}' has no alias '{ref.alias}'"
                f" (aliases: {', '.join(sorted(manifest.aliases)) or 'none'})"
            )
        return ref.name, manifest.aliases[ref.alias], layer

    def get(
        self, ref: PromptRef | str, *, verify: bool = True, published_only: bool = False
    ) -> PromptVersion:
        """One version; a published one must still hash as recorded, includes too.

        ``published_only`` (serving) refuses drafts. ``verify=False`` is for
        inspection (diff, lint's own report), never for rendering: an edited
        published version would serve unreviewed text.
        """
        return self._get(ref, verify=verify, published_only=published_only)[0]

    def _get(
        self, ref: PromptRef | str, *, verify: bool, published_only: bool
    ) -> tuple[PromptVersion, Layer]:
        name, version, layer = self._locate(ref)
        folder = layer.root / name
        file = read_version(folder / f"{version}.jinja2")
        record = read_manifest(folder / MANIFEST, copy=False).versions.get(version)
        if record is None and published_only:
            raise DraftPromptError(
                f"{name}@{version} is a draft: serving renders published versions only. Publish"
                f" it with `ragwright prompts publish {name} {version}` (evaluations render"
                f" drafts: `ragwright eval run --prompt {name}@{version}`)"
            )
        if verify and record is not None:
            verify_published(f"{name}@{version}", file, record, layer.root)
        found = PromptVersion(name=name, version=version, file=file, published=record is not None)
        return found, layer

    def render(
        self, ref: PromptRef | str, inputs: Mapping[str, Any], *, published_only: bool = False
    ) -> RenderedPrompt:
        """Render a version; ``published_only`` (serving) refuses drafts.

        Drafts render for authors (``ragwright prompts render``) and evaluations
        (a pull request gates a draft); what answers users must have been published.
        """
        version, layer = self._get(ref, verify=True, published_only=published_only)
        return self._renderers[layer.name].render(
            version.name, version.version, version.file, inputs
        )
