"""Calibration: how far a judge agrees with human labels, and the fit of the local judge.

A judge may only gate a release if we know how often it agrees with people, so
this module provides

* the agreement metrics (accuracy, balanced accuracy, precision, recall, F1,
  AUROC, Cohen's kappa), in plain numpy so the runtime never needs scikit-learn;
* the labelled-file reader (``knowledge|context``, ``response|answer``,
  ``question|message``, ``hallucinated``: the field names of both shared sets),
  which names file, line and field of a broken line;
* calibration runs and records (``<home>/calibration/<judge>-<labels hash>.json``)
  with ``latest_calibration`` for eval runs to cite;
* the fitting code of ``local_weights.json`` (``python -m
  ragwright.evals.calibration fit``), with the grouped cross-validation and the
  baselines the benchmark reports. scikit-learn is imported only there.

Judge failures are never dropped: a verdict whose outcome is not ``ok`` counts
as an error, is reported with its line number, and the metrics say over how
many rows they were computed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ragwright.errors import InputFileError
from ragwright.evals.judges.base import HallucinationVerdict, Judge
from ragwright.evals.judges.local import (
    FEATURES,
    WEIGHTS_PATH,
    LocalJudge,
    LogisticWeights,
    content_word_share,
    default_weights,
)
from ragwright.jsonl import read_jsonl
from ragwright.metrics import (  # the calibration report's metrics, shared with guardrails
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
from ragwright.providers.limits import request_slots
from ragwright.text import words

if TYPE_CHECKING:
    from ragwright.settings import Settings

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
    "load_labels",
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


BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


# -- metrics ----------------------------------------------------------------------------------


def best_threshold(values: npt.ArrayLike, y_true: npt.ArrayLike, *, above: bool) -> float:
    """The cut that maximises balanced accuracy on these rows (fit it on training rows only).

    ``above``: predict positive when value >= cut; otherwise when value < cut.
    """
    v = np.asarray(values, dtype=np.float64)
    t = np.asarray(y_true, dtype=bool)
    candidates = np.unique(v)
    cuts = np.concatenate([candidates, [candidates[-1] + 1.0]]) if len(candidates) else [0.0]
    best, best_ba = float(cuts[0]), -1.0
    for cut in cuts:
        pred = v >= cut if above else v < cut
        ba = balanced_accuracy(t, pred)
        if ba > best_ba + 1e-12:
            best, best_ba = float(cut), ba
    return best


# -- labelled files ---------------------------------------------------------------------------

_CONTEXT_FIELDS = ("knowledge", "context", "contexts")
_ANSWER_FIELDS = ("response", "answer")
_QUESTION_FIELDS = ("question", "message")


@dataclass(frozen=True, slots=True)
class LabelledExample:
    """One human-labelled (context, answer) pair; rows sharing a context share ``group``."""

    line: int
    question: str
    answer: str
    contexts: tuple[str, ...]
    hallucinated: bool
    source: str = ""

    @property
    def group(self) -> str:
        return hashlib.sha256("\n\n".join(self.contexts).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Labels:
    path: Path
    sha256: str
    examples: list[LabelledExample]


def _first(
    data: dict[str, Any], names: Sequence[str], path: Path, line: int, *, required: bool
) -> tuple[str, Any]:
    for name in names:
        if name in data:
            return name, data[name]
    if required:
        raise InputFileError(
            f"required field is missing (give one of: {', '.join(names)})",
            path=path,
            line=line,
            field=names[0],
        )
    return names[0], None


def _parse_example(data: dict[str, Any], path: Path, number: int) -> LabelledExample:
    name, value = _first(data, _CONTEXT_FIELDS, path, number, required=True)
    if isinstance(value, str):
        contexts: tuple[str, ...] = (value,)
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        contexts = tuple(value)
    else:
        raise InputFileError(
            "must be a string or a list of strings", path=path, line=number, field=name
        )
    if not any(c.strip() for c in contexts):
        raise InputFileError("must not be blank", path=path, line=number, field=name)
    name, answer = _first(data, _ANSWER_FIELDS, path, number, required=True)
    if not isinstance(answer, str):
        raise InputFileError("must be a string", path=path, line=number, field=name)
    name, question = _first(data, _QUESTION_FIELDS, path, number, required=False)
    if question is not None and not isinstance(question, str):
        raise InputFileError("must be a string", path=path, line=number, field=name)
    if "hallucinated" not in data:
        raise InputFileError(
            "required field is missing", path=path, line=number, field="hallucinated"
        )
    label = data["hallucinated"]
    if isinstance(label, bool) or (isinstance(label, int) and label in (0, 1)):
        hallucinated = bool(label)
    else:
        raise InputFileError(
            f"must be 0, 1, true or false (got {label!r})",
            path=path,
            line=number,
            field="hallucinated",
        )
    source = data.get("data_source", "")
    return LabelledExample(
        line=number,
        question=question or "",
        answer=answer,
        contexts=contexts,
        hallucinated=hallucinated,
        source=source if isinstance(source, str) else "",
    )


def load_labels(path: Path, *, limit: int | None = None) -> Labels:
    """Read a hallucination labels JSONL file; raise ``InputFileError`` naming file:line:field.

    The hash covers the whole file even with ``limit``, so a record always names
    the exact file it was measured on.
    """
    source = read_jsonl(path, what="labels")
    examples: list[LabelledExample] = []
    for number, row in source.records():
        if limit is not None and len(examples) >= limit:
            break
        examples.append(_parse_example(row, path, number))
    if not examples:
        raise InputFileError("labels file has no examples", path=path)
    return Labels(path=path, sha256=hashlib.sha256(source.data).hexdigest(), examples=examples)


# -- calibration runs and records -------------------------------------------------------------


async def judge_examples(
    judge: Judge, examples: Sequence[LabelledExample], *, concurrency: int = 8
) -> list[HallucinationVerdict]:
    """One verdict per example, in order; an exception becomes an ``error`` verdict.

    ``concurrency`` bounds the judge's requests in flight (see
    :mod:`ragwright.providers.limits`); twice as many examples are open so that
    preparing the next ones overlaps the requests.
    """
    semaphore = asyncio.Semaphore(2 * concurrency)

    async def one(example: LabelledExample) -> HallucinationVerdict:
        async with semaphore:
            try:
                return await judge.hallucination(
                    example.question, example.answer, list(example.contexts)
                )
            except Exception as exc:  # a failed judgement is counted, not dropped
                return HallucinationVerdict(
                    None, None, outcome="error", detail=f"{type(exc).__name__}: {exc}"
                )

    with request_slots(concurrency):
        return list(await asyncio.gather(*(one(e) for e in examples)))


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    n: int
    judged: int
    errors: int
    error_lines: list[int]
    positives: int
    metrics: dict[str, float | None]
    baseline_threshold: float
    baseline_metrics: dict[str, float | None]


def run_calibration(
    judge: Judge,
    labels: Labels,
    *,
    baseline_threshold: float | None = None,
    concurrency: int = 8,
) -> CalibrationResult:
    """Judge every labelled example and compare with the human labels.

    Metrics are computed over the examples the judge scored; the rest are
    reported as errors (with line numbers). The content-word baseline (flag an
    answer when fewer than ``baseline_threshold`` of its content words occur in
    the context) is computed on the same rows, so the judge is always read
    beside the simplest detector that could replace it.
    """
    examples = labels.examples
    prefetch = getattr(judge, "prefetch", None)
    if callable(prefetch):
        prefetch((e.answer, e.contexts) for e in examples)
    verdicts = asyncio.run(judge_examples(judge, examples, concurrency=concurrency))
    ok, failed = [], []
    for example, verdict in zip(examples, verdicts, strict=True):
        if verdict.outcome == "ok" and verdict.hallucinated is not None:
            ok.append((example, verdict))
        else:
            failed.append(example.line)
    truth = [e.hallucinated for e, _ in ok]
    predicted = [bool(v.hallucinated) for _, v in ok]
    scores = [float(v.score) if v.score is not None else float(bool(v.hallucinated)) for _, v in ok]
    if baseline_threshold is None:
        baseline_threshold = float(default_weights().raw["baselines"]["content_word_share"])
    shares = np.array([content_word_share(e.answer, "\n\n".join(e.contexts)) for e in examples])
    return CalibrationResult(
        n=len(examples),
        judged=len(ok),
        errors=len(failed),
        error_lines=failed,
        positives=sum(e.hallucinated for e in examples),
        metrics=binary_metrics(truth, predicted, scores),
        baseline_threshold=baseline_threshold,
        baseline_metrics=binary_metrics(
            [e.hallucinated for e in examples], shares < baseline_threshold, 1.0 - shares
        ),
    )


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


# -- relevance: constructed negatives ---------------------------------------------------------


def constructed_relevance_pairs(
    pairs: Sequence[tuple[str, str]], *, seed: int = 0
) -> list[tuple[str, str, str]]:
    """Each true (question, answer) plus the answer paired with another question.

    Returns ``(question, answer, label)`` with label ``"true"`` or
    ``"constructed"``; the shuffle is a derangement (no answer keeps its own
    question), fixed by ``seed``.
    """
    n = len(pairs)
    if n < 2:
        raise ValueError("need at least two pairs to construct negatives")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    shift = np.roll(order, 1)  # question i gets the answer of the previous element in a cycle
    mapping = dict(zip(order.tolist(), shift.tolist(), strict=True))
    result = [(q, a, "true") for q, a in pairs]
    result += [(pairs[i][0], pairs[mapping[i]][1], "constructed") for i in range(n)]
    return result


# -- fitting the local judge ------------------------------------------------------------------


def feature_matrix(
    judge: LocalJudge, examples: Sequence[LabelledExample]
) -> npt.NDArray[np.float64]:
    """Answer-level FEATURES of every example (the embeddings are prefetched in batches)."""
    judge.prefetch((e.answer, e.contexts) for e in examples)
    rows = [judge.analyse(e.answer, e.contexts).features for e in examples]
    return np.array([[row[f] for f in FEATURES] for row in rows], dtype=np.float64)


def fit_logistic(x: npt.NDArray[np.float64], y: npt.ArrayLike, *, c: float = 1.0) -> dict[str, Any]:
    """L2 logistic regression on standardised features, classes weighted to balance.

    Balanced class weights make 0.5 the threshold that maximises balanced
    accuracy whatever the share of hallucinations in the training set.

    ``entity_probability`` backs the judge's one rule (a claim naming a number
    or a name the context lacks is unsupported with this probability). It is
    estimated, not set: the likelihood ratio of such a gap between
    hallucinated and grounded training rows, Laplace-smoothed, under the same
    balanced prior as the regression.
    """
    from sklearn.linear_model import LogisticRegression

    truth = np.asarray(y, dtype=bool)
    gap = (x[:, FEATURES.index("missing_names")] > 0) | (
        x[:, FEATURES.index("missing_numbers")] > 0
    )
    rate_hallucinated = (np.sum(gap & truth) + 1) / (np.sum(truth) + 2)
    rate_grounded = (np.sum(gap & ~truth) + 1) / (np.sum(~truth) + 2)

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    model.fit((x - mean) / scale, truth.astype(int))
    return {
        "features": list(FEATURES),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in model.coef_[0]],
        "intercept": round(float(model.intercept_[0]), 6),
        "threshold": 0.5,
        "claim_min_content_words": 3,
        "entity_probability": round(
            float(rate_hallucinated / (rate_hallucinated + rate_grounded)), 6
        ),
    }


def weights_from_model(model: dict[str, Any]) -> LogisticWeights:
    return LogisticWeights(
        features=tuple(model["features"]),
        mean=tuple(model["mean"]),
        scale=tuple(model["scale"]),
        coef=tuple(model["coef"]),
        intercept=float(model["intercept"]),
        threshold=float(model["threshold"]),
        claim_min_content_words=int(model["claim_min_content_words"]),
        entity_probability=float(model["entity_probability"]),
        sha256="",
        raw={"model": model},
    )


def neutral_weights() -> LogisticWeights:
    """Coefficients that score everything 0.5: enough to compute features before a fit."""
    return weights_from_model(
        {
            "features": list(FEATURES),
            "mean": [0.0] * len(FEATURES),
            "scale": [1.0] * len(FEATURES),
            "coef": [0.0] * len(FEATURES),
            "intercept": 0.0,
            "threshold": 0.5,
            "claim_min_content_words": 3,
            "entity_probability": 0.5,
        }
    )


def verdict_scores(
    judge: LocalJudge, examples: Sequence[LabelledExample], weights: LogisticWeights
) -> FloatArray:
    """The judge's hallucination scores with ``weights``, exactly as at run time."""
    fold_judge = judge.with_weights(weights)
    return np.array(
        [float(fold_judge.verdict(e.answer, e.contexts).score or 0.0) for e in examples],
        dtype=np.float64,
    )


def answer_lengths(examples: Sequence[LabelledExample]) -> FloatArray:
    return np.array([len(words(e.answer)) for e in examples], dtype=np.float64)


def folds(
    examples: Sequence[LabelledExample], *, k: int = 5, seed: int = 0
) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """Stratified (source x label) folds that keep rows sharing a context in one fold.

    BEGIN has up to four responses per dialogue turn; splitting them across
    folds would let the model see the test knowledge while training.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    strata = [f"{e.source}:{int(e.hallucinated)}" for e in examples]
    groups = [e.group for e in examples]
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(examples)), strata, groups))


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Test-fold metrics per method, and each row's out-of-fold prediction."""

    per_fold: dict[str, list[dict[str, float | None]]]
    predicted: dict[str, BoolArray]


Detector = Callable[[npt.NDArray[np.intp], npt.NDArray[np.intp]], tuple[BoolArray, FloatArray]]


def cross_validate(
    judge: LocalJudge,
    examples: Sequence[LabelledExample],
    x: npt.NDArray[np.float64],
    *,
    k: int = 5,
    seed: int = 0,
    c: float = 1.0,
) -> CrossValidation:
    """Per-fold test metrics of the detector and the two one-feature baselines.

    Everything that is fitted (coefficients, baseline thresholds) is fitted on
    the training folds only; the test fold is scored once.
    """
    y = np.array([e.hallucinated for e in examples], dtype=bool)
    shares = np.array(
        [content_word_share(e.answer, "\n\n".join(e.contexts)) for e in examples], dtype=np.float64
    )
    lengths = answer_lengths(examples)

    def detector(
        train: npt.NDArray[np.intp], test: npt.NDArray[np.intp]
    ) -> tuple[BoolArray, FloatArray]:
        weights = weights_from_model(fit_logistic(x[train], y[train], c=c))
        scores = verdict_scores(judge, [examples[i] for i in test], weights)
        return scores >= weights.threshold, scores

    def content_words_baseline(
        train: npt.NDArray[np.intp], test: npt.NDArray[np.intp]
    ) -> tuple[BoolArray, FloatArray]:
        cut = best_threshold(shares[train], y[train], above=False)
        return shares[test] < cut, 1.0 - shares[test]

    def length_baseline(
        train: npt.NDArray[np.intp], test: npt.NDArray[np.intp]
    ) -> tuple[BoolArray, FloatArray]:
        up = best_threshold(lengths[train], y[train], above=True)
        down = best_threshold(lengths[train], y[train], above=False)
        if balanced_accuracy(y[train], lengths[train] >= up) >= balanced_accuracy(
            y[train], lengths[train] < down
        ):
            return lengths[test] >= up, lengths[test]
        return lengths[test] < down, -lengths[test]

    detectors: dict[str, Detector] = {
        "detector": detector,
        "content_word_baseline": content_words_baseline,
        "length_baseline": length_baseline,
    }
    result = CrossValidation(
        per_fold={name: [] for name in detectors},
        predicted={name: np.zeros(len(y), dtype=bool) for name in detectors},
    )
    for train, test in folds(examples, k=k, seed=seed):
        for name, run in detectors.items():
            predicted, scores = run(train, test)
            result.per_fold[name].append(binary_metrics(y[test], predicted, scores))
            result.predicted[name][test] = predicted
    return result


def weights_document(
    judge: LocalJudge, labels: Labels, *, k: int = 5, seed: int = 0, c: float = 1.0
) -> dict[str, Any]:
    """Fit on every row of ``labels``, cross-validate, and describe it all for the JSON file."""
    import sklearn

    examples = labels.examples
    x = feature_matrix(judge, examples)
    y = np.array([e.hallucinated for e in examples], dtype=bool)
    cv = cross_validate(judge, examples, x, k=k, seed=seed, c=c)
    shares = np.array([content_word_share(e.answer, "\n\n".join(e.contexts)) for e in examples])
    return {
        "description": (
            "Coefficients of the local judge's hallucination model: logistic regression on "
            "standardised answer-level features (see FEATURES in evals/judges/local.py). "
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
            "fitter": f"scikit-learn {sklearn.__version__} LogisticRegression(C={c}, "
            "class_weight='balanced'), features standardised",
            "embedder": judge.embedder.name,
        },
        "cross_validation": {
            "scheme": (
                f"{k}-fold StratifiedGroupKFold (strata: data_source x label; groups: identical "
                f"knowledge), seed {seed}; coefficients and baseline thresholds fitted on the "
                "training folds only; mean and sample sd over folds"
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
    print(
        f"wrote {args.out}: CV balanced accuracy {detector['mean']:.3f} ± {detector['sd']:.3f} "
        f"(content-word baseline {baseline['mean']:.3f} ± {baseline['sd']:.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
