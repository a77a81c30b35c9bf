"""Strict, sandboxed rendering of one prompt version into chat messages.

* Jinja's ``ImmutableSandboxedEnvironment`` blocks attribute walks such as
  ``''.__class__.__mro__`` and calls to unsafe callables; a template is also
  checked statically for underscore attributes before it ever renders.
* :class:`~ragwright.prompts.sandbox.BoundedSandbox` bounds each render's time
  (``render_timeout_s``) and the size of what it builds (``render_max_chars``).
* ``StrictUndefined``: a variable the inputs do not provide is an error, never
  an empty string.
* Inputs are validated against a pydantic model built from the front matter
  (:mod:`ragwright.prompts.inputs`): a missing, unknown or mistyped variable
  names prompt, version and variable.
* ``include``/``extends``/``import`` name a constant ``NAME/vN.jinja2`` and load
  only published, unchanged versions of the same layer; publishing records their
  hashes, so nothing a published version includes can change its output.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes

from ragwright.errors import PromptError, PromptFileError, RenderError, TemplateSecurityError
from ragwright.prompts.files import MANIFEST, VersionFile, read_manifest, read_version
from ragwright.prompts.inputs import validate_inputs
from ragwright.prompts.integrity import verify_published
from ragwright.prompts.limits import DEFAULT_LIMITS, RenderLimits
from ragwright.prompts.sandbox import BoundedSandbox
from ragwright.providers.base import Message

__all__ = ["PART_NAMES", "CompiledVersion", "RenderLimits", "RenderedPrompt", "Renderer"]

PART_NAMES = ("system", "user", "assistant")
_INCLUDE_NAME = re.compile(r"([a-z][a-z0-9_]*)/(v[1-9][0-9]*)\.jinja2")


@dataclass(frozen=True, slots=True)
class RenderedPrompt:
    name: str
    version: str
    hash: str
    messages: tuple[Message, ...]
    parameters: Mapping[str, float | int]

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def text(self) -> str:
        return "\n\n".join(f"[{m.role}]\n{m.content}" for m in self.messages)


class _PublishedLoader(jinja2.BaseLoader):
    """Loads include/extends/import targets: published, unchanged versions of one layer only.

    A draft can still change, and a file outside the store was never reviewed as a
    prompt; either would change a published version's output without changing its
    hash, so neither loads. Targets are named ``NAME/vN.jinja2``, front matter stripped.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def published(self, target: str) -> tuple[str, VersionFile]:
        """``(name@vN, file)`` of an include target, verified against its manifest."""
        match = _INCLUDE_NAME.fullmatch(target)
        if match is None:
            raise jinja2.TemplateNotFound(
                f"{target} (only published versions of this store load, named NAME/vN.jinja2"
                f" inside {self.root})"
            )
        name, version = match.groups()
        path = self.root / name / f"{version}.jinja2"
        if not path.is_file() or not path.resolve().is_relative_to(self.root):
            raise jinja2.TemplateNotFound(f"{target} (no such version inside {self.root})")
        record = read_manifest(path.parent / MANIFEST, copy=False).versions.get(version)
        ref = f"{name}@{version}"
        if record is None:
            raise TemplateSecurityError(
                f"'{target}' is a draft, and only published versions can be included (a draft"
                f" can still change): publish it first with `ragwright prompts publish {name}"
                f" {version}`"
            )
        file = read_version(path)
        verify_published(ref, file, record, self.root)
        return ref, file

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        _, file = self.published(template)
        manifest = file.path.parent / MANIFEST
        stamp = (_stamp(file.path), _stamp(manifest))
        text = "\n" * (file.body_line - 1) + file.body  # keep line numbers true to the file
        return text, str(file.path), lambda: (_stamp(file.path), _stamp(manifest)) == stamp


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


def _unsafe_attributes(tree: nodes.Template) -> Iterator[str]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            yield name


def _include_targets(tree: nodes.Template, path: Path) -> tuple[str, ...]:
    """Targets of include/extends/import; each must be a constant, so it is fixed on publish."""
    targets: list[str] = []
    for node in tree.find_all((nodes.Include, nodes.Extends, nodes.Import, nodes.FromImport)):
        target = node.template  # type: ignore[attr-defined]  # all four nodes have it
        if not (isinstance(target, nodes.Const) and isinstance(target.value, str)):
            raise TemplateSecurityError(
                f"{path}:{node.lineno}: include, extends and import must name one version as a"
                " quoted 'NAME/vN.jinja2', so what a version includes is fixed when it is"
                " published"
            )
        targets.append(target.value)
    return tuple(dict.fromkeys(targets))


@dataclass(frozen=True, slots=True)
class CompiledVersion:
    template: jinja2.Template
    includes: tuple[str, ...]  # include/extends/import targets, as written


class Renderer:
    """Compiles and renders version files of one prompts tree, within :class:`RenderLimits`."""

    def __init__(self, root: Path, limits: RenderLimits = DEFAULT_LIMITS) -> None:
        self.root = root.resolve()
        self.limits = limits
        self._loader = _PublishedLoader(self.root)
        self.env = BoundedSandbox(
            limits,
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # prompts are plain text, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._compiled: dict[tuple[str, str], CompiledVersion] = {}  # by path and content hash

    @classmethod
    @functools.lru_cache(maxsize=16)
    def for_root(cls, root: Path, limits: RenderLimits = DEFAULT_LIMITS) -> Renderer:
        """One renderer per prompts tree, limits and process, so compiled templates outlive a store.

        Every eval run and chain opens a store; compiling and security-checking the
        same templates again cost more than a cached run's rendering. Templates are
        keyed by content hash, and Jinja re-checks included files, so sharing is safe.
        """
        return cls(root.resolve(), limits)

    def compile(self, version: VersionFile) -> CompiledVersion:
        key = (str(version.path), version.hash)
        if (cached := self._compiled.get(key)) is not None:
            return cached
        compiled = self._compile(version)
        self._compiled[key] = compiled
        return compiled

    def _compile(self, version: VersionFile) -> CompiledVersion:
        """Parse and security-check a version's template; errors name the file and line."""
        relative = self._relative(version.path)
        source = "\n" * (version.body_line - 1) + version.body  # line numbers as in the file
        try:
            tree = self.env.parse(source, name=relative, filename=str(version.path))
            unsafe = sorted(set(_unsafe_attributes(tree)))
            if unsafe:
                raise TemplateSecurityError(
                    f"{version.path}: access to private attributes {unsafe} is not allowed in"
                    " prompt templates"
                )
            includes = _include_targets(tree, version.path)
            code = self.env.compile(tree, name=relative, filename=str(version.path))
        except jinja2.TemplateSyntaxError as exc:  # and TemplateAssertionError: unknown filter
            raise PromptFileError(
                f"template syntax: {exc.message}", path=version.path, line=exc.lineno
            ) from exc
        template = self.env.template_class.from_code(self.env, code, self.env.make_globals(None))
        return CompiledVersion(template, includes)

    def include_closure(self, version: VersionFile) -> dict[str, str]:
        """Every version ``version`` includes, directly or through another: ``name@vN`` -> hash.

        Each must be a published, unchanged version of this layer; publishing records
        the result, so an include can never change a published version's output.
        """
        found: dict[str, str] = {}
        pending = [(version, target) for target in self.compile(version).includes]
        while pending:
            by, target = pending.pop()
            try:
                ref, file = self._loader.published(target)
            except jinja2.TemplateNotFound as exc:
                raise PromptError(f"{by.path}: cannot include {exc.message}") from exc
            if ref not in found:
                found[ref] = file.hash
                pending.extend((file, t) for t in self.compile(file).includes)
        return dict(sorted(found.items()))

    def render(
        self, name: str, version_id: str, version: VersionFile, inputs: Mapping[str, Any]
    ) -> RenderedPrompt:
        values = validate_inputs(name, version_id, version.meta.variables, inputs)
        template = self.compile(version).template
        where = f"prompt {name}@{version_id}"
        token = self.env.budget.start()
        try:
            messages = _render_parts(self.env, template, values)
        except PromptFileError:
            raise  # names its file and line already
        except PromptError as exc:  # a limit, a draft or edited include
            raise type(exc)(f"{where}: {exc}") from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateSecurityError(f"{where}: blocked by the sandbox: {exc}") from exc
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{where}: undefined value in template: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"{where}: {exc}") from exc
        except Exception as exc:  # a Python error inside an expression, e.g. 1 // 0
            raise RenderError(f"{where}: template raised {type(exc).__name__}: {exc}") from exc
        finally:
            self.env.budget.stop(token)
        return RenderedPrompt(
            name=name,
            version=version_id,
            hash=version.hash,
            messages=messages,
            parameters=dict(version.meta.parameters),
        )

    def _relative(self, path: Path) -> str:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            raise PromptError(f"{path} resolves outside the prompt store {self.root}")
        return resolved.relative_to(self.root).as_posix()


def _render_parts(
    env: BoundedSandbox, template: jinja2.Template, values: dict[str, Any]
) -> tuple[Message, ...]:
    """Render chat parts (blocks named system/user/assistant), following ``extends``.

    Rendering the root first lets an ``extends`` chain register its parents'
    blocks in the context; each part is then the most-derived block of its name.
    Output is joined by the sandbox, which stops at ``render_max_chars``.
    """
    context = template.new_context(values)
    whole = env.concat(template.root_render_func(context)).strip()
    parts = [p for p in PART_NAMES if p in context.blocks]
    if not parts:
        return (Message(role="user", content=whole),)
    messages = tuple(
        Message(role=p, content=env.concat(context.blocks[p][0](context)).strip())  # type: ignore[arg-type]
        for p in parts
    )
    env.budget.want(sum(len(m.content) for m in messages), "the rendered prompt")
    return messages
