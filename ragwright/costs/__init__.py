"""Cost and latency monitoring: every model call recorded, priced and reportable."""

from ragwright.costs.monitor import CostMonitor, metered, monitor_for
from ragwright.costs.pricing import PriceTable
from ragwright.costs.record import CallRecord

__all__ = ["CallRecord", "CostMonitor", "PriceTable", "metered", "monitor_for"]
