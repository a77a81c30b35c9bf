"""Scheduled reindexing: serve the ingestion flow as a cron-scheduled Prefect deployment.

Two ways to keep the index fresh on a schedule:

* **Served deployment** (this module, ``ragwright index schedule``): ``prefect.serve``
  registers the deployment with the Prefect API and then polls it from this one
  process, starting each scheduled or ad-hoc run (``prefect deployment run``,
  ``run_deployment``) as a child process on this machine. No work pool and no worker
  are needed; stopping the process stops the schedule (Prefect pauses it on shutdown).
* **Work-pool deployment** (``prefect.yaml`` at the repository root, ``prefect deploy``):
  for shared infrastructure, where workers polling a work pool run the flow and the
  schedule outlives any single process.

``PREFECT_API_URL`` picks the Prefect server either way. Unset, Prefect starts a
temporary local ("ephemeral") API that does **not** run the scheduler service: the
deployment is registered and ad-hoc runs work from the serving process, but cron
runs never fire. Point ``PREFECT_API_URL`` at ``prefect server start`` (or Prefect
Cloud) for the schedule to run.

Only non-secret settings travel as flow parameters (Prefect stores them); API keys
reach the flow run through the environment the serving process passes on. Each
run takes the project's ingest lock (:mod:`ragwright.flows.lock`) inside the flow,
so a scheduled run that meets a manual ``ragwright index run`` fails at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ragwright.errors import ConfigError
from ragwright.flows.ingest import flow_settings, ingest_flow
from ragwright.settings import Settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = [
    "DEFAULT_CRON",
    "DEFAULT_NAME",
    "build_deployment",
    "deployment_parameters",
    "prefect_api_url",
    "serve_schedule",
    "validate_cron",
]

DEFAULT_NAME = "ragwright-reindex"
DEFAULT_CRON = "0 * * * *"  # hourly, on the hour
CRON_FIELDS = 5


def validate_cron(cron: str) -> str:
    """Return ``cron`` stripped if Prefect accepts it as a 5-field cron expression.

    Raises :class:`ConfigError` otherwise, before anything is registered with Prefect.
    """
    from prefect.client.schemas.schedules import CronSchedule

    expression = cron.strip()
    fields = (
        "fields are minute (0-59), hour (0-23), day of month (1-31), month (1-12),"
        ' day of week (0-6, 0 = Sunday); e.g. "0 * * * *" = hourly,'
        ' "30 2 * * 1-5" = 02:30 on weekdays'
    )
    count = len(expression.split())
    if not expression.startswith("@") and count != CRON_FIELDS:
        raise ConfigError(
            f"invalid cron expression {cron!r}: {count} fields, expected {CRON_FIELDS}; {fields}"
        )
    try:
        CronSchedule(cron=expression)
    except ValidationError as exc:
        raise ConfigError(f"invalid cron expression {cron!r}: {fields}") from exc
    return expression


def deployment_parameters(settings: Settings, docs_dir: Path | None = None) -> dict[str, Any]:
    """The parameters every run of the deployment gets: non-secret settings and docs folder.

    Settings carry absolute paths and the project root, so a run reads the same
    folders whatever working directory the process that executes it was started in.
    """
    return {
        "settings": flow_settings(settings),
        "docs_dir": str(docs_dir.resolve()) if docs_dir is not None else None,
    }


def build_deployment(
    settings: Settings,
    *,
    cron: str,
    name: str = DEFAULT_NAME,
    docs_dir: Path | None = None,
) -> RunnerDeployment:
    """A deployment of ``ragwright-ingest`` named ``name`` that runs on ``cron``.

    The entrypoint is the module path ``ragwright.flows.ingest.ingest_flow``, so a
    run can import the flow from any working directory where ragwright is installed.
    """
    from prefect.deployments.runner import RunnerDeployment
    from prefect.types.entrypoint import EntrypointType

    expression = validate_cron(cron)
    deployment = ingest_flow.to_deployment(
        name=name,
        cron=expression,
        parameters=deployment_parameters(settings, docs_dir),
        tags=["ragwright"],
        description=(
            f"Incremental reindex of {docs_dir or settings.docs_dir} on cron"
            f" {expression!r} (ragwright index schedule)."
        ),
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    # to_deployment dispatches to its async twin inside an event loop; we never are in one
    if not isinstance(deployment, RunnerDeployment):
        raise TypeError("build_deployment must be called outside an event loop")
    return deployment


def prefect_api_url() -> str | None:
    """The Prefect API in effect: ``PREFECT_API_URL``, or None for the local ephemeral API."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    return str(url) if url else None


def serve_schedule(
    settings: Settings,
    *,
    cron: str = DEFAULT_CRON,
    name: str = DEFAULT_NAME,
    docs_dir: Path | None = None,
    limit: int | None = None,
) -> None:
    """Register the deployment and run its scheduled and ad-hoc runs until interrupted.

    Blocks. ``limit`` caps how many runs execute at the same time (None = no cap).
    """
    from prefect import serve

    from ragwright.flows.ephemeral import tie_ephemeral_api

    deployment = build_deployment(settings, cron=cron, name=name, docs_dir=docs_dir)
    tie_ephemeral_api()  # a killed `index schedule` must not leave its API server behind
    serve(deployment, limit=limit, print_starting_message=False)
