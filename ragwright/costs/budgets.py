"""Budgets: spend limits per day or month, per model or tag; warn, fail CI, or refuse calls.

``evaluate_budgets`` reads the store; ``BudgetGuard`` is what a metered model
asks before each call when a budget is ``hard``: it re-reads spend at most
every few seconds, so the guard costs a dictionary lookup on the call path.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from ragwright.costs.store import BaseCostStore
from ragwright.errors import BudgetExceededError
from ragwright.settings import BudgetSettings

__all__ = [
    "BudgetExceededError",
    "BudgetGuard",
    "BudgetStatus",
    "TagSpend",
    "evaluate_budgets",
    "tag_spend",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    budget: BudgetSettings
    since: str
    spent_usd: float
    unpriced_calls: int
    state: Literal["ok", "warning", "exceeded"]

    @property
    def share(self) -> float:
        return float(self.spent_usd / self.budget.limit_usd)


def period_start(period: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "monthly":
        start = start.replace(day=1)
    return start.isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class TagSpend:
    """What the calls carrying one tag cost since a time: known USD, and how many calls."""

    usd: float
    calls: int
    unpriced_calls: int


def tag_spend(store: BaseCostStore, tag: tuple[str, str], since: str) -> TagSpend:
    """Spend and call count of the calls tagged ``key=value`` since ``since`` (ISO, UTC).

    The online evaluator's daily budget reads this at start and every little while,
    so a restart the same day counts what the previous process spent.
    """
    usd, calls, unpriced = 0.0, 0, 0
    for row in store.rows(since=since):
        if json.loads(row.tags).get(tag[0]) != tag[1]:
            continue
        calls += 1
        if row.cost_usd is None:
            unpriced += 1
        else:
            usd += row.cost_usd
    return TagSpend(usd, calls, unpriced)


def _tag(budget: BudgetSettings) -> tuple[str, str] | None:
    if budget.tag is None:
        return None
    key, _, value = budget.tag.partition("=")
    return key, value


def evaluate_budgets(
    store: BaseCostStore, budgets: list[BudgetSettings], now: datetime | None = None
) -> list[BudgetStatus]:
    statuses = []
    for budget in budgets:
        since = period_start(budget.period, now)
        spent, unpriced = store.spend(since=since, model=budget.model, tag=_tag(budget))
        state: Literal["ok", "warning", "exceeded"] = "ok"
        if spent >= budget.limit_usd:
            state = "exceeded"
        elif spent >= budget.warn_at * budget.limit_usd:
            state = "warning"
        status = BudgetStatus(budget, since, spent, unpriced, state)
        if state != "ok":
            log.warning(
                "budget %r %s: $%.4f of $%.2f (%s)%s",
                budget.name,
                state,
                spent,
                budget.limit_usd,
                budget.period,
                f"; {unpriced} calls have no known price" if unpriced else "",
            )
        statuses.append(status)
    return statuses


class BudgetGuard:
    """Refuses calls that a crossed hard budget covers; spend is re-read every ``ttl_s``."""

    def __init__(
        self, store: BaseCostStore, budgets: list[BudgetSettings], *, ttl_s: float = 5.0
    ) -> None:
        self.store = store
        self.budgets = [b for b in budgets if b.hard]
        self.ttl_s = ttl_s
        self._checked_at = float("-inf")
        self._exceeded: list[BudgetSettings] = []

    def check(self, model: str, tags: tuple[tuple[str, str], ...]) -> None:
        if not self.budgets:
            return
        if time.monotonic() - self._checked_at > self.ttl_s:
            statuses = evaluate_budgets(self.store, self.budgets)
            self._exceeded = [s.budget for s in statuses if s.state == "exceeded"]
            self._checked_at = time.monotonic()
        tag_set = {f"{k}={v}" for k, v in tags}
        for budget in self._exceeded:
            short_name = model.rsplit("/", maxsplit=1)[-1]
            covers_model = budget.model is None or budget.model in (model, short_name)
            covers_tag = budget.tag is None or budget.tag in tag_set
            if covers_model and covers_tag:
                raise BudgetExceededError(
                    f"hard budget {budget.name!r} (${budget.limit_usd:.2f} {budget.period}) is"
                    f" spent; call to {model} refused. Raise the limit in ragwright.toml"
                    " [[budgets]] or wait for the next period.",
                    budget=budget.name,
                    period=budget.period,
                )
