"""Custom metrics from ``[[metrics]]`` tables: LLM rubrics, Python callables, checks.

Adding a metric is configuration plus, for ``kind = "python"``, a function in the
project: nothing in ragwright changes. See docs/metrics.md.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import fmean
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ConfigDict

from ragwright.errors import ConfigError, ProviderError
from ragwright.evals.checks import check_metric
from ragwright.evals.golden import GoldenCase
from ragwright.evals.judges.llm import ask_json
from ragwright.evals.scoring import Answer, Metric, Score
from ragwright.prompts.store import PromptStore
from ragwright.providers.base import ChatModel
from ragwright.settings import LOCAL_PREFIX, MetricSettings, Settings

__all__ = ["BUILTIN_METRICS", "LLMRubricMetric", "PythonMetric", "build_metrics"]

BUILTIN_METRICS = frozenset(
    {
        "hallucination",
        "relevance",
        "correctness",
        "recall_at_k",
        "mrr",
        "abstention",
        "cost",
        "latency",
    }
)
"""Names the built-in metrics and their gate rule ids use: a custom metric may not take one."""


class _Reply(BaseModel):
    model_config = ConfigDict(extra="allow")

    score: float | None = None
    label: str | None = None
    reason: str = ""


class LLMRubricMetric(Metric):
    """A rubric prompt from the prompt store; the model replies JSON ``score`` or ``label``.

    The reply gets one repair retry, then an ``unparseable`` outcome; with
    ``samples > 1`` the values are averaged (self-consistency). Such a judge was
    never measured against human labels: reports mark it uncalibrated.
    """

    uncalibrated_judge = True

    def __init__(self, config: MetricSettings, model: ChatModel, store: PromptStore) -> None:
        self.name = config.name
        self.description = config.description
        self.higher_is_better = config.higher_is_better
        self.model = model
        self.store = store
        version = store.get(config.prompt or "")
        self.prompt = version.ref
        self.prompt_hash = version.hash
        self.variables = set(version.file.meta.variables)
        self.labels = config.labels
        if config.labels is not None:
            self.value_range = (min(config.labels.values()), max(config.labels.values()))
        else:
            assert config.scale is not None  # MetricSettings: scale or labels
            self.value_range = config.scale
        self.samples = config.samples

    def _value(self, reply: _Reply) -> float | None:
        if self.labels is not None:
            return self.labels.get(reply.label) if reply.label is not None else None
        low, high = self.value_range
        if reply.score is None or not low <= reply.score <= high:
            return None
        return reply.score

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        values = {
            "question": case.question,
            "answer": answer.text,
            "contexts": answer.contexts,
            "reference": case.reference_answer or "",
        }
        rendered = self.store.render(
            self.prompt, {k: v for k, v in values.items() if k in self.variables}
        )
        try:
            replies = await asyncio.gather(
                *(ask_json(self.model, rendered, _Reply, i) for i in range(self.samples))
            )
        except ProviderError as exc:
            return Score(value=None, outcome="error", reason=str(exc)[:300])
        parsed = [r for r in replies if isinstance(r, _Reply) and self._value(r) is not None]
        if not parsed:
            raw = next((r for r in replies if isinstance(r, str)), "score or label out of range")
            return Score(value=None, outcome="unparseable", reason=str(raw)[:300])
        mean = fmean(v for r in parsed if (v := self._value(r)) is not None)
        return Score(value=round(mean, 4), reason=parsed[0].reason)

    async def aclose(self) -> None:
        await self.model.aclose()


class PythonMetric(Metric):
    """``function(case, answer)``, sync or async, returning a number, a bool or a Score."""

    def __init__(self, config: MetricSettings, function: Callable[..., Any]) -> None:
        self.name = config.name
        self.description = config.description
        self.higher_is_better = config.higher_is_better
        self.value_range = config.scale or (0.0, 1.0)
        self.function = function

    async def score(self, case: GoldenCase, answer: Answer) -> Score:
        if inspect.iscoroutinefunction(self.function):
            result = await self.function(case, answer)
        else:
            result = await asyncio.to_thread(self.function, case, answer)
        if isinstance(result, Score):
            return result
        if isinstance(result, bool | int | float):
            return Score(value=float(result))
        raise TypeError(f"returned {type(result).__name__}; expected a number, a bool or a Score")


def load_function(spec: str, root: str, metric: str) -> Callable[..., Any]:
    """Import ``module:attribute`` with the project root first on the import path."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"metric '{metric}': function must be 'module:attribute', got '{spec}'")
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)  # the project's module wins over a same-named one elsewhere
    loaded = sys.modules.get(module_name)
    if loaded is not None and _project_file(root, module_name) not in (None, _file_of(loaded)):
        # imported from another project earlier in this process (a notebook, a flow
        # worker, a test run): this project's own file is the one to use
        del sys.modules[module_name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"metric '{metric}': cannot import '{module_name}': {exc}") from exc
    function: object = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"metric '{metric}': '{spec}' is not a callable in {module.__file__}")
    return function


def _project_file(root: str, module_name: str) -> Path | None:
    """The project's file for ``module_name`` (module or package), if it has one."""
    base = Path(root, *module_name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _file_of(module: ModuleType) -> Path | None:
    file = getattr(module, "__file__", None)
    return Path(file).resolve() if file else None


def _rubric_model(settings: Settings, config: MetricSettings) -> ChatModel:
    from ragwright.costs.monitor import metered
    from ragwright.providers.registry import chat_model_from_settings

    name = config.model or settings.judge_model
    if name.startswith(LOCAL_PREFIX):
        raise ConfigError(
            f"metric '{config.name}': an llm_judge metric needs a chat model endpoint; set"
            f' model = "..." in its [[metrics]] table (judge_model is {name})'
        )
    return metered(chat_model_from_settings(settings, name, cached=settings.eval_cache), settings)


def build_metrics(
    settings: Settings, configs: Sequence[MetricSettings] | None = None
) -> list[Metric]:
    """The project's custom metrics, in configuration order; names must be unique."""
    configs = settings.metrics if configs is None else configs
    seen: set[str] = set()
    metrics: list[Metric] = []
    store: PromptStore | None = None
    for config in configs:
        if config.name in BUILTIN_METRICS:
            raise ConfigError(f"[[metrics]]: '{config.name}' is a built-in metric's name")
        if config.name in seen:
            raise ConfigError(f"[[metrics]]: name '{config.name}' is used twice")
        seen.add(config.name)
        if config.kind == "check":
            metrics.append(check_metric(config))
        elif config.kind == "python":
            function = load_function(config.function or "", str(settings.project_root), config.name)
            metrics.append(PythonMetric(config, function))
        else:
            store = store or PromptStore.from_settings(settings)
            metrics.append(LLMRubricMetric(config, _rubric_model(settings, config), store))
    return metrics
