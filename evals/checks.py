"""Deterministic checks (``kind = "check"``): no model, same answer, same score.

Each gives 1.0 when the answer passes and 0.0 when it does not, with a reason
that says why. A check that does not apply to a case (``refuses_when_unanswerable``
on an answerable case) gives an ``ok`` score with no value: it is left out of the
mean instead of counting as a pass.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ragwright.errors import ConfigError
from ragwright.evals.golden import GoldenCase
from ragwright.evals.scoring import Answer, Metric, Score
from ragwright.settings import MetricSettings

__all__ = ["check_metric"]


def _passed(ok: bool, why_not: str, why: str = "") -> Score:
    return Score(value=1.0 if ok else 0.0, reason=why if ok else why_not)


class _Check(Metric):
    def __init__(self, config: MetricSettings) -> None:
        self.name = config.name
        self.description = config.description
        self.config = config


class RegexCheck(_Check):
    def __init__(self, config: MetricSettings) -> None:
        super().__init__(config)
        try:
            self.pattern = re.compile(config.pattern or "")
        except re.error as exc:
            raise ConfigError(f"metric '{config.name}': pattern is not a regex: {exc}") from exc

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        found = self.pattern.search(answer.text) is not None
        if self.config.must_match:
            return _passed(found, f"does not match /{self.pattern.pattern}/")
        return _passed(not found, f"matches /{self.pattern.pattern}/ (must not)")


class JsonSchemaCheck(_Check):
    def __init__(self, config: MetricSettings) -> None:
        super().__init__(config)
        import jsonschema

        self.schema: dict[str, Any] = config.json_schema or {}
        try:
            jsonschema.validators.validator_for(self.schema).check_schema(self.schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(
                f"metric '{config.name}': invalid json_schema: {exc.message}"
            ) from exc

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        import jsonschema

        try:
            data = json.loads(answer.text)
        except json.JSONDecodeError as exc:
            return _passed(False, f"not JSON: {exc.msg}")
        error = jsonschema.exceptions.best_match(
            jsonschema.validators.validator_for(self.schema)(self.schema).iter_errors(data)
        )
        return _passed(error is None, f"schema: {error.message if error else ''}")


class MaxWordsCheck(_Check):
    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        words = len(answer.text.split())
        limit = self.config.max_words or 0
        return _passed(words <= limit, f"{words} words > {limit}", f"{words} words")


class CitesSourcesCheck(_Check):
    """An answer cites at least one source, and only sources it was shown; refusals pass."""

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        if not answer.answered:
            return Score(value=1.0, reason="declined: nothing to cite")
        if not answer.citations:
            return _passed(False, "answer cites no source")
        unknown = sorted(set(answer.citations) - set(answer.sources))
        return _passed(not unknown, f"cites sources it was not shown: {', '.join(unknown)}")


class RefusesWhenUnanswerableCheck(_Check):
    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        if case.answerable:
            return Score(value=None, reason="answerable case: not applicable")
        return _passed(not answer.answered, "answered a question tagged unanswerable")


_CHECKS: dict[str, type[_Check]] = {
    "regex": RegexCheck,
    "json_schema": JsonSchemaCheck,
    "max_words": MaxWordsCheck,
    "cites_sources": CitesSourcesCheck,
    "refuses_when_unanswerable": RefusesWhenUnanswerableCheck,
}


def check_metric(config: MetricSettings) -> Metric:
    """The built-in check ``config.check``, configured from its ``[[metrics]]`` table."""
    assert config.check is not None  # MetricSettings requires it for kind = "check"
    return _CHECKS[config.check](config)
