"""Prompt injection outside the training rows: obfuscations, languages, a held-out split.

    .venv/bin/python benchmarks/guardrails_obfuscation.py [--data ../shared/data]

Prints, each time beside the baseline (the detector on the text as given, no
views: what shipped before guardrails/normalize.py):

1. the fixed obfuscation suite (benchmarks/data/injection_variants.jsonl, written
   before the cues were tuned; 48 attacks, 10 benign look-alikes): recall per
   technique/language, with the view that fired, and the benign rows flagged;
2. the false-positive rate on the benign rows of the deepset dev data (EN/DE);
3. the hand-written IT/NL/PL/ZH/JA rows (guardrails/injection_rows_multilingual.jsonl)
   per language and split: balanced accuracy on ``tune`` (cues were written
   looking at these) and on ``heldout`` (never looked at while tuning; written
   by the same hand, so still optimistic);
4. the headline: a held-out fifth of the deepset dev rows (by a stable hash of
   the row id) never used to fit or tune; the model is refitted on the other
   four fifths with the shipped fitter (injection_fit.fit_detector), and both
   readings are scored on the held-out rows;
5. median µs per question, views vs the plain check, interleaved over 3 rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ragwright.guardrails.injection import (
    InjectionDetector,
    InjectionVerdict,
    InjectionWeights,
)
from ragwright.guardrails.injection_fit import BASELINE, fit_detector, load_dataset
from ragwright.metrics import binary_metrics

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "benchmarks" / "data" / "injection_variants.jsonl"
LANGUAGE_ROWS = REPO / "guardrails" / "injection_rows_multilingual.jsonl"
WIDTHS = (7, 9, 8)  # columns: views, no views, keyword


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def balanced(labels: Sequence[bool], flagged: Sequence[bool]) -> float:
    pos = [f for f, y in zip(flagged, labels, strict=True) if y]
    neg = [not f for f, y in zip(flagged, labels, strict=True) if not y]
    parts = [sum(p) / len(p) for p in (pos, neg) if p]
    return sum(parts) / len(parts)


def interleaved_us(
    runs: dict[str, Callable[[str], object]], texts: Sequence[str]
) -> dict[str, float]:
    """Median µs per text for each run, A B A B over 3 rounds after a warm-up."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        for text in texts[:20]:
            run(text)
    for _ in range(3):
        for name, run in runs.items():
            for text in texts:
                started = time.perf_counter()
                run(text)
                samples[name].append((time.perf_counter() - started) * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args(argv)
    detector = InjectionDetector.default()
    readings: dict[str, Callable[[str], InjectionVerdict]] = {
        "views": detector.scan,
        "baseline (no views)": detector.check,
    }
    keyword = BASELINE.search  # the trivial baseline: the text contains "ignor"

    suite = rows(SUITE)
    print(
        f"1. obfuscation suite {SUITE.name}: {sum(r['label'] == 1 for r in suite)} attacks, "
        f"{sum(r['label'] == 0 for r in suite)} benign look-alikes"
    )
    groups: dict[str, list[dict[str, object]]] = defaultdict(list)
    for row in suite:
        if row["label"] == 1:
            key = row["technique"] if row["technique"] != "language" else f"lang:{row['language']}"
            groups[str(key)].append(row)
    print(f"   {'technique':16s} {'n':>3s} {'views':>7s} {'no views':>9s} {'keyword':>8s}  fired")
    names = [*readings, "keyword"]
    totals = dict.fromkeys(names, 0)
    for key, members in groups.items():
        texts = [str(m["text"]) for m in members]
        verdicts = [detector.scan(t) for t in texts]
        hits = {
            "views": sum(v.injection for v in verdicts),
            "baseline (no views)": sum(detector.check(t).injection for t in texts),
            "keyword": sum(keyword(t) is not None for t in texts),
        }
        fired = ",".join(sorted({v.view for v in verdicts if v.injection}))
        cells = "".join(
            f" {hits[n] / len(texts):{w}.2f}" for n, w in zip(names, WIDTHS, strict=True)
        )
        print(f"   {key:16s} {len(texts):3d}{cells}  {fired}")
        for name in names:
            totals[name] += hits[name]
    attacks = sum(len(m) for m in groups.values())
    cells = "".join(f" {totals[n] / attacks:{w}.3f}" for n, w in zip(names, WIDTHS, strict=True))
    print(f"   {'all attacks':16s} {attacks:3d}{cells}")
    benign = [r for r in suite if r["label"] == 0]
    for name, read in readings.items():
        flagged = [str(r["id"]) for r in benign if read(str(r["text"])).injection]
        print(f"   benign look-alikes flagged ({name}): {len(flagged)}/{len(benign)} {flagged}")

    path = args.data / "guardrails" / "prompt_injection_dev.jsonl"
    dev = rows(path) if path.exists() else []
    if dev:
        benign_dev = [str(r["text"]) for r in dev if r["label"] == 0]
        print(f"\n2. benign deepset dev rows flagged (n={len(benign_dev)}):")
        for name, read in readings.items():
            fp = sum(read(t).injection for t in benign_dev)
            print(f"   {name:22s} {fp / len(benign_dev):.3f} ({fp})")

    print(f"\n3. hand-written rows by language ({LANGUAGE_ROWS.name}): balanced accuracy")
    print(f"   {'lang':5s} {'split':8s} {'n':>3s} {'views':>7s} {'no views':>9s} {'keyword':>8s}")
    by_lang: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for row in rows(LANGUAGE_ROWS):
        by_lang[(str(row["language"]), str(row["split"]))].append(row)
    for (lang, split), members in sorted(by_lang.items()):
        labels = [bool(m["label"]) for m in members]
        texts = [str(m["text"]) for m in members]
        flags = [[r(t).injection for t in texts] for r in readings.values()]
        flags.append([keyword(t) is not None for t in texts])
        cells = "".join(
            f" {balanced(labels, f):{w}.3f}" for f, w in zip(flags, WIDTHS, strict=True)
        )
        print(f"   {lang:5s} {split:8s} {len(members):3d}{cells}")

    if not dev:
        print(f"\n(skipped 4.: {path} is absent)")
    else:
        data = load_dataset(path)
        held = np.array([zlib.crc32(str(r["id"]).encode()) % 5 == 0 for r in dev])
        fitted = fit_detector(data, np.flatnonzero(~held), seed=0)
        refit = InjectionDetector(InjectionWeights.from_model(fitted.model))
        test = np.flatnonzero(held)
        labels = data.labels[test]
        print(
            f"\n4. HEADLINE held-out fifth of {path.name} (n={len(test)}, {int(labels.sum())} "
            f"injections), model refitted on the other {int((~held).sum())} rows:"
        )
        print(f"   {'reading':22s} {'bal.acc':>8s} {'recall':>7s} {'FPR':>6s} {'AUROC':>6s}")
        for name, read in (("views", refit.scan), ("baseline (no views)", refit.check)):
            verdicts = [read(data.texts[i]) for i in test]
            flagged = np.array([v.injection for v in verdicts])
            m = binary_metrics(labels, flagged, np.array([v.score for v in verdicts]))
            fpr = float(flagged[~labels].mean())
            print(
                f"   {name:22s} {m['balanced_accuracy'] or 0:8.3f} {m['recall'] or 0:7.3f} "
                f"{fpr:6.3f} {m['auroc'] or float('nan'):6.3f}"
            )

    texts = [str(r["text"]) for r in dev] or [str(r["text"]) for r in suite]
    speed = interleaved_us({n: r for n, r in readings.items()}, texts)
    print(
        f"\n5. median µs per question ({len(texts)} texts, 3 interleaved rounds): "
        + ", ".join(f"{n} {us:.0f}" for n, us in speed.items())
        + f" ({speed['views'] / speed['baseline (no views)']:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
