"""The online evaluator's daily spend limit on LLM-judge calls, and the model wrapper that keeps it.

Every call an online LLM judge makes is tagged ``purpose=online_eval`` in the cost
monitor, so the cost store is the ledger: at the first call of a UTC day, and every
``refresh_s`` after, :class:`DailyBudget` flushes the monitor and reads today's spend
of those calls back (``ragwright.costs.budgets.tag_spend``); between reads it adds
what this process spent. So a restart the same day resumes from what was spent, and
several servers sharing a cost store see each other's calls within ``refresh_s``.

An unpriced judge model has no USD to count: its calls count against
``daily_max_calls``, which :func:`check_priced` requires for such a model rather
than let it spend without a limit (a price of 0 is never assumed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from ragwright.costs.budgets import period_start, tag_spend
from ragwright.costs.pricing import PriceTable
from ragwright.costs.store import BaseCostStore
from ragwright.costs.writer import CostMonitor
from ragwright.errors import BudgetExceededError, ConfigError
from ragwright.providers.base import ChatModel, ChatRequest, ChatResponse
from ragwright.sqlite import StoreError

__all__ = ["PURPOSE", "BudgetedJudgeModel", "DailyBudget", "check_priced"]

PURPOSE = ("purpose", "online_eval")
"""The tag on every online LLM-judge call (``ragwright costs report --by tag`` shows it)."""


class DailyBudget:
    """Today's (UTC) spend of online judge calls against ``limit_usd`` and ``max_calls``."""

    def __init__(
        self,
        open_store: Callable[[], BaseCostStore],
        monitor: CostMonitor | None,
        *,
        limit_usd: float,
        max_calls: int | None = None,
        refresh_s: float = 30.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._open_store = open_store
        self._store: BaseCostStore | None = None
        self.monitor = monitor
        self.limit_usd = limit_usd
        self.max_calls = max_calls
        self.refresh_s = refresh_s
        self.now = now
        self.usd = 0.0
        self.calls = 0
        self._day = ""
        self._read_at = float("-inf")

    def _refresh(self, day: str) -> None:
        if self._day != day:  # a new day starts from nothing, even if the store cannot say
            self.usd, self.calls = 0.0, 0
        try:
            if self.monitor is not None:
                self.monitor.flush()  # this process's calls are in the store before it is read
            self._store = self._store or self._open_store()
            spent = tag_spend(self._store, PURPOSE, period_start("daily", self.now()))
        except StoreError:
            pass  # the store is down: keep counting in memory, read again next time
        else:
            self.usd, self.calls = spent.usd, spent.calls
        self._day, self._read_at = day, time.monotonic()

    def reached(self) -> bool:
        """Whether today's spend (or call count) is at the limit: no more calls today."""
        day = self.now().date().isoformat()
        if day != self._day or time.monotonic() - self._read_at > self.refresh_s:
            self._refresh(day)
        if self.max_calls is not None and self.calls >= self.max_calls:
            return True
        return self.usd >= self.limit_usd

    def add(self, cost_usd: float | None) -> None:
        """Count one call made by this process (``None``: its price is unknown)."""
        self.calls += 1
        self.usd += cost_usd or 0.0

    def describe(self) -> str:
        calls = f", {self.calls}/{self.max_calls} calls" if self.max_calls is not None else ""
        return f"${self.usd:.4f} of ${self.limit_usd:.2f} today{calls}"

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class BudgetedJudgeModel(ChatModel):
    """A (metered) judge model whose calls are tagged, counted and refused past the budget.

    ``refused`` tells the worker that a metric failed because the day's budget (or a
    hard ``[[budgets]]`` entry) is spent, not because the endpoint did.
    """

    def __init__(self, inner: ChatModel, budget: DailyBudget, prices: PriceTable) -> None:
        self.inner = inner
        self.budget = budget
        self.prices = prices
        self.provider = inner.provider
        self.model = inner.model
        self.refused = False

    def _tagged(self, request: ChatRequest) -> ChatRequest:
        if self.budget.reached():
            self.refused = True
            raise BudgetExceededError(
                f"[online_eval] daily budget reached ({self.budget.describe()})",
                budget="online_eval",
                period="daily",
            )
        return replace(request, tags=(*request.tags, PURPOSE))

    def _count(self, response: ChatResponse) -> None:
        cost = self.prices.cost(response.provider, response.model, response.usage)
        self.budget.add(0.0 if response.cached and cost is not None else cost)

    def generate(self, request: ChatRequest) -> ChatResponse:
        tagged = self._tagged(request)
        try:
            response = self.inner.generate(tagged)
        except BudgetExceededError:
            self.refused = True
            raise
        except Exception:
            self.budget.add(None)  # a failed call may still be billed: it counts as a call
            raise
        self._count(response)
        return response

    async def agenerate(self, request: ChatRequest) -> ChatResponse:
        tagged = self._tagged(request)
        try:
            response = await self.inner.agenerate(tagged)
        except BudgetExceededError:
            self.refused = True
            raise
        except Exception:
            self.budget.add(None)
            raise
        self._count(response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def check_priced(model: ChatModel, prices: PriceTable, max_calls: int | None) -> None:
    """An unpriced judge model needs ``daily_max_calls``: its spend cannot be counted in USD."""
    if max_calls is None and prices.lookup(model.provider, model.model) is None:
        raise ConfigError(
            f"[online_eval]: judge model {model.name} has no known price, so daily_budget_usd"
            f' cannot limit it; add [pricing."{model.model}"] or set daily_max_calls'
        )
