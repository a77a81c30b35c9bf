"""One linear-model module for ragwright's two learned detectors (numpy only).

The local hallucination judge (``evals/calibration.py``) and the prompt-injection
detector (``guardrails/injection_fit.py``) are both L2 logistic regressions on
standardised features with balanced class weights, cross-validated on folds
that keep related rows together. Both use what is here:

* :func:`standardise` and :func:`balanced_weights`;
* :func:`fit_logistic`: Newton's method with a backtracking line search, solved
  in the primal (few features) or through the Woodbury identity (more columns
  than rows, as with hashed n-grams);
* :func:`grouped_folds`: k folds of whole groups, each stratum spread evenly;
* :func:`model_document` / :func:`check_model`: the ``model`` block of a weights
  file (``features``, ``mean``, ``scale``, ``coef``, ``intercept``,
  ``threshold``, plus detector-specific keys), rounded as committed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MODEL_KEYS",
    "BoolArray",
    "FloatArray",
    "IndexArray",
    "balanced_weights",
    "check_model",
    "fit_logistic",
    "grouped_folds",
    "model_document",
    "standardise",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]

MODEL_KEYS = ("features", "mean", "scale", "coef", "intercept", "threshold")
"""Keys every weights file's ``model`` block has; detectors may add their own."""


def standardise(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Column means and standard deviations (a constant column gets scale 1)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def balanced_weights(y: BoolArray) -> FloatArray:
    """Per-row weights that give both classes the same total (0.5 maximises balanced accuracy)."""
    weights: FloatArray = np.where(
        y, len(y) / (2 * max(1, y.sum())), len(y) / (2 * max(1, (~y).sum()))
    )
    return weights


def fit_logistic(
    z: FloatArray,
    y: BoolArray,
    *,
    lam: float,
    weights: FloatArray | None = None,
    dual: bool | None = None,
    max_iter: int = 100,
) -> FloatArray:
    """Coefficients minimising weighted log-loss + ``lam``/2 |w|^2 over the columns of ``z``.

    Put any intercept in ``z`` as a constant column: its scale sets its penalty.
    ``dual`` solves each Newton step in the n x n space (Woodbury): cheaper when
    there are more columns than rows; None picks by shape.
    """
    t = y.astype(np.float64)
    s = balanced_weights(y) if weights is None else weights
    n, p = z.shape
    dual = p > n if dual is None else dual
    gram = z @ z.T if dual else None
    w = np.zeros(p)

    def objective(v: FloatArray) -> float:
        eta = z @ v
        return float(np.sum(s * (np.logaddexp(0, eta) - t * eta)) + lam / 2 * v @ v)

    current = objective(w)
    for _ in range(max_iter):
        prob = 1.0 / (1.0 + np.exp(-(z @ w)))
        g = z.T @ (s * (prob - t)) + lam * w
        if gram is not None:
            r = np.sqrt(s * prob * (1 - prob))
            inner = lam * np.eye(n) + r[:, None] * gram * r[None, :]
            step = (g - z.T @ (r * np.linalg.solve(inner, r * (z @ g)))) / lam
        else:
            hessian = z.T @ ((s * prob * (1 - prob))[:, None] * z) + lam * np.eye(p)
            step = np.linalg.solve(hessian, g)
        size = 1.0
        while (candidate := objective(w - size * step)) > current and size > 1e-8:
            size /= 2
        w, previous, current = w - size * step, current, candidate
        if previous - current < 1e-10 * max(1.0, abs(current)):
            break
    return w


def grouped_folds(
    strata: npt.ArrayLike, groups: IndexArray, *, k: int = 5, seed: int = 0
) -> list[IndexArray]:
    """Test-fold indices: whole groups, each stratum spread evenly (greedy, largest first).

    ``strata`` is one label per row (a bool label, or e.g. source x label); rows of
    one group always share a fold, so related rows never straddle train and test.
    """
    codes = np.unique(np.asarray(strata), return_inverse=True)[1].reshape(-1)
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.unique(groups))
    members = {int(g): np.flatnonzero(groups == g) for g in ids}
    order = sorted(members, key=lambda g: -len(members[g]))  # stable: shuffled among equals
    kinds = int(codes.max()) + 1 if codes.size else 0
    totals = np.bincount(codes, minlength=kinds).astype(np.float64)
    counts = np.zeros((k, kinds))
    assigned: list[list[int]] = [[] for _ in range(k)]
    for g in order:
        add = np.bincount(codes[members[g]], minlength=kinds)
        cost = (((counts + add) ** 2) / totals).sum(axis=1)
        best = int(np.argmin(cost))
        counts[best] += add
        assigned[best].extend(members[g].tolist())
    return [np.array(sorted(a), dtype=np.intp) for a in assigned]


def model_document(
    features: Sequence[str],
    mean: FloatArray,
    scale: FloatArray,
    coef: FloatArray,
    intercept: float,
    *,
    threshold: float = 0.5,
    **extra: Any,
) -> dict[str, Any]:
    """The ``model`` block of a weights file, rounded to 6 decimals as committed."""
    return {
        "features": list(features),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "coef": [round(float(v), 6) for v in coef],
        **extra,
        "intercept": round(float(intercept), 6),
        "threshold": threshold,
    }


def check_model(model: Mapping[str, Any], known: Sequence[str], where: str) -> None:
    """Refuse a ``model`` block that lacks a key or names features this code does not compute."""
    missing = [key for key in MODEL_KEYS if key not in model]
    if missing:
        raise ValueError(f"{where}: weights lack {', '.join(missing)}")
    features = list(model["features"])
    lengths = {len(model[key]) for key in ("mean", "scale", "coef")}
    if lengths != {len(features)} or set(features) - set(known):
        raise ValueError(f"{where}: weights do not match the features {tuple(known)}")
