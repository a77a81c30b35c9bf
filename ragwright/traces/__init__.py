"""Production traces: every served answer recorded, fed back, scored online and exported.

``recorder_for(settings)`` gives the process-wide :class:`TraceRecorder` that
``RagChain.from_settings`` hands each answer to; ``open_trace_store`` reads and
updates what it wrote (feedback, online scores, labels).
"""

from __future__ import annotations

from ragwright.traces.recorder import TraceRecorder, recorder_for
from ragwright.traces.store import TraceStore, open_trace_store

__all__ = ["TraceRecorder", "TraceStore", "open_trace_store", "recorder_for"]
