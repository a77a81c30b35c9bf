"""Judge calibration: agreement metrics, the labels reader, records, the CLI, the fitted judge."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from ragwright.errors import InputFileError
from ragwright.evals.calibration import (
    accuracy,
    auroc,
    balanced_accuracy,
    binary_metrics,
    cohen_kappa,
    constructed_relevance_pairs,
    f1,
    latest_calibration,
    load_labels,
    precision,
    recall,
    record_path,
    run_calibration,
    write_calibration_record,
)
from ragwright.evals.judges.base import HallucinationVerdict, Judge, RelevanceVerdict
from ragwright.evals.judges.local import (
    FEATURES,
    WEIGHTS_PATH,
    LocalJudge,
    LogisticWeights,
    claim_evidence,
    default_weights,
    split_claims,
)
from ragwright.providers.local_embeddings import LocalEmbedder
from ragwright.settings import Settings
from tests.conftest import SHARED_DATA, requires_shared_data, run_cli

ROLLBACK = (
    "The ragwright prompts rollback command moves the production alias back to the previous "
    "production version. The rollback is recorded in the prompt history."
)
GARDEN = (
    "Tomatoes need six hours of sun a day and regular watering in summer. "
    "Basil grows well next to tomatoes and keeps some pests away."
)
LABELS = [
    {
        "knowledge": GARDEN,
        "response": "Tomatoes need six hours of sun a day.",
        "hallucinated": 0,
    },
    {
        "context": ROLLBACK,
        "question": "What does the rollback command do?",
        "answer": "The rollback command moves the production alias back to the previous version.",
        "hallucinated": False,
    },
    {
        "context": [ROLLBACK, GARDEN],
        "answer": "The rollback deletes the Kubernetes cluster in 42 seconds.",
        "hallucinated": 1,
    },
    {
        "knowledge": GARDEN,
        "message": "any tips for basil?",
        "response": "Basil costs 17 dollars per ounce in Paris.",
        "hallucinated": True,
    },
]


def write_labels(path: Path, rows: Sequence[object] = LABELS) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def judge() -> LocalJudge:
    return LocalJudge(LocalEmbedder())


# -- metrics ----------------------------------------------------------------------------------


def test_perfect_agreement() -> None:
    truth = [True, True, False, False, True]
    m = binary_metrics(truth, truth, [0.9, 0.8, 0.1, 0.2, 0.7])
    assert m == {
        "accuracy": 1.0,
        "balanced_accuracy": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "auroc": 1.0,
        "kappa": 1.0,
    }


def test_inverse_agreement() -> None:
    truth = [True, True, False, False]
    m = binary_metrics(truth, [not t for t in truth], [0.1, 0.2, 0.9, 0.8])
    assert m["accuracy"] == 0.0
    assert m["balanced_accuracy"] == 0.0
    assert m["precision"] == 0.0
    assert m["recall"] == 0.0
    assert m["f1"] == 0.0
    assert m["auroc"] == 0.0
    assert m["kappa"] == pytest.approx(-1.0)


def test_kappa_known_value() -> None:
    # 50 items: both yes 20, judge yes/human no 10, judge no/human yes 5, both no 15.
    # p_o = 0.7, p_e = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = (0.7 - 0.5) / 0.5 = 0.4
    truth = [True] * 20 + [False] * 10 + [True] * 5 + [False] * 15
    judged = [True] * 20 + [True] * 10 + [False] * 5 + [False] * 15
    assert cohen_kappa(truth, judged) == pytest.approx(0.4)


def test_mixed_confusion_by_hand() -> None:
    truth = [True, True, True, False, False]
    judged = [True, True, False, True, False]  # tp 2, fn 1, fp 1, tn 1
    assert accuracy(truth, judged) == pytest.approx(3 / 5)
    assert precision(truth, judged) == pytest.approx(2 / 3)
    assert recall(truth, judged) == pytest.approx(2 / 3)
    assert f1(truth, judged) == pytest.approx(2 / 3)
    assert balanced_accuracy(truth, judged) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_auroc_ties_and_undefined() -> None:
    assert auroc([False, False, True, True], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert auroc([False, True], [0.5, 0.5]) == pytest.approx(0.5)
    assert auroc([True, True], [0.2, 0.9]) is None  # one class: undefined, never NaN


def test_metrics_match_scikit_learn() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    truth = rng.random(300) < 0.3
    scores = np.round(rng.random(300) * 0.6 + truth * 0.3, 2)  # rounded: ties included
    judged = scores >= 0.5
    ours = binary_metrics(truth, judged, scores)
    assert ours["accuracy"] == pytest.approx(sk.accuracy_score(truth, judged))
    assert ours["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(truth, judged))
    assert ours["precision"] == pytest.approx(sk.precision_score(truth, judged))
    assert ours["recall"] == pytest.approx(sk.recall_score(truth, judged))
    assert ours["f1"] == pytest.approx(sk.f1_score(truth, judged))
    assert ours["auroc"] == pytest.approx(sk.roc_auc_score(truth, scores))
    assert ours["kappa"] == pytest.approx(sk.cohen_kappa_score(truth, judged))


# -- labels files -----------------------------------------------------------------------------


def test_labels_accept_both_shared_field_spellings(tmp_path: Path) -> None:
    labels = load_labels(write_labels(tmp_path / "labels.jsonl"))
    assert [e.hallucinated for e in labels.examples] == [False, False, True, True]
    assert labels.examples[0].contexts == (GARDEN,)
    assert labels.examples[1].question == "What does the rollback command do?"
    assert labels.examples[2].contexts == (ROLLBACK, GARDEN)
    assert labels.examples[3].question == "any tips for basil?"
    assert labels.sha256 == hashlib.sha256((tmp_path / "labels.jsonl").read_bytes()).hexdigest()
    assert len(load_labels(tmp_path / "labels.jsonl", limit=2).examples) == 2


@pytest.mark.parametrize(
    ("line", "match", "field"),
    [
        ("{not json", "not valid JSON", None),
        ('["a list"]', "JSON object", None),
        ('{"response": "r", "hallucinated": 0}', "required field is missing", "knowledge"),
        (
            '{"knowledge": "  ", "response": "r", "hallucinated": 0}',
            "must not be blank",
            "knowledge",
        ),
        ('{"context": 3, "answer": "r", "hallucinated": 0}', "string", "context"),
        ('{"knowledge": "k", "hallucinated": 0}', "required field is missing", "response"),
        ('{"knowledge": "k", "response": "r"}', "required field is missing", "hallucinated"),
        ('{"knowledge": "k", "response": "r", "hallucinated": "yes"}', "0, 1", "hallucinated"),
        (
            '{"knowledge": "k", "response": "r", "question": 1, "hallucinated": 0}',
            "string",
            "question",
        ),
    ],
)
def test_broken_labels_name_file_line_field(
    tmp_path: Path, line: str, match: str, field: str | None
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(json.dumps(LABELS[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=match) as info:
        load_labels(path)
    assert info.value.line == 2
    assert info.value.field == field
    assert f"{path}:2" in str(info.value)


def test_missing_or_empty_labels_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        load_labels(tmp_path / "absent.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no examples"):
        load_labels(tmp_path / "empty.jsonl")


# -- calibration runs and records -------------------------------------------------------------


class FlakyJudge(Judge):
    """Flags answers mentioning Paris; fails on the Kubernetes one; says nothing useful once."""

    name = "test/flaky"

    async def hallucination(
        self, question: str, answer: str, contexts: Sequence[str]
    ) -> HallucinationVerdict:
        if "Kubernetes" in answer:
            raise TimeoutError("judge did not answer")
        if "rollback" in answer:
            return HallucinationVerdict(None, None, outcome="unparseable", detail="not JSON")
        return HallucinationVerdict("Paris" in answer, 0.9 if "Paris" in answer else 0.1)

    async def relevance(self, question: str, answer: str) -> RelevanceVerdict:
        return RelevanceVerdict(3)


def test_failed_judgements_are_counted_not_dropped(tmp_path: Path) -> None:
    labels = load_labels(write_labels(tmp_path / "labels.jsonl"))
    result = run_calibration(FlakyJudge(), labels, baseline_threshold=0.75)
    assert result.n == 4
    assert result.judged == 2
    assert result.errors == 2
    assert result.error_lines == [2, 3]
    assert result.metrics["accuracy"] == 1.0  # over the two judged rows
    assert result.baseline_metrics["balanced_accuracy"] == 1.0  # baseline sees every row


def test_records_and_latest_calibration(tmp_path: Path, isolated_home: Path) -> None:
    settings = Settings()
    assert latest_calibration(settings, "test/flaky") is None
    first = load_labels(write_labels(tmp_path / "a.jsonl"))
    second = load_labels(write_labels(tmp_path / "b.jsonl", LABELS[:3]))
    result = run_calibration(FlakyJudge(), first, baseline_threshold=0.75)
    path_a = write_calibration_record(settings, FlakyJudge(), first, result)
    path_b = write_calibration_record(settings, FlakyJudge(), second, result, limit=3)
    assert path_a == record_path(settings, "test/flaky", first.sha256)
    assert path_a.parent == isolated_home / "calibration"
    assert path_a.name == f"test_flaky-{first.sha256[:12]}.json"
    (path_a.parent / "test_flaky-garbage.json").write_text("{half", encoding="utf-8")
    latest = latest_calibration(settings, "test/flaky")
    assert latest is not None
    assert latest["record_path"] == str(path_b)
    assert latest["labels_sha256"] == second.sha256
    assert latest["limit"] == 3
    assert latest["errors"] == 2
    assert latest_calibration(settings, "local/judge") is None


def test_constructed_relevance_pairs_never_keep_their_own_answer() -> None:
    pairs = [(f"q{i}", f"a{i}") for i in range(25)]
    labelled = constructed_relevance_pairs(pairs, seed=3)
    assert labelled[:25] == [(q, a, "true") for q, a in pairs]
    constructed = labelled[25:]
    assert all(label == "constructed" for *_, label in constructed)
    assert all(q[1:] != a[1:] for q, a, _ in constructed)
    assert sorted(a for _, a, _ in constructed) == sorted(a for _, a in pairs)
    assert constructed == constructed_relevance_pairs(pairs, seed=3)[25:]


# -- the local judge --------------------------------------------------------------------------


def test_committed_weights_load_and_describe_their_training() -> None:
    weights = default_weights()
    assert weights.features == FEATURES
    assert weights.sha256 == hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    raw = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    assert raw["training"]["rows"] > 0
    assert raw["training"]["date"]
    assert "balanced_accuracy" in raw["cross_validation"]["detector"]
    assert 0 < raw["baselines"]["content_word_share"] < 1
    assert 0.5 < weights.entity_probability < 1


def test_judge_scores_are_deterministic_and_follow_theweights_from_model(
    judge: LocalJudge, tmp_path: Path
) -> None:
    answer = "Tomatoes need six hours of sun and basil keeps pests away."
    first = judge.verdict(answer, [GARDEN])
    again = LocalJudge(LocalEmbedder()).verdict(answer, [GARDEN])
    assert first == again
    raw = json.loads(WEIGHTS_PATH.read_text(encoding="utf-8"))
    raw["model"]["intercept"] = 50.0  # everything unsupported
    (tmp_path / "w.json").write_text(json.dumps(raw), encoding="utf-8")
    strict = LocalJudge(judge.embedder, LogisticWeights.from_json(tmp_path / "w.json"))
    verdict = strict.verdict(answer, [GARDEN])
    assert verdict.hallucinated
    assert verdict.score == 1.0
    assert verdict.unsupported_claims


def test_supported_answers_score_low(judge: LocalJudge) -> None:
    for answer, context in [
        ("The rollback command moves the production alias back to the previous version.", ROLLBACK),
        ("Tomatoes need six hours of sun a day [gardening.txt].", GARDEN),
        ("Tomatoes need 6 hours of sun a day.", GARDEN),  # "six" supports 6
        ("i think basil grows well next to tomatoes", GARDEN.lower()),
    ]:
        verdict = judge.verdict(answer, [context])
        assert verdict.score is not None
        assert verdict.score < 0.5, (answer, verdict)
        assert verdict.hallucinated is False
        assert verdict.unsupported_claims == []


def test_quoted_identifiers_are_not_missing_names(judge: LocalJudge) -> None:
    """A verbatim quote of markdown docs: `PersistentClient` is one identifier, not a name."""
    context = (
        "By default the index is an embedded Chroma `PersistentClient` database under"
        " `.ragwright/chroma`; setting `RAGWRIGHT_CHROMA_URL=http://host:8000` switches"
        " ragwright to a Chroma HTTP server with no code change."
    )
    answer = (
        "By default the index is an embedded Chroma PersistentClient database under"
        " .ragwright/chroma; setting RAGWRIGHT_CHROMA_URL=http://host:8000 switches"
        " ragwright to a Chroma HTTP server with no code change."
    )
    verdict = judge.verdict(answer, [context])
    assert not verdict.hallucinated, verdict
    assert judge.verdict(answer.replace("Chroma HTTP", "Qdrant HTTP"), [context]).hallucinated


def test_invented_numbers_and_names_score_high(judge: LocalJudge) -> None:
    grounded = "The rollback command moves the production alias back. It is recorded in history."
    for answer in [
        "The rollback takes 45 seconds.",
        "The rollback command was written by Angela Merkel.",
        grounded + " Basil was first grown on Mars in 1850 by NASA.",
    ]:
        verdict = judge.verdict(answer, [ROLLBACK, GARDEN])
        assert verdict.score is not None
        assert verdict.score > 0.5, (answer, verdict)
        assert verdict.hallucinated
    last = judge.verdict(grounded + " Basil was first grown on Mars in 1850 by NASA.", [ROLLBACK])
    assert last.unsupported_claims == ["Basil was first grown on Mars in 1850 by NASA."]
    evidence = claim_evidence(
        split_claims(grounded + " It took 42 seconds."), [ROLLBACK], judge.embedder
    )
    assert [e.missing_numbers for e in evidence] == [0, 0, 1]


def test_refusals_and_empty_context(judge: LocalJudge) -> None:
    refusal = judge.verdict("I cannot answer from the provided documents.", [ROLLBACK])
    assert refusal.hallucinated is False
    nothing = judge.verdict("The rollback moves the alias.", ["  "])
    assert nothing.hallucinated is True


def test_claims_split_lower_case_and_spaced_punctuation() -> None:
    assert split_claims("it was closed in 1985. he founded it [a.md].") == [
        "it was closed in 1985.",
        "he founded it.",
    ]
    assert split_claims("Sure ! It 's an apiary . Bees live there .") == [
        "Sure !",
        "It 's an apiary .",
        "Bees live there .",
    ]
    assert split_claims("The U.S. military uses it.") == ["The U.S. military uses it."]


# -- the command ------------------------------------------------------------------------------


def test_calibrate_command_prints_metrics_and_writes_record(
    tmp_path: Path, isolated_home: Path
) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")
    result = run_cli("eval", "calibrate", "--labels", str(labels), "--write", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for metric in ("balanced_accuracy", "precision", "recall", "auroc", "kappa"):
        assert metric in result.stdout
    assert "content-word baseline" in result.stdout
    assert "errors 0" in result.stdout
    sha = hashlib.sha256(labels.read_bytes()).hexdigest()
    path = isolated_home / "calibration" / f"local_judge-{sha[:12]}.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["judge"] == "local/judge"
    assert record["labels_sha256"] == sha
    assert record["weights_sha256"] == hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest()
    assert record["n"] == 4
    assert record["metrics"]["balanced_accuracy"] == 1.0
    assert set(record["baseline"]["metrics"]) == set(record["metrics"])
    assert latest_calibration(Settings(), "local/judge") == {**record, "record_path": str(path)}
    # the project's own cut: fitted on its labels, used by its local judge from now on
    assert "best threshold on these labels" in result.stdout
    assert 0.0 <= record["threshold"] <= 1.0
    assert record["metrics_at_threshold"]["balanced_accuracy"] == 1.0
    from ragwright.evals.calibration_record import cited_calibration
    from ragwright.evals.judges.registry import judge_from_settings

    used = judge_from_settings(Settings())
    assert used.weights.threshold == record["threshold"]  # type: ignore[attr-defined]
    assert cited_calibration(Settings(), "local/judge") == (path.name, 1.0)


def test_calibrate_without_write_leaves_no_record(tmp_path: Path, isolated_home: Path) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")
    result = run_cli(
        "eval", "calibrate", "--labels", str(labels), "--judge", "local", "--limit", "2",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rows 2" in result.stdout
    assert not (isolated_home / "calibration").exists()


def test_calibrate_broken_labels_line_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(
        json.dumps(LABELS[0]) + "\n" + '{"knowledge": "k", "response": "r", "hallucinated": 2}\n',
        encoding="utf-8",
    )
    result = run_cli("eval", "calibrate", "--labels", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{path}:2" in result.stderr
    assert "hallucinated" in result.stderr
    assert "Traceback" not in result.stderr


# -- the committed weights on real labels -----------------------------------------------------


@pytest.mark.slow
@requires_shared_data("begin", "begin_dev.jsonl")
def test_committed_weights_agree_with_begin_labels(judge: LocalJudge, tmp_path: Path) -> None:
    rows = (SHARED_DATA / "begin" / "begin_dev.jsonl").read_text(encoding="utf-8").splitlines()
    sample = sorted(np.random.default_rng(0).choice(len(rows), size=300, replace=False))
    subset = tmp_path / "begin_sample.jsonl"
    subset.write_text("\n".join(rows[i] for i in sample) + "\n", encoding="utf-8")
    result = run_calibration(judge, load_labels(subset))
    assert result.errors == 0
    assert result.metrics["balanced_accuracy"] is not None
    assert result.metrics["balanced_accuracy"] >= 0.85, result.metrics
