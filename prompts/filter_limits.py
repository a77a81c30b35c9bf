"""Checks of Jinja's built-in filters that can build far more than they are given.

``'x'|center(10**9)``, ``'%1000000000s'|format(x)``, ``[s]*n|join``, ``s|replace('a',
long)``, ``indent`` and ``wordwrap`` with a long string, ``batch``/``slice`` with a huge
count, ``tojson`` with a huge indent: each is estimated before the filter runs, from
its value and arguments (same names and defaults as Jinja's filters). Each check gets
the budget, the environment, the filtered value and the filter's arguments, and
returns the value to filter: ``join`` returns a list, because estimating consumed
the iterable it was given. The sandbox wraps every filter with these
(:meth:`~ragwright.prompts.sandbox.BoundedSandbox._bounded_filter`), plus a check of
the result's size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from jinja2.filters import make_attrgetter

from ragwright.errors import TemplateSecurityError
from ragwright.prompts.limits import Budget

__all__ = ["FILTER_CHECKS", "STRINGIFYING"]

# Filters that turn a non-string value into text: estimate that text first.
STRINGIFYING = frozenset({
    "capitalize", "center", "e", "escape", "forceescape", "format", "indent", "lower",
    "pprint", "replace", "string", "striptags", "title", "tojson", "trim", "truncate",
    "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
})  # fmt: skip


def _arg(
    args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any = None
) -> Any:
    """A filter argument given by position or by name."""
    return args[index] if len(args) > index else kwargs.get(name, default)


def _center(budget: Budget, env: Environment, value: Any, width: Any = 80) -> Any:
    if isinstance(width, int):
        budget.want(width, "center()")
    return value


def _indent(
    budget: Budget, env: Environment, value: Any, width: Any = 4, *_: Any, **__: Any
) -> Any:
    text = str(value)
    step = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    budget.want(len(text) + (text.count("\n") + 1) * step, "indent()")
    return value


def _format(budget: Budget, env: Environment, value: Any, *args: Any, **kwargs: Any) -> Any:
    budget.check_printf(str(value), kwargs or args, "format()")
    return value


def _join(budget: Budget, env: Environment, value: Any, d: Any = "", attribute: Any = None) -> Any:
    items = list(value)
    texts = items if attribute is None else map(make_attrgetter(env, attribute), items)
    budget.join_items(texts, str(d), "join()")
    return items


def _replace(budget: Budget, env: Environment, value: Any, *args: Any, **kwargs: Any) -> Any:
    # replace(s, old, new, count=None)
    old, new = _arg(args, kwargs, 0, "old"), _arg(args, kwargs, 1, "new")
    budget.check_replace(value, old, new, _arg(args, kwargs, 2, "count"))
    return value


def _wordwrap(budget: Budget, env: Environment, value: Any, *args: Any, **kwargs: Any) -> Any:
    # wordwrap(s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True)
    width = _arg(args, kwargs, 0, "width", 79)
    wrapstring = _arg(args, kwargs, 2, "wrapstring") or "\n"
    text = str(value)
    lines = len(text) // max(width if isinstance(width, int) else 79, 1) + text.count("\n") + 1
    budget.want(len(text) + lines * len(str(wrapstring)), "wordwrap()")
    return value


def _urlize(budget: Budget, env: Environment, value: Any, *args: Any, **kwargs: Any) -> Any:
    text = str(value)
    extra = sum(len(a) for a in (*args, *kwargs.values()) if isinstance(a, str))
    budget.want(2 * len(text) + len(text.split()) * (extra + 64), "urlize()")
    return value


def _batch(
    budget: Budget, env: Environment, value: Any, linecount: Any, fill_with: Any = None
) -> Any:
    if fill_with is not None and isinstance(linecount, int):  # pads to linecount items
        budget.want(linecount, "batch() with fill_with", unit="items")
    return value


def _slice(budget: Budget, env: Environment, value: Any, slices: Any, fill_with: Any = None) -> Any:
    if isinstance(slices, int):  # one list per slice, whatever the input
        budget.want(slices, "slice()", unit="items")
    return value


def _sum(
    budget: Budget, env: Environment, value: Any, attribute: Any = None, start: Any = 0
) -> Any:
    if not isinstance(start, int | float):
        raise TemplateSecurityError(
            "sum() adds numbers; summing lists or strings copies the result at every step"
            " (quadratic time): build the list with a loop or join instead"
        )
    return value


def _tojson(budget: Budget, env: Environment, value: Any, indent: Any = None) -> Any:
    step = len(indent) if isinstance(indent, str) else indent if isinstance(indent, int) else 0
    budget.want(budget.text_size(value) * (1 + step), "tojson()")
    return value


FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "batch": _batch,
    "center": _center,
    "format": _format,
    "indent": _indent,
    "join": _join,
    "replace": _replace,
    "slice": _slice,
    "sum": _sum,
    "tojson": _tojson,
    "urlize": _urlize,
    "wordwrap": _wordwrap,
}
