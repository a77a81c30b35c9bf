"""Where ragwright's MLflow experiments live, decided once for every writer of runs.

With the default local tracking store (``sqlite:///<home>/mlflow.db``) artifacts
go to ``<home>/artifacts`` rather than ``./mlruns`` of whatever folder the
command ran in. With a tracking *server* (``http://...``) the server decides:
its ``--artifacts-destination`` (``mlflow-artifacts:/``) is what every client can
reach, whereas a path on the machine that happened to create the experiment is
readable by that machine only (``eval compare`` on another one would fail).
"""

from __future__ import annotations

from ragwright.offline import apply_offline_defaults
from ragwright.settings import Settings

__all__ = ["experiment_id", "is_remote"]

_REMOTE = ("http://", "https://", "databricks")


def is_remote(tracking_uri: str) -> bool:
    """Whether runs go to a tracking server, which then owns artifact storage."""
    return tracking_uri.startswith(_REMOTE)


def experiment_id(settings: Settings, name: str) -> str:
    """Point MLflow at ``settings.tracking_uri``; the id of experiment ``name``, created if new."""
    apply_offline_defaults()
    import mlflow

    mlflow.set_tracking_uri(settings.tracking_uri)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    if is_remote(settings.tracking_uri):
        return str(mlflow.create_experiment(name))
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    return str(
        mlflow.create_experiment(name, artifact_location=settings.artifacts_dir.resolve().as_uri())
    )
