"""Where ragwright's MLflow experiments live, decided once for every writer of runs.

With the default local tracking store (``sqlite:///<home>/mlflow.db``) artifacts
go to ``<home>/artifacts`` rather than ``./mlruns`` of whatever folder the
command ran in. With a tracking *server* (``http://...``) the server decides:
its ``--artifacts-destination`` (``mlflow-artifacts:/``) is what every client can
reach, whereas a path on the machine that happened to create the experiment is
readable by that machine only (``eval compare`` on another one would fail).
"""

from __future__ import annotations

from pathlib import Path

from ragwright.errors import ConfigError
from ragwright.locks import Holder, file_lock
from ragwright.offline import apply_offline_defaults
from ragwright.settings import Settings

__all__ = ["experiment_id", "is_remote", "use_tracking"]

_REMOTE = ("http://", "https://", "databricks")
SQLITE_URI = "sqlite:///"
_CREATE_WAIT_S = 300.0
_ready: set[str] = set()  # local stores this process has seen created


def use_tracking(tracking_uri: str) -> None:
    """Point MLflow at ``tracking_uri``; a local SQLite store is created under a file lock.

    The first MLflow call on a new ``mlflow.db`` creates and migrates it; two
    commands doing so at once (two ``prompts promote`` in a fresh project) raced
    the migrations and one died with an alembic traceback. Every ragwright entry
    to MLflow comes through here, so the store is created by one process while
    the others wait.
    """
    apply_offline_defaults()
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    if not tracking_uri.startswith(SQLITE_URI) or tracking_uri in _ready:
        return
    database = Path(tracking_uri.removeprefix(SQLITE_URI))

    def busy(path: Path, holder: Holder) -> ConfigError:
        return ConfigError(
            f"{path}: another ragwright command (pid {holder.get('pid', '?')}) has been creating"
            f" the MLflow store {database} for over {_CREATE_WAIT_S:g} s; stop it or retry"
        )

    database.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(database.with_name(database.name + ".lock"), wait_s=_CREATE_WAIT_S, busy=busy):
        mlflow.MlflowClient(tracking_uri).search_experiments(max_results=1)  # creates, migrates
    _ready.add(tracking_uri)


def is_remote(tracking_uri: str) -> bool:
    """Whether runs go to a tracking server, which then owns artifact storage."""
    return tracking_uri.startswith(_REMOTE)


def experiment_id(settings: Settings, name: str) -> str:
    """Point MLflow at ``settings.tracking_uri``; the id of experiment ``name``, created if new."""
    import mlflow

    use_tracking(settings.tracking_uri)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    if is_remote(settings.tracking_uri):
        return str(mlflow.create_experiment(name))
    settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
    return str(
        mlflow.create_experiment(name, artifact_location=settings.artifacts_dir.resolve().as_uri())
    )
