"""Which calibration record an eval run cites, so the gate's judge rule can check it.

The project's own record (``ragwright eval calibrate --write``, newest first)
wins: a threshold learned on dialogue should not silently gate QA. Without one,
the local judge cites the record shipped with its weights
(``evals/judges/local_calibration.json``), valid only while the weights file
still hashes as recorded. An LLM judge has no shipped record: it is reported
uncalibrated until a project measures it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ragwright.settings import Settings

__all__ = ["SHIPPED_RECORD", "cited_calibration", "shipped_record"]

SHIPPED_RECORD = Path(__file__).parent / "judges" / "local_calibration.json"


def shipped_record(judge_name: str) -> dict[str, Any] | None:
    """The packaged record of ``judge_name`` if it still matches the shipped weights."""
    from ragwright.evals.judges.local import WEIGHTS_PATH

    if judge_name != "local/judge" or not SHIPPED_RECORD.is_file():
        return None
    record: dict[str, Any] = json.loads(SHIPPED_RECORD.read_text(encoding="utf-8"))
    weights = hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    return record if record.get("weights_sha256") == weights else None


def cited_calibration(settings: Settings, judge_name: str) -> tuple[str | None, float | None]:
    """(record name, balanced accuracy) for a run's judge; (None, None) when uncalibrated."""
    from ragwright.evals.calibration import latest_calibration

    record = latest_calibration(settings, judge_name)
    if record is not None:
        name = Path(str(record["record_path"])).name
    elif (record := shipped_record(judge_name)) is not None:
        name = f"shipped:{SHIPPED_RECORD.name}"
    else:
        return None, None
    accuracy = record.get("metrics", {}).get("balanced_accuracy")
    return name, float(accuracy) if accuracy is not None else None
