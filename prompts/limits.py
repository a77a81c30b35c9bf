"""What one render may cost: a deadline, and a size budget for every value it builds.

:class:`Budget` holds the arithmetic the sandbox (:mod:`ragwright.prompts.sandbox`)
runs before and after each operation. Operations whose result can dwarf their
inputs (``'a' * 10**9``, ``2 ** 2 ** 32``, a format width of ``1000000000``, a
``join`` of a list that repeats one large string) are estimated *before* they
allocate, because a check after a gigabyte was built comes too late; the rest
are checked after. Turning a nested container into text is estimated with a
bounded walk (:meth:`Budget.text_size`), so ten nested ten-item list literals
of one long string cannot print 10**6 copies of it.

The deadline lives in a context variable, set for the length of one render:
threads and asyncio tasks rendering at once each see their own, and nothing
outside a render (compiling, constant folding) is ever timed out.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import ItemsView, Iterable, KeysView, Mapping, ValuesView
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jinja2.utils import Namespace

from ragwright.errors import RenderLimitError

if TYPE_CHECKING:
    from ragwright.settings import Settings

__all__ = ["DEFAULT_LIMITS", "Budget", "RenderLimits"]

_DEADLINE: ContextVar[float] = ContextVar("ragwright_render_deadline", default=math.inf)
_DIGITS = re.compile(r"\d+")
# one printf conversion: %(key)-08.3f, %*d, %% ...
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)")
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)
_LOG10_2 = math.log10(2)


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """``render_timeout_s`` and ``render_max_chars`` of the settings, for one renderer."""

    timeout_s: float = 2.0
    max_chars: int = 200_000

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderLimits:
        return cls(timeout_s=settings.render_timeout_s, max_chars=settings.render_max_chars)


DEFAULT_LIMITS = RenderLimits()
"""The settings' defaults, for stores and renderers built without settings."""


@dataclass(frozen=True, slots=True)
class Budget:
    """The checks of one sandbox; each raises :class:`RenderLimitError` naming its setting."""

    limits: RenderLimits

    # time ------------------------------------------------------------------
    def start(self) -> Token[float]:
        """Arm the deadline for one render; pass the token to :meth:`stop`."""
        return _DEADLINE.set(time.monotonic() + self.limits.timeout_s)

    @staticmethod
    def stop(token: Token[float]) -> None:
        _DEADLINE.reset(token)

    def tick(self) -> None:
        """Called at every loop iteration, call, filter and operator: one clock read."""
        if time.monotonic() > _DEADLINE.get():
            raise RenderLimitError(
                f"rendering ran past the limit render_timeout_s={self.limits.timeout_s:g} s"
                " (a loop or recursion too large for a prompt); raise render_timeout_s in"
                " ragwright.toml only if the prompt truly needs longer"
            )

    # size ------------------------------------------------------------------
    def want(
        self, size: int, what: str, *, unit: str = "characters", at_least: bool = False
    ) -> None:
        """Refuse, before building it, a value estimated at ``size`` characters or items.

        ``at_least``: ``size`` is where counting stopped, not the whole value.
        """
        if size > self.limits.max_chars:
            bound = "at least " if at_least else ""
            raise RenderLimitError(
                f"{what} would make {bound}{size:,} {unit}, over the limit"
                f" render_max_chars={self.limits.max_chars:,}; raise render_max_chars in"
                " ragwright.toml only if the prompt truly needs more"
            )

    def sized(self, value: Any, what: str = "an expression") -> Any:
        """Pass ``value`` through if its length (characters, or items) is within budget."""
        if isinstance(value, _SIZED):
            self.want(len(value), what)
        return value

    def text_size(self, value: Any) -> int:
        """Characters ``str(value)`` would have, walked with an early exit past the budget.

        Containers can hold one object many times, so their text can be exponentially
        larger than their memory; the walk stops once the budget is exceeded, which
        bounds its own cost by the budget too.
        """
        if isinstance(value, str):
            return len(value)
        limit, total, stack = self.limits.max_chars, 0, [value]
        while stack and total <= limit:
            item = stack.pop()
            if isinstance(item, str | bytes | bytearray):
                total += len(item) + 4
            elif isinstance(item, bool) or item is None:
                total += 5
            elif isinstance(item, int):
                total += int(item.bit_length() * _LOG10_2) + 2
            elif isinstance(item, Mapping):
                total += 2 + 2 * len(item)
                stack.extend(item.keys())
                stack.extend(item.values())
            elif isinstance(item, Namespace):
                stack.append(object.__getattribute__(item, "_Namespace__attrs"))
            elif isinstance(
                item, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView
            ):
                total += 2 + 2 * len(item)
                stack.extend(item)
            else:
                total += 32  # floats, loop objects, macros: short, fixed reprs
        return total

    def want_text(self, value: Any, what: str) -> None:
        if not isinstance(value, str):
            self.want(self.text_size(value), what, at_least=True)

    # operators ---------------------------------------------------------------
    def check_binop(self, operator: str, left: Any, right: Any) -> None:
        if operator == "*":
            self._check_repeat(left, right)
        elif operator == "**":
            if _is_int(left) and _is_int(right) and right > 0 and abs(left) > 1:
                self.want(int(right * math.log10(abs(left))) + 1, f"{left} ** {right}")
        elif operator == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                self.want(len(left) + len(right), "'+'")
        elif operator == "%" and isinstance(left, str | bytes):
            self.check_printf(left, right, "'%' formatting")

    def _check_repeat(self, left: Any, right: Any) -> None:
        if _is_int(left) and _is_int(right):
            digits = int((abs(left).bit_length() + abs(right).bit_length()) * _LOG10_2) + 1
            self.want(digits, f"{left} * {right}")
            return
        seq, times = (left, right) if _is_int(right) else (right, left)
        if isinstance(seq, _SIZED) and _is_int(times):
            # items for lists: printing or joining the result is estimated again, in text
            self.want(len(seq) * max(times, 0), f"repeating a value of length {len(seq):,}")

    def check_printf(self, template: str | bytes, args: Any, what: str) -> None:
        """``'%1000000000s' % x``: widths, precisions and ``*`` arguments, then the values."""
        text = template.decode("latin-1") if isinstance(template, bytes) else template
        values = list(args.values()) if isinstance(args, Mapping) else args
        values = list(values) if isinstance(values, tuple | list) else [values]
        stars = iter(v for v in values if _is_int(v))
        size = len(text)
        for match in _PRINTF.finditer(text):
            for part in (match.group(1), match.group(2)):
                if part == "*":
                    size += abs(next(stars, 0))
                elif part:
                    size += int(part)
        size += sum(self.text_size(v) for v in values)
        self.want(size, what)

    def check_format_spec(self, spec: str) -> None:
        """``'{:>1000000000}'.format(x)``: any number in a format spec is a width or precision."""
        for number in _DIGITS.findall(spec):
            self.want(int(number), f"format spec '{spec[:40]}'")

    # builtin methods called from templates -------------------------------------
    def check_method(
        self, owner: Any, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> tuple[Any, ...]:
        """Methods of str, bytes and int whose result can dwarf their receiver.

        Returns the arguments to call with: ``join`` gets its iterable as a list,
        because estimating consumed it.
        """
        if name in ("ljust", "rjust", "center", "zfill", "to_bytes"):
            for arg in (*args, *kwargs.values()):
                if _is_int(arg):
                    self.want(arg, f".{name}({arg})")
        elif name == "expandtabs" and isinstance(owner, str | bytes) and args:
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            if _is_int(args[0]):
                self.want(len(owner) + tabs * args[0], f".expandtabs({args[0]})")
        elif name == "join" and isinstance(owner, str | bytes) and args:
            items = list(args[0])
            size = sum(self.text_size(i) for i in items) + len(owner) * max(len(items) - 1, 0)
            self.want(size, ".join()")
            return (items, *args[1:])
        elif name == "replace" and isinstance(owner, str | bytes) and len(args) >= 2:
            self.check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else None)
        elif name == "translate" and isinstance(owner, str) and isinstance(args[0], Mapping):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            self.want(len(owner) * longest, ".translate()")
        return args

    def check_replace(self, text: Any, old: Any, new: Any, count: Any) -> None:
        kind = str if isinstance(text, str) else bytes if isinstance(text, bytes) else None
        if kind is None or not (isinstance(old, kind) and isinstance(new, kind)):
            return  # mixed types: Python raises TypeError, or Jinja converts them to str
        found: int = text.count(old)
        if _is_int(count) and count >= 0:
            found = min(found, count)
        self.want(len(text) + found * (len(new) - len(old)), "replace()")

    def join_items(self, items: Iterable[Any], separator: str, what: str) -> list[Any]:
        listed = list(items)
        size = sum(self.text_size(i) for i in listed) + len(separator) * max(len(listed) - 1, 0)
        self.want(size, what)
        return listed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
