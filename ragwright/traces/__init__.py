"""Production traces: every served answer recorded, fed back, scored online and exported.

``recorder_for(settings)`` gives the process-wide :class:`TraceRecorder` that
``RagChain.from_settings`` hands each answer to; ``open_trace_store`` reads and
updates what it wrote (feedback, online scores, labels). Imported lazily, so
``ragwright monitor report`` loads the store and its queries, not the recorder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragwright.lazy import lazy_attributes

if TYPE_CHECKING:
    from ragwright.traces.recorder import TraceRecorder, recorder_for
    from ragwright.traces.store import TraceStore, open_trace_store

__all__ = ["TraceRecorder", "TraceStore", "open_trace_store", "recorder_for"]

_HOMES = {
    "TraceRecorder": "ragwright.traces.recorder",
    "recorder_for": "ragwright.traces.recorder",
    "TraceStore": "ragwright.traces.store",
    "open_trace_store": "ragwright.traces.store",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
