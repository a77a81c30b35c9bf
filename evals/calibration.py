"""Calibration: how far a judge agrees with human labels, and the fit of the local judge.

A judge may only gate a release if we know how often it agrees with people.
This module gathers the parts, each in a module with one job:

* :mod:`ragwright.metrics`: the agreement metrics (accuracy, balanced accuracy,
  precision, recall, F1, AUROC, Cohen's kappa), plain numpy, shared with guardrails;
* :mod:`.calibration_labels`: the labelled-file reader, which names file, line
  and field of a broken line;
* :mod:`.calibration_run`: calibration runs (every failed judgement counted) and
  the constructed negatives for local relevance;
* :mod:`.calibration_record`: records (``<home>/calibration/<judge>-<labels
  hash>.json``) and which one an eval run cites, the shipped one included;
* :mod:`.calibration_fit`: the judge's features and logistic fit on
  :mod:`ragwright.linear`;
* :mod:`.calibration_cv`: grouped k-fold and leave-one-source-out validation,
  with the baselines the benchmark reports;
* :mod:`.calibration_weights`: the committed ``local_weights.json`` (``python -m
  ragwright.evals.calibration fit``).
"""

from __future__ import annotations

from ragwright.evals.calibration_cv import (
    CrossValidation,
    cross_validate,
    folds,
    leave_one_source_out,
)
from ragwright.evals.calibration_fit import (
    answer_lengths,
    best_threshold,
    feature_matrix,
    fit_logistic,
    neutral_weights,
    verdict_scores,
    weights_from_model,
)
from ragwright.evals.calibration_labels import LabelledExample, Labels, load_labels
from ragwright.evals.calibration_record import (
    latest_calibration,
    record_path,
    write_calibration_record,
)
from ragwright.evals.calibration_run import (
    CalibrationResult,
    constructed_relevance_pairs,
    judge_examples,
    run_calibration,
)
from ragwright.evals.calibration_weights import main, weights_document
from ragwright.metrics import (
    METRICS,
    accuracy,
    auroc,
    balanced_accuracy,
    binary_metrics,
    cohen_kappa,
    f1,
    precision,
    recall,
    summarise,
)

__all__ = [
    "METRICS",
    "CalibrationResult",
    "CrossValidation",
    "LabelledExample",
    "Labels",
    "accuracy",
    "answer_lengths",
    "auroc",
    "balanced_accuracy",
    "best_threshold",
    "binary_metrics",
    "cohen_kappa",
    "constructed_relevance_pairs",
    "cross_validate",
    "f1",
    "feature_matrix",
    "fit_logistic",
    "folds",
    "judge_examples",
    "latest_calibration",
    "leave_one_source_out",
    "load_labels",
    "main",
    "neutral_weights",
    "precision",
    "recall",
    "record_path",
    "run_calibration",
    "summarise",
    "verdict_scores",
    "weights_document",
    "weights_from_model",
    "write_calibration_record",
]

if __name__ == "__main__":
    raise SystemExit(main())
