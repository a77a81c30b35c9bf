"""Calibration records: written by ``eval calibrate --write``, cited by every eval run.

Records live in ``<home>/calibration/<judge>-<labels hash>.json``.

The project's own record (``ragwright eval calibrate --write``, newest first)
wins: a threshold learned on dialogue should not silently gate QA. A local-judge
record made with other weights (before an upgrade changed them) is ignored,
threshold and metrics alike, until the project recalibrates. Without one,
the local judge cites the record shipped with its weights
(``evals/judges/local_calibration.json``), valid only while the weights file
still hashes as recorded. An LLM judge has no shipped record: it is reported
uncalibrated until a project measures it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragwright.evals.judges.base import Judge
from ragwright.grounding import WEIGHTS_PATH, LogisticWeights

if TYPE_CHECKING:
    from ragwright.evals.calibration_labels import Labels
    from ragwright.evals.calibration_run import CalibrationResult
    from ragwright.settings import Settings

__all__ = [
    "SHIPPED_RECORD",
    "cited_calibration",
    "latest_calibration",
    "project_threshold",
    "record_path",
    "shipped_record",
    "write_calibration_record",
]

SHIPPED_RECORD = Path(__file__).parent / "judges" / "local_calibration.json"


def _safe_name(judge_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", judge_name)


def record_path(settings: Settings, judge_name: str, labels_sha256: str) -> Path:
    """``<home>/calibration/<judge>-<labels sha256[:12]>.json`` (``/`` in names becomes ``_``)."""
    return settings.home / "calibration" / f"{_safe_name(judge_name)}-{labels_sha256[:12]}.json"


def write_calibration_record(
    settings: Settings,
    judge: Judge,
    labels: Labels,
    result: CalibrationResult,
    *,
    limit: int | None = None,
) -> Path:
    """Write the record that eval runs cite; one file per (judge, labels file)."""
    weights: LogisticWeights | None = getattr(judge, "weights", None)
    record: dict[str, Any] = {
        "kind": "hallucination",
        "judge": judge.name,
        "judge_local": judge.is_local,
        "weights_file": WEIGHTS_PATH.name if isinstance(weights, LogisticWeights) else None,
        "weights_sha256": weights.sha256 if isinstance(weights, LogisticWeights) else None,
        "labels_path": str(labels.path.resolve()),
        "labels_sha256": labels.sha256,
        "limit": limit,
        "n": result.n,
        "judged": result.judged,
        "errors": result.errors,
        "error_lines": result.error_lines[:100],
        "positives": result.positives,
        "metrics": result.metrics,
        "judge_threshold": weights.threshold if isinstance(weights, LogisticWeights) else None,
        # local judge: the threshold it uses from now on in this project (see judge_from_settings)
        "threshold": result.fitted_threshold if isinstance(weights, LogisticWeights) else None,
        "metrics_at_threshold": result.fitted_metrics,
        "baseline": {
            "name": "content-word share",
            "threshold": result.baseline_threshold,
            "metrics": result.baseline_metrics,
        },
        "created_at": datetime.now(UTC).isoformat(),
    }
    path = record_path(settings, judge.name, labels.sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def latest_calibration(settings: Settings, judge_name: str) -> dict[str, Any] | None:
    """The most recent calibration record of ``judge_name`` (with its ``record_path``), or None."""
    folder = settings.home / "calibration"
    best: dict[str, Any] | None = None
    for path in folder.glob(f"{_safe_name(judge_name)}-*.json"):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a half-written or foreign file is not a record
        if not isinstance(record, dict) or record.get("judge") != judge_name:
            continue
        record["record_path"] = str(path)
        if best is None or str(record.get("created_at", "")) > str(best.get("created_at", "")):
            best = record
    return best


def shipped_record(judge_name: str) -> dict[str, Any] | None:
    """The packaged record of ``judge_name`` if it still matches the shipped weights."""
    if judge_name != "local/judge" or not SHIPPED_RECORD.is_file():
        return None
    record: dict[str, Any] = json.loads(SHIPPED_RECORD.read_text(encoding="utf-8"))
    weights = hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    return record if record.get("weights_sha256") == weights else None


def _stale(record: dict[str, Any]) -> bool:
    """Whether a local-judge record measured other weights than the ones shipped now.

    Its threshold was fitted on another model's scores and its metrics describe
    another judge: after an upgrade that changes the weights, neither may be used.
    """
    recorded = record.get("weights_sha256")
    return (
        recorded is not None and recorded != hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    )


def project_threshold(settings: Settings, judge_name: str) -> float | None:
    """The threshold the project's newest record fitted for ``judge_name``, if still valid."""
    record = latest_calibration(settings, judge_name)
    if record is None or _stale(record):
        return None
    value = record.get("threshold")
    return float(value) if isinstance(value, int | float) else None


def cited_calibration(settings: Settings, judge_name: str) -> tuple[str | None, float | None]:
    """(record name, balanced accuracy) for a run's judge; (None, None) when uncalibrated.

    A project record that fitted a threshold cites the metrics at that threshold
    (what the judge now uses); otherwise the metrics at the judge's own threshold.
    """
    record = latest_calibration(settings, judge_name)
    if record is not None and _stale(record):
        record = None  # measured on other weights: recalibrate (the shipped record may apply)
    if record is not None:
        name = Path(str(record["record_path"])).name
        if record.get("threshold") is not None and record.get("metrics_at_threshold"):
            accuracy = record["metrics_at_threshold"].get("balanced_accuracy")
            return name, float(accuracy) if accuracy is not None else None
    elif (record := shipped_record(judge_name)) is not None:
        name = f"shipped:{SHIPPED_RECORD.name}"
    else:
        return None, None
    accuracy = record.get("metrics", {}).get("balanced_accuracy")
    return name, float(accuracy) if accuracy is not None else None
