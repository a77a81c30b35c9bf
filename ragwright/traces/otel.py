"""OpenTelemetry export: each trace as OTLP spans with the GenAI semantic conventions.

With ``otel_endpoint`` set (an OTLP/HTTP collector, Arize Phoenix, Langfuse,
Jaeger ...), the recorder's writer thread turns each trace it writes into one
``rag`` span with a child per step (``guard_in``, ``retrieve``, ``render``,
``generate``, ``guard_out``), timed as the request measured them. The model
call carries ``gen_ai.*`` attributes (``gen_ai.request.model``,
``gen_ai.usage.input_tokens`` ...). Export happens off the request path, through
the SDK's batching processor; a collector that is down costs spans, not answers.
Questions and answers are not exported: they stay in the trace store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ragwright.errors import ConfigError
from ragwright.traces.record import SPANS, PendingTrace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

__all__ = ["OtelExporter"]


class OtelExporter:
    """Sends traces to an OTLP/HTTP endpoint (``http://host:4318``; ``/v1/traces`` is added)."""

    def __init__(self, endpoint: str, *, service_name: str = "ragwright") -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise ConfigError(
                f"otel_endpoint is set but OpenTelemetry is not installed ({exc});"
                ' pip install "ragwright[otel]"'
            ) from exc

        url = endpoint.rstrip("/")
        if not url.endswith("/v1/traces"):
            url += "/v1/traces"
        self.provider: TracerProvider = TracerProvider(
            resource=Resource.create({"service.name": service_name})
        )
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        self.tracer = self.provider.get_tracer("ragwright.traces")

    def export(self, traces: list[PendingTrace]) -> None:
        for trace in traces:
            self._one(trace)

    def _one(self, trace: PendingTrace) -> None:
        from opentelemetry import trace as otel

        durations = [trace.spans.get(name, 0.0) for name in SPANS]
        end_ns = int(trace.ts * 1e9)
        start_ns = end_ns - int(sum(durations) * 1e6)
        answer = trace.answer
        root_attrs: dict[str, Any] = {"ragwright.request_id": trace.request_id}
        if answer is not None:
            root_attrs |= {
                "ragwright.prompt": answer.prompt,
                "ragwright.prompt_hash": answer.prompt_hash,
                "ragwright.index_version": answer.index_version,
                "ragwright.answered": answer.answered,
            }
        root = self.tracer.start_span("rag", start_time=start_ns, attributes=root_attrs)
        if trace.error_type:
            root.set_status(otel.Status(otel.StatusCode.ERROR, trace.error_type))
        context = otel.set_span_in_context(root)
        at = start_ns
        for name, ms in zip(SPANS, durations, strict=True):
            if name not in trace.spans:
                continue
            step_end = at + int(ms * 1e6)
            attrs: dict[str, Any] = {}
            if name == "generate" and answer is not None:
                provider, _, model = answer.model.partition("/")
                attrs = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": provider,
                    "gen_ai.request.model": model or provider,
                    "gen_ai.usage.input_tokens": answer.usage.prompt_tokens,
                    "gen_ai.usage.output_tokens": answer.usage.completion_tokens,
                }
            if name == "retrieve" and answer is not None:
                attrs = {"ragwright.retrieved": len(answer.contexts)}
            span_name = (
                f"chat {attrs['gen_ai.request.model']}" if "gen_ai.system" in attrs else name
            )
            step = self.tracer.start_span(
                span_name, context=context, start_time=at, attributes=attrs
            )
            step.end(end_time=step_end)
            at = step_end
        root.end(end_time=max(at, end_ns))

    def flush(self, timeout_ms: int = 5000) -> bool:
        return bool(self.provider.force_flush(timeout_ms))

    def close(self) -> None:
        self.provider.shutdown()
