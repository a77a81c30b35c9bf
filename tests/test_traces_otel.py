"""OpenTelemetry export, decoded by a real OTLP/HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ragwright.flows.ingest import ingest
from ragwright.rag import RagChain
from ragwright.settings import Settings
from ragwright.traces import TraceRecorder

trace_service = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2", reason="opentelemetry-proto"
)
pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="the otel extra")
from ragwright.traces.otel import OtelExporter  # noqa: E402


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[Any]]]:
    """An OTLP/HTTP endpoint that decodes each export into its protobuf spans."""
    spans: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = trace_service.ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    spans.extend(scope.spans)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(trace_service.ExportTraceServiceResponse().SerializeToString())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", spans
    server.shutdown()


def attributes(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind)
    return out


def test_spans_reach_the_receiver_with_genai_attributes(
    small_docs: Path, tmp_path: Path, receiver: tuple[str, list[Any]]
) -> None:
    url, spans = receiver
    settings = Settings(docs_dir=small_docs)
    ingest(settings)
    chain = RagChain.from_settings(settings)
    exporter = OtelExporter(url)
    chain.tracer = TraceRecorder(tmp_path / "traces.db", exporter=exporter)
    answer = chain.invoke({"question": "How do I roll back a prompt?"})
    chain.tracer.flush()
    assert exporter.flush()
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {"rag", "guard_in", "retrieve", "render", "chat extractive", "guard_out"}
    root = by_name["rag"]
    assert attributes(root)["ragwright.request_id"] == answer.request_id
    assert attributes(root)["ragwright.prompt"] == "rag_answer@v1"
    chat = attributes(by_name["chat extractive"])
    assert chat["gen_ai.request.model"] == "extractive"
    assert chat["gen_ai.system"] == "local"
    assert chat["gen_ai.usage.input_tokens"] == answer.usage.prompt_tokens
    assert chat["gen_ai.usage.output_tokens"] == answer.usage.completion_tokens
    for span in spans:
        if span.name != "rag":
            assert span.parent_span_id == root.span_id
            assert span.trace_id == root.trace_id
            assert root.start_time_unix_nano <= span.start_time_unix_nano
            assert span.end_time_unix_nano <= root.end_time_unix_nano
    assert "roll back" not in str(spans)  # questions and answers stay in the store
    chain.tracer.close()
