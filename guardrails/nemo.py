"""NVIDIA NeMo Guardrails as a rail engine: a project's input and output rails, on its model.

A team that already keeps rails in a NeMo Guardrails config folder (``config.yml``
with ``rails.input.flows`` / ``rails.output.flows``, ``prompts.yml`` with the
self-check prompts) points ``guardrails.nemo_config`` at it and chooses
``prompt_injection_backend = "nemo"`` and/or a ``nemo_output`` mode. The rails
run against the project's configured chat model: when the folder's config
names no ``main`` model, the adapter adds one from ``chat_model`` /
``openai_base_url`` / ``openai_api_key``, so NeMo calls the same endpoint as the
chain.

Only the rails run (``options={"rails": ["input"]}`` or ``["output"]``), never
NeMo's dialogue generation, and a rail's verdict is read from the generation
log (a rail that stops the turn refused it), not from matching refusal text.
Rails that need an embedding model (dialogue flows, the knowledge base) would
make NeMo fetch one from the internet at start: the adapter refuses a config
that defines user messages or a knowledge base, with a clear reason, rather than
download at run time.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from ragwright.errors import ConfigError
from ragwright.settings import Settings

__all__ = ["NemoRails"]


def _main_model(settings: Settings) -> dict[str, Any]:
    provider, _, model = settings.chat_model.partition("/")
    if provider != "openai" or not settings.openai_base_url:
        raise ConfigError(
            "guardrails.nemo_config names no main model and chat_model is not an "
            f"OpenAI-compatible endpoint ({settings.chat_model!r}): add a `models:` entry "
            "of type main to the NeMo config.yml or set chat_model = 'openai/<model>'"
        )
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
    return {
        "type": "main",
        "engine": "openai",
        "model": model,
        "parameters": {"base_url": settings.openai_base_url, "api_key": key},
    }


class NemoRails:
    """:class:`ragwright.guardrails.backends.RailEngine` on ``nemoguardrails.LLMRails``."""

    def __init__(self, config_dir: Path, settings: Settings) -> None:
        try:
            from nemoguardrails import LLMRails, RailsConfig
        except ImportError as exc:
            raise ConfigError(
                f"guardrails NeMo backend needs nemoguardrails ({exc.name} is missing): "
                "pip install 'ragwright[guardrails]'"
            ) from None
        if not (config_dir / "config.yml").is_file():
            raise ConfigError(f"{config_dir}: not a NeMo Guardrails config folder (no config.yml)")
        config = RailsConfig.from_path(str(config_dir))
        if config.user_messages or config.docs:
            raise ConfigError(
                f"{config_dir}: dialogue flows and knowledge bases need NeMo's embedding model, "
                "which it downloads at start; ragwright runs input/output rails only"
            )
        if not any(m.type == "main" for m in config.models):
            config = RailsConfig.from_path(str(config_dir)).model_copy(
                update={"models": [*config.models, _model(_main_model(settings))]}
            )
        self.rails = LLMRails(config)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="nemo-rails", daemon=True).start()

    def _refused(self, messages: list[dict[str, str]], rail: str) -> bool:
        # One event loop for the adapter's life, in its own thread: NeMo's model client
        # binds to the loop it first ran on, and the chain calls from sync and async code.
        coroutine = self.rails.generate_async(
            messages=messages, options={"rails": [rail], "log": {"activated_rails": True}}
        )
        result = asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()
        log = getattr(result, "log", None)
        activated = getattr(log, "activated_rails", None) or []
        return any(getattr(r, "stop", False) for r in activated)

    def input_refused(self, question: str) -> bool:
        return self._refused([{"role": "user", "content": question}], "input")

    def output_refused(self, question: str, answer: str) -> bool:
        return self._refused(
            [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
            "output",
        )


def _model(entry: dict[str, Any]) -> Any:
    from nemoguardrails.rails.llm.config import Model

    return Model(**entry)
