"""Evaluation as a library: ``evaluate``, ``compare``, and the ``Metric`` interface.

Imported lazily, so ``import ragwright.evals.golden`` stays light: the entry
points pull in the chain, the judges and MLflow only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ragwright.lazy import lazy_attributes

if TYPE_CHECKING:
    from ragwright.evals.api import Comparison, compare, evaluate
    from ragwright.evals.scoring import Answer, Metric, Score

__all__ = ["Answer", "Comparison", "Metric", "Score", "compare", "evaluate"]

_HOMES = {
    "Comparison": "ragwright.evals.api",
    "compare": "ragwright.evals.api",
    "evaluate": "ragwright.evals.api",
    "Answer": "ragwright.evals.scoring",
    "Metric": "ragwright.evals.scoring",
    "Score": "ragwright.evals.scoring",
}


__getattr__ = lazy_attributes(__name__, _HOMES)
