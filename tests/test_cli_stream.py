"""``ragwright ask --stream`` and the TTFT column of ``costs report``, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from ragwright.flows.ingest import ingest
from ragwright.settings import Settings
from tests.conftest import run_cli


def test_ask_streams_and_costs_report_shows_ttft(small_docs: Path, tmp_path: Path) -> None:
    ingest(Settings(docs_dir=small_docs))
    streamed = run_cli("ask", "--stream", "How do I roll back the production prompt?", cwd=tmp_path)
    assert streamed.returncode == 0, streamed.stderr
    answer_line, footer = streamed.stdout.strip().splitlines()[-2:]
    assert "[rollback.md]" in answer_line
    assert "sources: rollback.md" in footer
    assert "first token" in footer

    as_json = run_cli("ask", "--stream", "--json", "How do I roll back?", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["ttft_ms"] > 0

    plain = run_cli("ask", "How do I roll back the production prompt?", cwd=tmp_path)
    assert "first token" not in plain.stdout  # not streamed: no TTFT to show

    report = run_cli("costs", "report", "--by", "operation", "--format", "json", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    rows = {row["key"]: row for row in json.loads(report.stdout)}
    assert rows["generate"]["calls"] == 3
    assert 0 < rows["generate"]["ttft_p50_ms"] <= rows["generate"]["ttft_p95_ms"]
    assert rows["embed"]["ttft_p50_ms"] is None
    table = run_cli("costs", "report", "--by", "operation", cwd=tmp_path)
    assert "TTFT p50/p95 ms" in table.stdout
