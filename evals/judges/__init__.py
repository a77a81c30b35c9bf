"""Judges score answers: hallucination (grounding in context) and relevance (to the question)."""

from ragwright.evals.judges.base import HallucinationVerdict, Judge, RelevanceVerdict

__all__ = ["HallucinationVerdict", "Judge", "RelevanceVerdict"]
