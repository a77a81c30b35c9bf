"""A multi-turn golden case through the eval run: its history reaches the chain.

The follow-up "and how long does that take?" means nothing alone; with the
conversation before it, retrieval finds the document about rebuilding the index.
The same question without history is the control: it must not find it first.
"""

from __future__ import annotations

import json
from pathlib import Path

from ragwright.evals import evaluate
from ragwright.settings import Settings
from tests.test_chain_stream import FOLLOW_UP, HISTORY, indexed  # noqa: F401  (fixture)


def test_a_multi_turn_golden_case_is_answered_with_its_history(
    indexed: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    cases = [
        {
            "id": "follow-up",
            "history": HISTORY,
            "question": FOLLOW_UP,
            "reference_answer": "About ten minutes for a thousand documents.",
            "expected_sources": ["reindex.md"],
        },
        {
            "id": "alone",
            "question": FOLLOW_UP,
            "reference_answer": "About ten minutes for a thousand documents.",
            "expected_sources": ["reindex.md"],
        },
    ]
    golden = tmp_path / "conversations.jsonl"
    golden.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")

    comparison = evaluate(indexed, ["rag_answer@v1"], golden, gate=False, log_mlflow=False)

    [run] = comparison.runs
    by_id = {c.case_id: c for c in run.cases}
    followed, alone = by_id["follow-up"], by_id["alone"]
    assert followed.scores["mrr"].value == 1.0  # reindex.md ranked first
    assert "ten minutes" in followed.answer
    assert (alone.scores["mrr"].value or 0.0) < 1.0  # without the history it is not
