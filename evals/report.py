"""Reports of eval runs and gate decisions: markdown for a PR comment, HTML for drill-down."""

from __future__ import annotations

from pathlib import Path

import jinja2

from ragwright.evals.gate import GateResult
from ragwright.evals.results import EvalRun

__all__ = ["fmt_cost", "render_html", "render_markdown", "write_reports"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ragwright.evals", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),  # answers are data: escape them in HTML
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def fmt_cost(value: float | None) -> str:
    return "unknown (unpriced model)" if value is None else f"${value:.4f}"


def fmt_opt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def by_tag(run: EvalRun) -> list[tuple[str, int, float, float]]:
    """(tag, cases, mean relevance, hallucination rate) per tag, for the per-tag bars."""
    from ragwright.evals.results import hallucination_value, relevance_value

    tags = sorted({tag for case in run.cases for tag in case.tags})
    rows = []
    for tag in tags:
        cases = [c for c in run.cases if tag in c.tags]
        rows.append(
            (
                tag,
                len(cases),
                sum(relevance_value(c) for c in cases) / len(cases),
                sum(hallucination_value(c) for c in cases) / len(cases),
            )
        )
    return rows


_ENV.filters["by_tag"] = by_tag
_ENV.filters["cost"] = fmt_cost
_ENV.filters["opt"] = fmt_opt


def render_markdown(runs: list[EvalRun], gate: GateResult | None) -> str:
    return _ENV.get_template("report.md.jinja2").render(runs=runs, gate=gate)


def render_html(runs: list[EvalRun], gate: GateResult | None) -> str:
    return _ENV.get_template("report.html.jinja2").render(runs=runs, gate=gate)


def write_reports(
    directory: Path, stem: str, runs: list[EvalRun], gate: GateResult | None
) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    markdown = directory / f"{stem}.md"
    html = directory / f"{stem}.html"
    markdown.write_text(render_markdown(runs, gate), encoding="utf-8")
    html.write_text(render_html(runs, gate), encoding="utf-8")
    return markdown, html
