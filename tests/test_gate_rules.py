"""Gate rules on cost and latency, on hand-built paired runs (no models involved)."""

from __future__ import annotations

from datetime import UTC, datetime

from ragwright.evals.gate import evaluate_gate
from ragwright.evals.results import CaseResult, EvalRun, summarize
from ragwright.evals.scoring import Score
from ragwright.settings import GateSettings


def run(prompt: str, costs: list[float], latencies: list[float]) -> EvalRun:
    cases = [
        CaseResult(
            case_id=f"c{i}",
            question="q",
            tags=[],
            answerable=True,
            answer="a",
            answered=True,
            hallucinated=False,
            hallucination_score=0.0,
            relevance=4,
            latency_ms=latency,
            cost_usd=cost,
        )
        for i, (cost, latency) in enumerate(zip(costs, latencies, strict=True))
    ]
    now = datetime.now(UTC)
    return EvalRun(
        run_id=prompt,
        started_at=now,
        finished_at=now,
        prompt=prompt,
        prompt_hash="sha256:x",
        golden_set="g",
        golden_set_hash="sha256:g",
        chat_model="openai/gpt-4o-mini",
        chat_model_local=False,
        judge="local/judge",
        judge_local=True,
        calibration="shipped:local_calibration.json",  # as evaluate() cites for local/judge
        judge_balanced_accuracy=0.9,
        index_version="v",
        top_k=5,
        cases=cases,
        summary=summarize(cases),
    )


def rule(gate: object, prefix: str) -> object:
    return next(r for r in gate.rules if r.rule.startswith(prefix))  # type: ignore[attr-defined]


def test_cost_rise_beyond_margin_fails() -> None:
    base = run("p@v1", [0.010] * 40, [500.0] * 40)
    same = run("p@v2", [0.010] * 40, [500.0] * 40)
    pricier = run("p@v3", [0.013] * 40, [500.0] * 40)
    config = GateSettings(cost_margin=0.10)
    assert rule(evaluate_gate(base, same, config), "cost").passed  # type: ignore[attr-defined]
    failed = evaluate_gate(base, pricier, config)
    assert not failed.passed
    assert not rule(failed, "cost").passed  # type: ignore[attr-defined]


def test_latency_rule_uses_relative_margin_and_slack() -> None:
    base = run("p@v1", [0.0] * 40, [1000.0 + i for i in range(40)])
    slower = run("p@v2", [0.0] * 40, [2000.0 + i for i in range(40)])
    jitter = run("p@v3", [0.0] * 40, [1100.0 + i for i in range(40)])
    config = GateSettings(latency_margin=0.5, latency_slack_ms=250)
    assert not rule(evaluate_gate(base, slower, config), "p95").passed  # type: ignore[attr-defined]
    assert rule(evaluate_gate(base, jitter, config), "p95").passed  # type: ignore[attr-defined]


def test_latency_rule_compares_model_calls_not_the_chain_around_them() -> None:
    """A busy runner slows retrieval and rendering for one side; the model call is the
    prompt's doing, and it did not change."""

    def timed(prompt: str, chain_ms: float, model_ms: float) -> EvalRun:
        built = run(prompt, [0.0] * 40, [chain_ms + i for i in range(40)])
        cases = [
            c.model_copy(update={"model_latency_ms": model_ms + i})
            for i, c in enumerate(built.cases)
        ]
        return built.model_copy(update={"cases": cases})

    config = GateSettings(latency_margin=0.5, latency_slack_ms=250)
    gate = evaluate_gate(timed("p@v1", 1000.0, 800.0), timed("p@v2", 3000.0, 810.0), config)
    latency = rule(gate, "p95")
    assert latency.passed  # type: ignore[attr-defined]
    assert latency.explanation.startswith("model call")  # type: ignore[attr-defined]
    slower = evaluate_gate(timed("p@v1", 1000.0, 800.0), timed("p@v3", 1000.0, 2000.0), config)
    assert not rule(slower, "p95").passed  # type: ignore[attr-defined]


def test_unpriced_runs_skip_the_cost_rule() -> None:
    base = run("p@v1", [0.0] * 10, [100.0] * 10)
    gate = evaluate_gate(base, run("p@v2", [0.0] * 10, [100.0] * 10), GateSettings())
    assert not any(r.rule.startswith("cost") for r in gate.rules)
    assert gate.passed


def test_uncalibrated_judge_cannot_pass_when_a_floor_is_set() -> None:
    base = run("p@v1", [0.0] * 10, [100.0] * 10)
    cand = run("p@v2", [0.0] * 10, [100.0] * 10)
    cand.judge_balanced_accuracy, cand.calibration = None, None
    config = GateSettings(min_judge_balanced_accuracy=0.85)
    refused = evaluate_gate(base, cand, config)
    assert not refused.passed
    assert "cannot gate" in rule(refused, "judge calibrated").explanation  # type: ignore[attr-defined]
    cand.judge_balanced_accuracy, cand.calibration = 0.92, "local_judge-abc.json"
    assert evaluate_gate(base, cand, config).passed
    cand.judge_balanced_accuracy = 0.80
    assert not evaluate_gate(base, cand, config).passed
    # the default floor is 0.80: a judge measured at 0.80 passes it, unset turns it off
    assert rule(evaluate_gate(base, cand, GateSettings()), "judge calibrated").passed  # type: ignore[attr-defined]
    off = GateSettings(min_judge_balanced_accuracy=None)
    assert not any(r.rule == "judge calibrated" for r in evaluate_gate(base, cand, off).rules)


def test_html_report_has_per_tag_bars() -> None:
    from ragwright.evals.report import by_tag, render_html

    base = run("p@v1", [0.0] * 4, [100.0] * 4)
    tagged = [
        c.model_copy(
            update={
                "tags": ["prompts"] if i < 3 else ["costs"],
                "scores": {**c.scores, "relevance": Score(value=2.0 if i == 3 else 5.0)},
            }
        )
        for i, c in enumerate(base.cases)
    ]
    base = base.model_copy(update={"cases": tagged})
    assert by_tag(base) == [("costs", 1, 2.0, 0.0), ("prompts", 3, 5.0, 0.0)]
    html = render_html([base], None)
    assert "Per tag" in html
    assert "<td>prompts</td>" in html
    assert "5.00" in html
