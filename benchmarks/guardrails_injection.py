"""Prompt-injection detector: cross-validated quality beside a trivial baseline, and its speed.

    .venv/bin/python benchmarks/guardrails_injection.py [--data ../shared/data] [--folds 5]

Prints, for the deepset prompt-injection dev rows (English and German), the
test-fold metrics of 5-fold stratified CV with near-duplicate rows grouped,
repeated over three seeds (mean ± sd over all folds), for

* the trivial baseline: the text contains "ignore"/"ignorieren";
* the cue patterns alone: any cue matched is an injection;
* the learned detector: cues + style features + hashed n-grams through the
  logistic model, its C and threshold chosen inside each training set.

The cue patterns were written with these rows in view, so their numbers (and
the detector's, which uses them) are optimistic; a holdout checks them.
Then the median time per text of ``InjectionDetector.check`` beside a single
precompiled regex search (the baseline), over the dev texts. Prints a notice
and exits 0 when the data is absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ragwright.guardrails.injection import WEIGHTS_PATH, InjectionDetector
from ragwright.guardrails.injection_fit import (
    BASELINE,
    METHODS,
    cross_validate,
    load_dataset,
)
from ragwright.metrics import METRIC_LABELS, METRICS, summarise

REPO = Path(__file__).resolve().parent.parent


def median_us(run: Callable[[str], object], texts: Sequence[str], repeat: int = 5) -> float:
    """Median microseconds per call over ``repeat`` passes of every text (after a warm-up)."""
    for text in texts:
        run(text)
    times = []
    for _ in range(repeat):
        for text in texts:
            start = time.perf_counter()
            run(text)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    path = args.data / "guardrails" / "prompt_injection_dev.jsonl"
    if not path.exists():
        print(f"skipped: {path} is absent (external data)")
        return 0

    data = load_dataset(path)
    seeds = (0, 1, 2)
    started = time.perf_counter()
    cv = cross_validate(data, k=args.folds, seeds=seeds)
    elapsed = time.perf_counter() - started
    print(
        f"prompt injection, {path.name}: n={len(data.texts)} ({int(data.labels.sum())} "
        f"injections), {len(np.unique(data.groups))} near-duplicate groups; "
        f"{args.folds}-fold stratified grouped CV x seeds {list(seeds)} ({elapsed:.1f} s)"
    )
    print(f"  {'method':30s}" + "".join(f"{METRIC_LABELS[m]:>16s}" for m in METRICS))
    for name in METHODS:
        summary = summarise(cv[name])
        cells = [f"{summary[m]['mean']:.3f} ± {summary[m]['sd']:.3f}" for m in METRICS]
        print(f"  {name:30s}" + "".join(f"{c:>16s}" for c in cells))

    shipped = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    training = shipped["training"]
    same = "same file" if training["labels_sha256"] == data.sha256 else "DIFFERENT file: refit"
    print(
        f"\nshipped weights: fitted {training['date']} on {training['rows']} rows ({same}); "
        f"threshold {shipped['model']['threshold']:.3f}"
    )

    detector = InjectionDetector.default()
    texts = data.texts
    ours = median_us(detector.check, texts)
    base = median_us(BASELINE.search, texts)
    long_text = " ".join(texts)[:4000]
    mean_chars = np.mean([len(t) for t in texts])
    print(
        f"speed (median per text, {len(texts)} dev texts, mean {mean_chars:.0f} chars): "
        f"detector {ours:.1f} µs, baseline regex {base:.2f} µs ({ours / base:.0f}x); "
        f"a {len(long_text)}-char text: {median_us(detector.check, [long_text]):.0f} µs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
