"""Cost and latency monitoring: every model call recorded, priced, reported and budgeted."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragwright.costs.monitor import CostMonitor, metered, metered_embedder, monitor_for
from ragwright.costs.pricing import PriceTable
from ragwright.costs.record import CallRecord

if TYPE_CHECKING:
    from ragwright.costs.langchain import CostCallbackHandler

__all__ = [
    "CallRecord",
    "CostCallbackHandler",
    "CostMonitor",
    "PriceTable",
    "metered",
    "metered_embedder",
    "monitor_for",
]


def __getattr__(name: str) -> Any:
    if name == "CostCallbackHandler":  # imports LangChain: load on first use only
        from ragwright.costs.langchain import CostCallbackHandler

        return CostCallbackHandler
    raise AttributeError(f"module 'ragwright.costs' has no attribute {name!r}")
