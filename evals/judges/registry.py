"""Pick the judge named in settings: ``local/judge`` offline, any other name is an LLM judge."""

from __future__ import annotations

from dataclasses import replace

from ragwright.costs.monitor import metered, metered_embedder
from ragwright.errors import ConfigError
from ragwright.evals.calibration_record import project_threshold
from ragwright.evals.judges.base import Judge
from ragwright.evals.judges.llm import LLMJudge
from ragwright.evals.judges.local import LocalJudge, default_weights
from ragwright.prompts.store import PromptStore
from ragwright.providers.registry import chat_model_from_settings, local_embedder
from ragwright.settings import LOCAL_PREFIX, Settings

__all__ = ["judge_from_settings"]


def judge_from_settings(settings: Settings) -> Judge:
    if settings.judge_model == "local/judge":
        # calibrated on MiniLM's scores: not the index's embedder when that is another model
        embedder = metered_embedder(
            local_embedder(settings), settings, operation="judge", label="local/judge"
        )
        # a project that recalibrated on its own labels (eval calibrate --write) uses its cut
        threshold = project_threshold(settings, "local/judge")
        weights = None if threshold is None else replace(default_weights(), threshold=threshold)
        return LocalJudge(embedder, weights)
    if settings.judge_model.startswith(LOCAL_PREFIX):
        raise ConfigError(
            f"unknown local judge '{settings.judge_model}'; the built-in one is local/judge"
        )
    model = chat_model_from_settings(settings, settings.judge_model, cached=settings.eval_cache)
    return LLMJudge(
        metered(model, settings),
        PromptStore.from_settings(settings),
        samples=settings.judge_samples,
    )
