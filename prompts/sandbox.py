"""The Jinja environment prompts render in: the immutable sandbox, bounded in time and size.

Jinja's sandbox stops attribute walks (``''.__class__.__mro__``), not resource
exhaustion: ``'a' * 10**9``, ``2 ** 2 ** 32``, ``'{:>1000000000}'.format(x)`` and
nested ``range(100000)`` loops all render, taking gigabytes or minutes, and one
such request would take a server down. :class:`BoundedSandbox` closes each way a
template can build a large value or spin, with the checks of
:class:`~ragwright.prompts.limits.Budget`:

* every loop iteration, call (macros and recursive loops included), filter and
  intercepted operator reads the clock against the render's deadline, in
  process: nothing to kill, no thread left behind;
* ``*``, ``**``, ``+`` and ``%``, ``str.format`` fields, widening string methods,
  ``range``, ``lipsum`` and the widening filters are estimated before they
  allocate; every call, filter and operator result is measured after;
* everything that turns a value into text (output, ``~``, ``join``, stringifying
  filters) estimates that text first, and buffers (macros, blocks, ``set``
  blocks, the whole output) are joined with a running total.

The hooks sit where Jinja already calls into the environment, plus one
generated ``environment.tick()`` per loop iteration, so a render pays a few
hundred nanoseconds per loop iteration, call or filter, and nothing per literal.
"""

from __future__ import annotations

import functools
import itertools
import types
from collections.abc import Callable, Iterable
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import generate_lorem_ipsum
from markupsafe import EscapeFormatter, Markup

from ragwright.prompts.filter_limits import FILTER_CHECKS, STRINGIFYING
from ragwright.prompts.limits import Budget, RenderLimits

__all__ = ["BoundedSandbox"]


def _loop_tick(lineno: int) -> nodes.ExprStmt:
    """The statement put at the top of every loop body (Jinja allows no custom node types)."""
    return nodes.ExprStmt(nodes.EnvironmentAttribute("tick"), lineno=lineno)


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator plus a deadline check per loop iteration and a checked ``~``."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:  # noqa: N802
        for loop in list(node.find_all(nodes.For)):
            loop.body.insert(0, _loop_tick(loop.lineno))
        super().visit_Template(node, frame)

    def buffer(self, frame: Frame) -> None:
        """Macros, blocks, ``set`` and ``call`` blocks write into a list that counts."""
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.new_buffer()")

    def visit_ExprStmt(self, node: nodes.ExprStmt, frame: Frame) -> None:  # noqa: N802
        # Templates cannot produce an EnvironmentAttribute: only _loop_tick makes one.
        if isinstance(node.node, nodes.EnvironmentAttribute) and node.node.name == "tick":
            self.writeline("environment.tick()", node)
        else:
            super().visit_ExprStmt(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        escape = (
            "context.eval_ctx.autoescape"
            if frame.eval_ctx.volatile
            else repr(frame.eval_ctx.autoescape)
        )
        self.write(f"environment.concat_values({escape}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _BoundedFormatter(SandboxedFormatter):
    """``str.format`` in templates: widths, precisions and field values within budget."""

    budget: Budget

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.budget.check_format_spec(format_spec)
        self.budget.want_text(value, "a str.format() field")
        return super().format_field(value, format_spec)


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    """The same for ``Markup.format``, which escapes its fields."""


class _Buffer(list[str]):
    """An output buffer that refuses to grow past the budget.

    A loop inside a ``set`` block or macro appends a new string per iteration;
    without a running total, memory grows until the deadline, gigabytes later.
    """

    __slots__ = ("_budget", "_size")

    def __init__(self, budget: Budget) -> None:
        super().__init__()
        self._budget = budget
        self._size = 0

    def append(self, part: str) -> None:
        self._size += len(part) if isinstance(part, str) else 0
        if self._size > self._budget.limits.max_chars:
            self._budget.want(self._size, "an output buffer", at_least=True)
        super().append(part)

    def extend(self, parts: Iterable[str]) -> None:
        for part in parts:
            self.append(part)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` whose renders stay within :class:`RenderLimits`."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    tick: Callable[[], None]  # the budget's deadline check, called by generated code

    def __init__(self, limits: RenderLimits, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.budget = Budget(limits)
        self.tick = self.budget.tick
        self._max_chars = limits.max_chars
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        self.filters = {name: self._bounded_filter(name, f) for name, f in self.filters.items()}

    # hooks Jinja calls -----------------------------------------------------------
    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        name = getattr(obj, "__name__", "?")
        owner = getattr(obj, "__self__", None)
        if isinstance(owner, str | bytes | int):
            args = self.budget.check_method(owner, name, args, kwargs)
        return self.budget.sized(super().call(context, obj, *args, **kwargs), f"{name}()")

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        self.budget.check_binop(operator, left, right)
        return self.budget.sized(self.binop_table[operator](left, right), f"'{operator}'")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's own ``str.format`` wrapper, with a formatter that checks each field."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        owner = value.__self__
        if not isinstance(owner, str):
            return None
        formatter: _BoundedFormatter
        if isinstance(owner, Markup):
            formatter = _BoundedEscapeFormatter(self, escape=owner.escape)
        else:
            formatter = _BoundedFormatter(self)
        formatter.budget = self.budget
        is_map = value.__name__ == "format_map"

        def bounded_format(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one positional argument")
                return type(owner)(formatter.vformat(owner, (), args[0]))
            return type(owner)(formatter.vformat(owner, args, kwargs))

        return functools.update_wrapper(bounded_format, value)

    def _finalize(self, value: Any) -> Any:
        """Every ``{{ ... }}``: the text of a container is estimated before ``str()``."""
        if type(value) is str:  # the common case, on every output: keep it to two checks
            if len(value) > self._max_chars:
                self.budget.want(len(value), "printing a value")
        else:
            self.budget.want_text(value, "printing a value")
        return value

    def new_buffer(self) -> list[str]:
        return _Buffer(self.budget)

    def concat(self, parts: Iterable[str]) -> str:
        """Join an output buffer or stream (macro, block, ``set`` block, the whole render).

        Parts are joined 64 at a time with a running total, so a loop yielding a new
        large string per iteration stops within 64 parts of the budget (each part is
        itself within budget: see :meth:`_finalize`), at C speed per part.
        """
        stream = iter(parts)
        limit = self.budget.limits.max_chars
        batch = list(itertools.islice(stream, 64))
        text = "".join(batch)
        if len(batch) < 64:  # the usual case: a prompt's parts fit one batch
            if len(text) > limit:
                self.budget.want(len(text), "the rendered text")
            return text
        chunks, total = [text], len(text)
        while batch := list(itertools.islice(stream, 64)):
            chunk = "".join(batch)
            total += len(chunk)
            if total > limit:
                self.budget.want(total, "the rendered text", at_least=True)
            chunks.append(chunk)
        if total > limit:
            self.budget.want(total, "the rendered text")
        return "".join(chunks)

    def concat_values(self, autoescape: bool, values: tuple[Any, ...]) -> str:
        """The ``~`` operator: estimated from its operands before it is joined."""
        self.tick()
        self.budget.want(sum(self.budget.text_size(v) for v in values), "'~' concatenation")
        return markup_join(values) if autoescape else str_join(values)

    # globals ---------------------------------------------------------------------
    def _range(self, *args: int) -> range:
        span = range(*args)
        self.budget.want(len(span), "range()", unit="items")
        return span

    def _lipsum(
        self,
        n: int = 5,
        html: bool = True,
        min: int = 20,  # Jinja's own parameter names
        max: int = 100,
    ) -> str:
        self.budget.want(n * max * 12, "lipsum()")
        return generate_lorem_ipsum(n, html, min, max)

    # filters ---------------------------------------------------------------------
    def _bounded_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` with a deadline check, a check of its input and of its result."""
        check = FILTER_CHECKS.get(name)
        stringifies = name in STRINGIFYING
        skip = 1 if hasattr(func, "jinja_pass_arg") else 0  # context/environment first
        budget, what = self.budget, f"filter '{name}'"

        @functools.wraps(func)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            budget.tick()
            if len(args) > skip:
                value = args[skip]
                if stringifies and type(value) is not str:
                    budget.want_text(value, what)
                if check is not None:
                    value = check(budget, self, value, *args[skip + 1 :], **kwargs)
                    args = (*args[:skip], value, *args[skip + 1 :])
            return budget.sized(func(*args, **kwargs), what)

        return bounded
