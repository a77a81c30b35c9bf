"""Log eval runs to MLflow with their full lineage (local SQLite file by default).

Only lineage and metrics are logged: never settings, so secrets such as API
keys cannot reach the tracking server.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from ragwright.evals.gate import GateResult
from ragwright.evals.results import EvalRun
from ragwright.experiments import SQLITE_URI, experiment_id, use_tracking
from ragwright.offline import apply_offline_defaults
from ragwright.settings import Settings

__all__ = ["EXPERIMENT", "load_run", "log_run"]

EXPERIMENT = "ragwright-evals"
RUN_ARTIFACT = "run.json"  # the whole EvalRun, so `ragwright eval compare` can re-gate runs


def _experiment_id(settings: Settings) -> str:
    return experiment_id(settings, EXPERIMENT)


def log_run(
    settings: Settings,
    run: EvalRun,
    gate: GateResult | None = None,
    reports: list[Path] | None = None,
) -> str:
    """Log one eval run; returns the MLflow run id."""
    apply_offline_defaults()
    import mlflow

    experiment_id = _experiment_id(settings)
    summary = run.summary
    with mlflow.start_run(experiment_id=experiment_id, run_name=run.prompt) as active:
        mlflow.set_tags(
            {
                "ragwright.kind": "eval",
                "ragwright.chat_model_local": str(run.chat_model_local).lower(),
                "ragwright.judge_local": str(run.judge_local).lower(),
                **({"ragwright.gate_verdict": gate.verdict} if gate is not None else {}),
            }
        )
        mlflow.log_params(
            {
                "prompt": run.prompt,
                "prompt_hash": run.prompt_hash,
                "golden_set": run.golden_set,
                "golden_set_hash": run.golden_set_hash,
                "chat_model": run.chat_model,
                "judge": run.judge,
                "index_version": run.index_version,
                "top_k": run.top_k,
                "run_id": run.run_id,
                "judge_prompts": "; ".join(run.judge_prompts) or "none (local judge)",
                "calibration": run.calibration or "none",
            }
        )
        metrics = {
            "hallucination_rate": summary.hallucination_rate,
            "mean_relevance": summary.mean_relevance,
            "answered_rate": summary.answered_rate,
            "p50_latency_ms": summary.p50_latency_ms,
            "p95_latency_ms": summary.p95_latency_ms,
            "total_tokens": float(summary.total_tokens),
            "errors": float(summary.errors),
            "unparseable": float(summary.unparseable),
            "judge_errors": float(summary.judge_error_count),
        }
        metrics.update(
            {f"judge_errors_{metric}": float(n) for metric, n in summary.judge_errors.items()}
        )
        optional = {
            "mean_correctness": summary.mean_correctness,
            "recall_at_k": summary.recall_at_k,
            "mrr": summary.mrr,
            "abstention_rate": summary.abstention_rate,
            "cost_usd": summary.cost_usd,
            "p95_model_latency_ms": summary.p95_model_latency_ms,
        }
        metrics.update({k: v for k, v in optional.items() if v is not None})
        for name, custom in summary.metrics.items():  # every metric: metric.<name>
            if custom.mean is not None:
                metrics[f"metric.{name}"] = custom.mean
            metrics[f"metric.{name}.errors"] = float(custom.errors + custom.unparseable)
        if gate is not None:
            metrics["gate_passed"] = 1.0 if gate.passed else 0.0
            metrics["gate_not_informative"] = 1.0 if gate.verdict == "not_informative" else 0.0
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / RUN_ARTIFACT).write_text(run.model_dump_json(), encoding="utf-8")
            mlflow.log_artifact(str(Path(tmp) / RUN_ARTIFACT))
            cases = Path(tmp) / "cases.jsonl"
            cases.write_text(
                "\n".join(json.dumps(c.model_dump()) for c in run.cases), encoding="utf-8"
            )
            mlflow.log_artifact(str(cases))
            if gate is not None:
                gate_file = Path(tmp) / "gate.json"
                gate_file.write_text(gate.model_dump_json(indent=2), encoding="utf-8")
                mlflow.log_artifact(str(gate_file))
        for report in reports or []:
            mlflow.log_artifact(str(report))
        return str(active.info.run_id)


def load_run(settings: Settings, mlflow_run_id: str) -> EvalRun:
    """Read an eval run back from MLflow (the ``run.json`` artifact it was logged with)."""
    local = _local_artifact(settings.tracking_uri, mlflow_run_id)
    if local is not None:
        run = EvalRun.model_validate_json(local.read_text(encoding="utf-8"))
        run.mlflow_run_id = mlflow_run_id
        return run
    apply_offline_defaults()
    import mlflow
    from mlflow.exceptions import MlflowException

    from ragwright.errors import UserError

    use_tracking(settings.tracking_uri)
    try:
        path = mlflow.artifacts.download_artifacts(run_id=mlflow_run_id, artifact_path=RUN_ARTIFACT)
    except (MlflowException, OSError) as exc:
        raise UserError(
            f"MLflow run '{mlflow_run_id}' has no ragwright eval run at {settings.tracking_uri}"
            f" ({type(exc).__name__}); list runs with `mlflow ui` or use the id printed by"
            " `ragwright eval run`"
        ) from exc
    run = EvalRun.model_validate_json(Path(path).read_text(encoding="utf-8"))
    run.mlflow_run_id = mlflow_run_id
    return run


def _local_artifact(tracking_uri: str, run_id: str) -> Path | None:
    """The run's ``run.json`` read straight from a local SQLite store and artifact folder.

    ``eval compare`` needs one file; importing MLflow to find it takes longer than the
    whole comparison (seconds). Anything else (a server, remote artifacts, an unknown
    id, a schema this query does not fit) goes through MLflow, which owns the answer.
    """
    if not tracking_uri.startswith(SQLITE_URI):
        return None
    database = Path(tracking_uri.removeprefix(SQLITE_URI))
    if not database.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)
            ).fetchone()
    except sqlite3.Error:
        return None
    if row is None or not isinstance(row[0], str):
        return None
    parsed = urlparse(row[0])
    if parsed.scheme not in ("", "file"):
        return None
    path = Path(url2pathname(parsed.path)) / RUN_ARTIFACT
    return path if path.is_file() else None
