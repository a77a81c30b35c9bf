"""Strict, sandboxed rendering of one prompt version into chat messages.

* Jinja's ``ImmutableSandboxedEnvironment`` blocks attribute walks such as
  ``''.__class__.__mro__`` and calls to unsafe callables; a template is also
  checked statically for underscore attributes before it ever renders.
* ``StrictUndefined``: a variable the inputs do not provide is an error, never
  an empty string.
* Inputs are validated against a pydantic model built from the front matter:
  a missing, unknown or mistyped variable names prompt, version and variable.
* ``include``/``extends`` resolve only inside the prompts tree.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from ragwright.errors import PromptError, PromptFileError, RenderError, TemplateSecurityError
from ragwright.prompts.files import VersionFile, split_front_matter
from ragwright.prompts.model import VariableSpec
from ragwright.providers.base import Message

__all__ = ["PART_NAMES", "RenderedPrompt", "Renderer"]

PART_NAMES = ("system", "user", "assistant")
_PY_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
}


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


class _TreeLoader(jinja2.BaseLoader):
    """Loads ``name/vN.jinja2`` relative to the store root, front matter stripped."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = (self.root / template).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            raise jinja2.TemplateNotFound(f"{template} (only files inside {self.root} load)")
        text = path.read_text(encoding="utf-8")
        if text.startswith("---"):
            _, body, body_line = split_front_matter(text, path)
            text = "\n" * (body_line - 1) + body  # keep line numbers true to the file
        mtime = path.stat().st_mtime
        return text, str(path), lambda: path.stat().st_mtime == mtime


def _unsafe_attributes(tree: nodes.Template) -> Iterator[str]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            yield name


class Renderer:
    """Compiles and renders version files of one prompts tree."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.env = ImmutableSandboxedEnvironment(
            loader=_TreeLoader(self.root),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # prompts are plain text, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._compiled: dict[tuple[str, str], jinja2.Template] = {}  # by path and content hash

    @classmethod
    @functools.lru_cache(maxsize=16)
    def for_root(cls, root: Path) -> Renderer:
        """One renderer per prompts tree and process, so compiled templates outlive a store.

        Every eval run and chain opens a store; compiling and security-checking the
        same templates again cost more than a cached run's rendering. Templates are
        keyed by content hash, and Jinja re-checks included files, so sharing is safe.
        """
        return cls(root.resolve())

    def compile(self, version: VersionFile) -> jinja2.Template:
        key = (str(version.path), version.hash)
        if (cached := self._compiled.get(key)) is not None:
            return cached
        template = self._compile(version)
        self._compiled[key] = template
        return template

    def _compile(self, version: VersionFile) -> jinja2.Template:
        """Parse and security-check a version's template; errors name the file and line."""
        source, _, _ = self.env.loader.get_source(self.env, self._relative(version.path))  # type: ignore[union-attr]
        try:
            tree = self.env.parse(source, filename=str(version.path))
        except jinja2.TemplateSyntaxError as exc:
            raise PromptFileError(
                f"template syntax: {exc.message}", path=version.path, line=exc.lineno
            ) from exc
        unsafe = sorted(set(_unsafe_attributes(tree)))
        if unsafe:
            raise TemplateSecurityError(
                f"{version.path}: access to private attributes {unsafe} is not allowed in"
                " prompt templates"
            )
        return self.env.get_template(self._relative(version.path))

    def render(
        self, name: str, version_id: str, version: VersionFile, inputs: Mapping[str, Any]
    ) -> RenderedPrompt:
        values = validate_inputs(name, version_id, version.meta.variables, inputs)
        template = self.compile(version)
        where = f"prompt {name}@{version_id}"
        try:
            messages = _render_parts(template, values)
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateSecurityError(f"{where}: blocked by the sandbox: {exc}") from exc
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{where}: undefined value in template: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise RenderError(f"{where}: {exc}") from exc
        except Exception as exc:  # a Python error inside an expression, e.g. 1 // 0
            raise RenderError(f"{where}: template raised {type(exc).__name__}: {exc}") from exc
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


def _render_parts(template: jinja2.Template, values: dict[str, Any]) -> tuple[Message, ...]:
    """Render chat parts (blocks named system/user/assistant), following ``extends``.

    Rendering the root first lets an ``extends`` chain register its parents'
    blocks in the context; each part is then the most-derived block of its name.
    """
    context = template.new_context(values)
    whole = "".join(template.root_render_func(context)).strip()
    parts = [p for p in PART_NAMES if p in context.blocks]
    if not parts:
        return (Message(role="user", content=whole),)
    return tuple(
        Message(role=p, content="".join(context.blocks[p][0](context)).strip())  # type: ignore[arg-type]
        for p in parts
    )


@functools.lru_cache(maxsize=512)
def _inputs_model(title: str, signature: tuple[tuple[str, str, bool], ...]) -> type[BaseModel]:
    """The strict pydantic model of a version's variables (built once: create_model is slow)."""
    fields: dict[str, Any] = {
        var: (_PY_TYPES[kind], ...) if required else (_PY_TYPES[kind] | None, None)
        for var, kind, required in signature
    }
    model: type[BaseModel] = create_model(
        title, __config__=ConfigDict(extra="forbid", strict=True), **fields
    )
    return model


def validate_inputs(
    name: str, version_id: str, variables: Mapping[str, VariableSpec], inputs: Mapping[str, Any]
) -> dict[str, Any]:
    """Check inputs against declared variables; the error names the variable."""
    signature = tuple((var, spec.type, spec.required) for var, spec in variables.items())
    model = _inputs_model(f"Inputs_{name}_{version_id}", signature)
    try:
        validated = model.model_validate(dict(inputs))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            variable = ".".join(str(p) for p in err["loc"]) or "?"
            if err["type"] == "missing":
                problems.append(f"missing required variable '{variable}'")
            elif err["type"] == "extra_forbidden":
                problems.append(f"unknown variable '{variable}' (not declared in front matter)")
            else:
                declared = variables.get(str(err["loc"][0]))
                kind = declared.type if declared else "?"
                problems.append(f"variable '{variable}' must be {kind}: {err['msg']}")
        raise RenderError(f"prompt {name}@{version_id}: " + "; ".join(problems)) from exc
    return dict(validated.model_dump())  # optional variables not given are None, never undefined
