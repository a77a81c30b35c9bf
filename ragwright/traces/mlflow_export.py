"""Export the monitoring report to MLflow, beside the cost monitor's runs.

One run named ``quality`` in the ``ragwright-monitoring`` experiment; each
group's figures become metrics ``<group>.<figure>``. A figure with no data (no
scored trace, no feedback) is absent, never logged as 0.
"""

from __future__ import annotations

import re
from typing import Any

from ragwright.costs.export import MONITORING_EXPERIMENT
from ragwright.experiments import experiment_id as experiment_id_for
from ragwright.settings import Settings

__all__ = ["export_report"]


def export_report(settings: Settings, result: dict[str, Any], *, since: str | None) -> str:
    import mlflow

    experiment_id = experiment_id_for(settings, MONITORING_EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment_id, run_name="quality") as run:
        mlflow.set_tags(
            {"ragwright.kind": "monitoring", "by": result["by"], "since": since or "all"}
        )
        metrics: dict[str, float] = {}
        for group in [*result["groups"], {"key": "all", **result["overall"]}]:
            key = re.sub(r"[^A-Za-z0-9_./-]", "_", group["key"])
            for name, value in group.items():
                if name != "key" and isinstance(value, int | float):
                    metrics[f"{key}.{name}"] = float(value)
        mlflow.log_metrics(metrics)
        return str(run.info.run_id)
