"""Find promotion evidence: a passing gate run, logged in MLflow, for an exact prompt hash."""

from __future__ import annotations

from pathlib import Path

from ragwright.evals.golden import load_golden_set
from ragwright.evals.tracking import EXPERIMENT
from ragwright.experiments import use_tracking
from ragwright.prompts.lifecycle import Evidence, EvidenceFinder
from ragwright.settings import Settings

__all__ = ["mlflow_evidence"]


def mlflow_evidence(
    settings: Settings, golden_set: Path, run_id: str | None = None
) -> EvidenceFinder:
    """An evidence finder for gate runs on ``golden_set`` (its current content hash).

    With ``run_id`` only that run counts, and it must match the version's hash.
    """
    golden_hash = load_golden_set(golden_set).hash

    def find(name: str, version: str, prompt_hash: str) -> Evidence | None:
        import mlflow

        use_tracking(settings.tracking_uri)
        experiment = mlflow.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            return None
        filters = [
            f"params.prompt_hash = '{prompt_hash}'",
            f"params.golden_set_hash = '{golden_hash}'",
            "metrics.gate_passed = 1",
        ]
        if run_id:
            filters.append(f"attributes.run_id = '{run_id}'")
        runs = mlflow.search_runs(
            experiment_ids=[experiment.experiment_id],
            filter_string=" and ".join(filters),
            order_by=["attributes.start_time DESC"],
            max_results=1,
            output_format="list",
        )
        if not runs:
            return None
        return Evidence(
            run_id=runs[0].info.run_id, golden_set=golden_set.stem, golden_set_hash=golden_hash
        )

    return find
