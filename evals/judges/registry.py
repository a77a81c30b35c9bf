"""Pick the judge named in settings."""

from __future__ import annotations

from ragwright.errors import ConfigError
from ragwright.evals.judges.base import Judge
from ragwright.evals.judges.local import LocalJudge
from ragwright.providers.registry import embedder_from_settings
from ragwright.settings import Settings

__all__ = ["judge_from_settings"]


def judge_from_settings(settings: Settings) -> Judge:
    if settings.judge_model == "local/judge":
        from ragwright.costs.monitor import metered_embedder

        raw = embedder_from_settings(settings, metered=False)
        return LocalJudge(metered_embedder(raw, settings, operation="judge", label="local/judge"))
    raise ConfigError(f"judge_model '{settings.judge_model}' is not available yet; use local/judge")
