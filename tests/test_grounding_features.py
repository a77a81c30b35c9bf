"""The local judge's answer-level features, older weights files, leave-one-source-out."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ragwright.evals.calibration import LabelledExample, leave_one_source_out
from ragwright.evals.calibration_fit import feature_matrix
from ragwright.evals.judges.local import LocalJudge
from ragwright.grounding import WEIGHTS_PATH, LogisticWeights, default_weights
from ragwright.grounding_features import FEATURES, ContextEvidence, answer_features
from ragwright.providers.local_embeddings import LocalEmbedder

KNOWLEDGE = (
    "five-pin bowling is a bowling variant which is played in canada, where many bowling"
    " alleys offer it, either alone or in combination with ten-pin bowling."
)


def features(answer: str, context: str = KNOWLEDGE) -> dict[str, float]:
    return answer_features(answer, [answer], [0.5], ContextEvidence([context]))


def test_every_feature_is_computed_in_order() -> None:
    assert list(features("five-pin bowling is played in canada.")) == list(FEATURES)


def test_novel_tokens_count_what_the_answer_adds() -> None:
    copied = features("five-pin bowling is a bowling variant which is played in canada")
    aside = features("five-pin bowling is a bowling variant which is played in canada, I love it")
    invented = features(
        "five-pin bowling is the national sport of canada and was invented by a dentist in 1909"
    )
    assert copied["novel_tokens"] == 0.0
    assert 0.0 < aside["novel_tokens"] < invented["novel_tokens"]


def test_context_used_is_the_share_of_the_context_drawn_on() -> None:
    full = features(KNOWLEDGE)
    part = features("five-pin bowling is played in canada.")
    unrelated = features("The weather is nice today.")
    assert full["context_used"] == 1.0
    assert 0.0 < part["context_used"] < 1.0
    assert unrelated["context_used"] == 0.0


def test_a_weights_file_naming_fewer_features_still_loads(tmp_path: Path) -> None:
    """Weights fitted before a feature was added keep working: only named features count."""
    raw = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    model = raw["model"]
    keep = [i for i, name in enumerate(model["features"]) if name != "context_used"]
    for key in ("features", "mean", "scale", "coef"):
        model[key] = [model[key][i] for i in keep]
    (tmp_path / "old.json").write_text(json.dumps(raw), encoding="utf-8")
    older = LogisticWeights.from_json(tmp_path / "old.json")
    assert "context_used" not in older.features
    row = features("five-pin bowling is played in canada.")
    assert 0.0 < older.probability(row) < 1.0
    assert older.probability(row) != default_weights().probability(row)


def test_unknown_features_in_a_weights_file_are_refused(tmp_path: Path) -> None:
    raw = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    raw["model"]["features"][0] = "sentiment"
    (tmp_path / "w.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ValueError, match="do not match the features"):
        LogisticWeights.from_json(tmp_path / "w.json")


def test_leave_one_source_out_scores_each_source_unseen() -> None:
    """Each source is scored by a model fitted on the others only; a lone class is skipped."""
    rows = [
        ("a", KNOWLEDGE, "five-pin bowling is played in canada.", False),
        ("a", KNOWLEDGE, "five-pin bowling was invented by a dentist in Paris in 1909.", True),
        ("a", KNOWLEDGE, "many bowling alleys in canada offer five-pin bowling.", False),
        ("a", KNOWLEDGE, "i love bowling, my uncle owns twelve alleys in Texas.", True),
        ("b", KNOWLEDGE, "it is a bowling variant played in canada.", False),
        ("b", KNOWLEDGE, "the pins weigh 40 pounds and are made of gold.", True),
        ("b", KNOWLEDGE, "many alleys offer it with ten-pin bowling.", False),
        ("b", KNOWLEDGE, "Queen Victoria banned it in 1850.", True),
    ]
    examples = [
        LabelledExample(i, "", answer, (context,), label, source)
        for i, (source, context, answer, label) in enumerate(rows)
    ]
    judge = LocalJudge(LocalEmbedder())
    x = feature_matrix(judge, examples)
    result = leave_one_source_out(judge, examples, x)
    assert set(result) == {"a", "b"}
    for metrics in result.values():
        assert metrics["balanced_accuracy"] is not None
        assert metrics["auroc"] is not None
        assert metrics["auroc"] >= 0.75
    # one source only: nothing to fit on, nothing reported
    assert leave_one_source_out(judge, examples[:4], x[:4]) == {}


def test_a_record_made_with_other_weights_is_ignored(isolated_home: Path) -> None:
    """After an upgrade changes the weights, a project's old threshold and metrics do not apply."""
    from ragwright.evals.calibration_record import (
        SHIPPED_RECORD,
        cited_calibration,
        project_threshold,
    )
    from ragwright.settings import Settings

    settings = Settings()
    folder = isolated_home / "calibration"
    folder.mkdir(parents=True)
    current = hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    record = {
        "judge": "local/judge",
        "weights_sha256": current,
        "threshold": 0.2,
        "metrics": {"balanced_accuracy": 0.7},
        "metrics_at_threshold": {"balanced_accuracy": 0.81},
        "created_at": "2026-01-01T00:00:00+00:00",
    }
    path = folder / "local_judge-aaaaaaaaaaaa.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    assert project_threshold(settings, "local/judge") == 0.2
    assert cited_calibration(settings, "local/judge") == (path.name, 0.81)

    path.write_text(json.dumps({**record, "weights_sha256": "0" * 64}), encoding="utf-8")
    assert project_threshold(settings, "local/judge") is None
    shipped = json.loads(SHIPPED_RECORD.read_text(encoding="utf-8"))
    assert cited_calibration(settings, "local/judge") == (
        f"shipped:{SHIPPED_RECORD.name}",
        shipped["metrics"]["balanced_accuracy"],
    )
