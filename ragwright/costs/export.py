"""Export cost summaries to MLflow as metrics of a monitoring run."""

from __future__ import annotations

import re

from ragwright.costs.store import GroupStats
from ragwright.experiments import experiment_id as experiment_id_for
from ragwright.settings import Settings

__all__ = ["MONITORING_EXPERIMENT", "export_to_mlflow"]

MONITORING_EXPERIMENT = "ragwright-monitoring"


def export_to_mlflow(settings: Settings, groups: list[GroupStats], *, since: str | None) -> str:
    import mlflow

    experiment_id = experiment_id_for(settings, MONITORING_EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment_id, run_name="costs") as run:
        mlflow.set_tags({"ragwright.kind": "monitoring", "since": since or "all"})
        metrics: dict[str, float] = {}
        for g in groups:
            key = re.sub(r"[^A-Za-z0-9_./-]", "_", g.key)
            metrics[f"{key}.calls"] = float(g.calls)
            metrics[f"{key}.tokens"] = float(g.prompt_tokens + g.completion_tokens)
            metrics[f"{key}.p95_ms"] = g.p95_ms
            metrics[f"{key}.error_rate"] = g.error_rate
            if g.cost_usd is not None:  # an unknown price is absent, never logged as 0
                metrics[f"{key}.cost_usd"] = g.cost_usd
            metrics[f"{key}.unpriced_calls"] = float(g.unpriced_calls)
        mlflow.log_metrics(metrics)
        return str(run.info.run_id)
