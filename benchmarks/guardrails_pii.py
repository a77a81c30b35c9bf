"""PII detector on labelled dev data, beside a naive baseline measured in the same run.

    .venv/bin/python benchmarks/guardrails_pii.py [--data ../shared/data] [--show KIND]

Reads guardrails/pii_dev.jsonl (synthetic presidio-research sentences, all values
fake) and prints one table:

* per kind the detector ships: gold spans, predictions, precision, recall, F1 and
  "exact", the share of found gold spans whose boundaries a prediction matches
  exactly. A prediction is a true positive when it overlaps a gold span of the same
  kind; recall counts gold spans overlapped by a prediction of their kind.
* the micro total over those kinds, then untyped rows beside the baseline (any run of
  9+ digits, or a token with an @): spans against gold spans of the shipped kinds, all
  gold PII found by any prediction (names and addresses are mostly missed, by design),
  and text-level detection (any span predicted vs the row's label).
* the share of generated look-alike texts (years, prices, versions, timestamps, long
  counts, ISBNs, random 16-digit ids) flagged: the precision the dev data cannot show,
  as it has few numbers that are not PII. The families were written alongside the
  detector, so they guard against regressions more than they estimate precision.
* median time per dev text and per 1,000-character text, beside one ``re.search``.

``--show KIND`` prints that kind's false positives and misses, to read, not to tune on
(a holdout exists). Prints a notice and exits 0 when the data is absent.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ragwright.guardrails.findings import Span
from ragwright.guardrails.pii import PII_KINDS, find_pii
from ragwright.jsonl import read_jsonl

REPO = Path(__file__).resolve().parent.parent
BASELINE = re.compile(r"\d{9,}|\S+@\S+")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: bool
    gold: tuple[Span, ...]


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(n - 1))


# Numbers that are not personal data, in sentences: each should be flagged ~never,
# except where a checksum is the only guard (a random 16-digit id passes Luhn 1 in 10).
LOOK_ALIKES: dict[str, Callable[[random.Random], str]] = {
    "years, prices, percentages": lambda r: (
        f"In {r.randint(1900, 2099)} it cost ${r.randint(1, 999_999):,}.{r.randint(0, 99):02d}"
        f" ({r.randint(1, 99)}.{r.randint(0, 9)}% more)"
    ),
    "versions a.b.c and a.b.c.d (d > 255)": lambda r: (
        f"Upgrade to v{r.randint(0, 30)}.{r.randint(0, 99)}.{r.randint(0, 999)}"
        f" or build {r.randint(0, 30)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(256, 9999)}"
    ),
    "timestamps and dates": lambda r: (
        f"Run at {r.randint(1990, 2030)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
        f" {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d},"
        f" due {r.randint(1, 28):02d}.{r.randint(1, 12):02d}.{r.randint(1990, 2030)}"
    ),
    "counts and ids of 7-12 digits": lambda r: (
        f"Population {r.randint(1_000_000, 9_999_999_999)}, ticket #{_digits(r, r.randint(7, 12))}"
    ),
    "ISBNs and dotted quads over 255": lambda r: (
        f"ISBN 978-{r.randint(0, 9)}-{r.randint(10, 99)}-{r.randint(100000, 999999)}-"
        f"{r.randint(0, 9)}, address {r.randint(256, 999)}.{r.randint(0, 255)}.1.1"
    ),
    "random 16-digit ids (Luhn passes 1 in 10)": lambda r: f"Order {_digits(r, 16)} shipped",
}


def load(path: Path) -> list[Example]:
    examples = []
    for _, record in read_jsonl(path, what="PII dev data").records():
        gold = tuple(Span(s["start"], s["end"], s["entity_type"]) for s in record["spans"])
        examples.append(Example(record["text"], bool(record["label"]), gold))
    return examples


def baseline(text: str) -> list[Span]:
    return [Span(m.start(), m.end(), "ANY") for m in BASELINE.finditer(text)]


def overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


@dataclass
class Score:
    gold: int = 0
    found: int = 0  # gold spans overlapped
    exact: int = 0  # gold spans matched exactly
    predicted: int = 0
    correct: int = 0  # predictions overlapping gold

    def add(self, gold: Sequence[Span], predicted: Sequence[Span]) -> None:
        self.gold += len(gold)
        self.predicted += len(predicted)
        self.found += sum(any(overlaps(g, p) for p in predicted) for g in gold)
        self.exact += sum(
            any((g.start, g.end) == (p.start, p.end) for p in predicted) for g in gold
        )
        self.correct += sum(any(overlaps(p, g) for g in gold) for p in predicted)

    def row(self, name: str) -> str:
        precision = self.correct / self.predicted if self.predicted else float("nan")
        recall = self.found / self.gold if self.gold else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        exact = self.exact / self.found if self.found else float("nan")
        return (
            f"  {name:38s} {self.gold:5d} {self.predicted:5d} {precision:6.3f}"
            f" {recall:6.3f} {f1:6.3f} {exact:6.3f}"
        )


def text_level(examples: list[Example], detector: Callable[[str], list[Span]]) -> str:
    flagged = [bool(detector(e.text)) for e in examples]
    tp = sum(f and e.label for f, e in zip(flagged, examples, strict=True))
    positives = sum(e.label for e in examples)
    precision = tp / sum(flagged) if any(flagged) else float("nan")
    return f"precision {precision:.3f}  recall {tp / positives:.3f}"


def median_us(texts: list[str], detector: Callable[[str], object], rounds: int = 5) -> float:
    samples = []
    for text in texts:
        best = float("inf")
        for _ in range(rounds):
            started = time.perf_counter_ns()
            detector(text)
            best = min(best, time.perf_counter_ns() - started)
        samples.append(best / 1000)
    return statistics.median(samples)


def show(kind: str, examples: list[Example], predictions: list[list[Span]]) -> None:
    print(f"\n{kind}: false positives (-) and misses (+)")
    for example, predicted in zip(examples, predictions, strict=True):
        gold = [g for g in example.gold if g.kind == kind]
        for p in predicted:
            if p.kind == kind and not any(overlaps(p, g) for g in gold):
                others = [g.kind for g in example.gold if overlaps(p, g)]
                print(f"  - {example.text[p.start : p.end]!r} (gold there: {others})")
        for g in gold:
            if not any(p.kind == kind and overlaps(p, g) for p in predicted):
                print(f"  + {example.text[g.start : g.end]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--show", choices=PII_KINDS, action="append", default=[])
    args = parser.parse_args()
    path = args.data / "guardrails" / "pii_dev.jsonl"
    if not path.exists():
        print(f"skipped: {path} is absent (external data)")
        return 0
    examples = load(path)
    predictions = [find_pii(e.text) for e in examples]
    baselines = [baseline(e.text) for e in examples]

    per_kind = {kind: Score() for kind in PII_KINDS}
    micro, untyped, untyped_base, everything, everything_base = (Score() for _ in range(5))
    for example, predicted, base in zip(examples, predictions, baselines, strict=True):
        shipped = [g for g in example.gold if g.kind in PII_KINDS]
        for kind, score in per_kind.items():
            gold = [g for g in example.gold if g.kind == kind]
            mine = [p for p in predicted if p.kind == kind]
            score.add(gold, mine)
            micro.add(gold, mine)
        untyped.add(shipped, predicted)
        untyped_base.add(shipped, base)
        everything.add(example.gold, predicted)
        everything_base.add(example.gold, base)

    counts = Counter(g.kind for e in examples for g in e.gold)
    print(f"PII detector on {path.name}: {len(examples)} texts, {sum(counts.values())} gold spans")
    print(
        f"  {'kind':38s} {'gold':>5s} {'pred':>5s} {'prec':>6s} {'recall':>6s} {'F1':>6s}"
        f" {'exact':>6s}"
    )
    for kind, score in per_kind.items():
        print(score.row(kind))
    print(micro.row("micro, shipped kinds"))
    print("  untyped: spans vs gold spans of the shipped kinds")
    print(untyped.row("  detector"))
    print(untyped_base.row("  baseline \\d{9,}|\\S+@\\S+"))
    print("  untyped: all gold PII (every entity type)")
    print(everything.row("  detector"))
    print(everything_base.row("  baseline"))
    missing = ", ".join(f"{k} {n}" for k, n in counts.most_common() if k not in PII_KINDS)
    print(f"  not detected (gold count): {missing}")
    print(f"  text level, any PII vs label ({sum(e.label for e in examples)} positive):")
    print(f"    detector  {text_level(examples, find_pii)}")
    print(f"    baseline  {text_level(examples, baseline)}")

    print(f"  look-alike texts flagged, 1,000 each, seed 0 {'detector':>19s} {'baseline':>9s}")
    for family, make in LOOK_ALIKES.items():
        rng = random.Random(0)
        generated = [make(rng) for _ in range(1000)]
        rates = [sum(bool(d(t)) for t in generated) / 1000 for d in (find_pii, baseline)]
        print(f"    {family:56s} {rates[0]:8.3f} {rates[1]:9.3f}")

    texts = [e.text for e in examples]
    joined = " ".join(texts)
    windows = [joined[i : i + 1000] for i in range(0, len(joined) - 1000, 1000)]
    length = statistics.median(len(t) for t in texts)
    print(f"  median µs per text: dev texts (median {length:.0f} chars), 1,000-char windows")
    for name, detector in (("find_pii", find_pii), ("one re.search (baseline)", BASELINE.search)):
        short, long = median_us(texts, detector), median_us(windows, detector)
        print(f"    {name:30s} {short:8.1f} {long:8.1f}")

    compare_backends(examples)
    for kind in args.show:
        show(kind, examples, predictions)
    return 0


def compare_backends(examples: list[Example]) -> None:
    """Recall per gold kind, the built-in validators beside Presidio (when installed).

    Presidio's LOCATION counts for STREET_ADDRESS/GPE gold (it has no street kind);
    without a spaCy model it has no NER, so PERSON and LOCATION stay at 0 there.
    """
    try:
        from ragwright.guardrails.presidio import PRESIDIO_KINDS, PresidioPii
    except ImportError:
        print(
            "\n  backends: presidio-analyzer is not installed; pip install 'ragwright[guardrails]'"
        )
        return
    presidio = PresidioPii()
    kinds = set(PII_KINDS) | set(PRESIDIO_KINDS.values())
    engines: dict[str, Callable[[str], list[Span]]] = {
        "builtin": find_pii,
        "presidio": lambda text: presidio.find(text, kinds),
    }
    same = {"LOCATION": ("STREET_ADDRESS", "GPE"), "DATE_TIME": ("DATE_TIME",)}
    found: dict[str, Counter[str]] = {name: Counter() for name in engines}
    gold_counts: Counter[str] = Counter()
    for example in examples:
        predicted = {name: engine(example.text) for name, engine in engines.items()}
        for g in example.gold:
            gold_counts[g.kind] += 1
            for name, spans in predicted.items():
                if any(
                    overlaps(g, p) and (p.kind == g.kind or g.kind in same.get(p.kind, ()))
                    for p in spans
                ):
                    found[name][g.kind] += 1
    model = presidio.ner_model or "none installed: patterns and context words only"
    print(f"\n  backends, recall per gold kind (Presidio NER model: {model})")
    print(f"    {'kind':20s} {'gold':>5s} {'builtin':>8s} {'presidio':>9s}")
    for kind, n in gold_counts.most_common():
        recall = [found[name][kind] / n for name in engines]
        print(f"    {kind:20s} {n:5d} {recall[0]:8.3f} {recall[1]:9.3f}")
    texts = [e.text for e in examples]
    speed = {name: median_us(texts, engine, rounds=3) for name, engine in engines.items()}
    print("    median µs per text: " + ", ".join(f"{n} {us:.0f}" for n, us in speed.items()))


if __name__ == "__main__":
    sys.exit(main())
