"""Cost and latency monitoring: every model call recorded, priced, reported and budgeted.

Imported lazily, so ``ragwright costs report`` (which needs only the store and
the report) does not load the metered providers and what they import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragwright.lazy import lazy_attributes

if TYPE_CHECKING:
    from ragwright.costs.langchain import CostCallbackHandler
    from ragwright.costs.monitor import CostMonitor, metered, metered_embedder, monitor_for
    from ragwright.costs.pricing import PriceTable
    from ragwright.costs.record import CallRecord

__all__ = [
    "CallRecord",
    "CostCallbackHandler",
    "CostMonitor",
    "PriceTable",
    "metered",
    "metered_embedder",
    "monitor_for",
]

_HOMES = {
    "CallRecord": "ragwright.costs.record",
    "CostCallbackHandler": "ragwright.costs.langchain",  # imports LangChain
    "CostMonitor": "ragwright.costs.monitor",
    "PriceTable": "ragwright.costs.pricing",
    "metered": "ragwright.costs.monitor",
    "metered_embedder": "ragwright.costs.monitor",
    "monitor_for": "ragwright.costs.monitor",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
