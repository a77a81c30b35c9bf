"""The committed ``local_weights.json``: fit on every labelled row, describe how it was checked.

``python -m ragwright.evals.calibration fit --labels BEGIN.jsonl`` refits the
shipped coefficients and writes, beside them, the leave-one-source-out and
grouped cross-validation figures (fitted on training rows only) and the
content-word baseline's cut.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from ragwright.evals.calibration_cv import cross_validate, leave_one_source_out
from ragwright.evals.calibration_fit import (
    best_threshold,
    feature_matrix,
    fit_logistic,
    neutral_weights,
)
from ragwright.evals.calibration_labels import Labels, load_labels
from ragwright.evals.judges.local import WEIGHTS_PATH, LocalJudge, content_word_share
from ragwright.metrics import summarise

__all__ = ["main", "weights_document"]


def weights_document(
    judge: LocalJudge, labels: Labels, *, k: int = 5, seed: int = 0, c: float = 1.0
) -> dict[str, Any]:
    """Fit on every row of ``labels``, cross-validate, and describe it all for the JSON file."""
    examples = labels.examples
    x = feature_matrix(judge, examples)
    y = np.array([e.hallucinated for e in examples], dtype=bool)
    cv = cross_validate(judge, examples, x, k=k, seed=seed, c=c)
    loso = leave_one_source_out(judge, examples, x, c=c)
    shares = np.array([content_word_share(e.answer, "\n\n".join(e.contexts)) for e in examples])
    return {
        "description": (
            "Coefficients of the local judge's hallucination model: logistic regression on "
            "standardised answer-level features (see FEATURES in ragwright/grounding_features.py). "
            "Refit with: python -m ragwright.evals.calibration fit --labels <BEGIN dev JSONL>."
        ),
        "model": fit_logistic(x, y, c=c),
        "baselines": {
            "content_word_share": round(best_threshold(shares, y, above=False), 6),
        },
        "training": {
            "data": "BEGIN benchmark, dev split (human attribution labels), every row",
            "labels_file": labels.path.name,
            "labels_sha256": labels.sha256,
            "rows": len(examples),
            "hallucinated": int(y.sum()),
            "sources": sorted({e.source for e in examples}),
            "date": date.today().isoformat(),
            "fitter": f"ragwright.linear Newton L2 logistic regression (C={c}), balanced class "
            "weights, features standardised",
            "embedder": judge.embedder.name,
        },
        "leave_one_source_out": {
            "scheme": "fit on every other data_source, score this one at threshold 0.5",
            **{
                source: {m: None if v is None else round(v, 4) for m, v in metrics.items()}
                for source, metrics in loso.items()
            },
        },
        "cross_validation": {
            "scheme": (
                f"{k}-fold ragwright.linear.grouped_folds (strata: data_source x label; groups:"
                f" identical knowledge), seed {seed}; coefficients and baseline thresholds fitted"
                " on the training folds only; mean and sample sd over folds"
            ),
            **{name: summarise(per_fold) for name, per_fold in cv.per_fold.items()},
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ragwright.evals.calibration fit --labels BEGIN.jsonl [--out PATH]``."""
    parser = argparse.ArgumentParser(prog="python -m ragwright.evals.calibration")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="refit local_weights.json on a labelled JSONL file")
    fit.add_argument("--labels", type=Path, required=True)
    fit.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    fit.add_argument("--folds", type=int, default=5)
    fit.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from ragwright.providers.local_embeddings import LocalEmbedder

    labels = load_labels(args.labels)
    # features do not depend on the coefficients: neutral ones let a first fit run
    # before any weights file exists
    neutral = neutral_weights()
    judge = LocalJudge(LocalEmbedder(batch_size=32), weights=neutral)
    document = weights_document(judge, labels, k=args.folds, seed=args.seed)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    detector = document["cross_validation"]["detector"]["balanced_accuracy"]
    baseline = document["cross_validation"]["content_word_baseline"]["balanced_accuracy"]
    loso = {
        source: metrics["balanced_accuracy"]
        for source, metrics in document["leave_one_source_out"].items()
        if isinstance(metrics, dict)
    }
    print(
        f"wrote {args.out}: CV balanced accuracy {detector['mean']:.3f} ± {detector['sd']:.3f} "
        f"(content-word baseline {baseline['mean']:.3f} ± {baseline['sd']:.3f})"
    )
    if loso:
        print(
            "leave-one-source-out balanced accuracy: "
            + ", ".join(f"{s} {v:.3f}" for s, v in loso.items())
            + f" (headline: worst {min(loso.values()):.3f})"
        )
    return 0
