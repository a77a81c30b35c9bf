"""ragwright.linear: the logistic fit, grouped folds and the weights-file model block."""

from __future__ import annotations

import numpy as np
import pytest

from ragwright.linear import (
    check_model,
    fit_logistic,
    grouped_folds,
    model_document,
    standardise,
)


def data(n: int = 300, p: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = (x @ np.arange(1, p + 1) + rng.normal(scale=2.0, size=n)) > 1.5  # imbalanced
    return x, y


def test_primal_and_dual_newton_agree_and_match_sklearn() -> None:
    sk = pytest.importorskip("sklearn.linear_model")
    x, y = data()
    mean, scale = standardise(x)
    z = np.hstack([(x - mean) / scale, np.full((len(x), 1), 10.0)])
    primal = fit_logistic(z, y, lam=1.0, dual=False)
    dual = fit_logistic(z, y, lam=1.0, dual=True)
    np.testing.assert_allclose(primal, dual, atol=1e-6)
    reference = sk.LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000)
    reference.fit((x - mean) / scale, y.astype(int))
    ours = 1 / (1 + np.exp(-(z @ primal)))
    theirs = reference.predict_proba((x - mean) / scale)[:, 1]
    assert np.max(np.abs(ours - theirs)) < 0.01  # only the intercept's tiny penalty differs
    assert np.mean((ours >= 0.5) == (theirs >= 0.5)) > 0.99


def test_grouped_folds_keep_groups_whole_and_spread_strata() -> None:
    rng = np.random.default_rng(1)
    groups = rng.integers(0, 60, size=400).astype(np.intp)
    strata = np.array(
        [
            f"{s}:{int(v)}"
            for s, v in zip(rng.integers(0, 3, 400), rng.random(400) < 0.3, strict=True)
        ]
    )
    tests = grouped_folds(strata, groups, k=5, seed=0)
    assert sorted(np.concatenate(tests).tolist()) == list(range(400))
    for test in tests:
        inside = set(groups[test].tolist())
        outside = set(np.delete(groups, test).tolist())
        assert not inside & outside
    share = [np.mean(strata[t] == "0:True") for t in tests]
    assert max(share) - min(share) < 0.1
    labels = strata == "0:True"
    assert [t.tolist() for t in grouped_folds(labels, groups, k=5, seed=0)] == [
        t.tolist() for t in grouped_folds(labels.astype(int), groups, k=5, seed=0)
    ]


def test_model_document_round_trip_and_check() -> None:
    doc = model_document(("a", "b"), np.array([0.1234567, 0.0]), np.ones(2), np.ones(2), 0.5)
    assert doc["mean"] == [0.123457, 0.0]
    assert doc["threshold"] == 0.5
    check_model(doc, ("a", "b", "c"), "w.json")
    with pytest.raises(ValueError, match="do not match"):
        check_model(doc, ("a",), "w.json")
    with pytest.raises(ValueError, match="lack intercept"):
        check_model({k: v for k, v in doc.items() if k != "intercept"}, ("a", "b"), "w.json")
