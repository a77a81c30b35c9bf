"""Prices per model; an unknown model is priced ``None`` (and warned about once), never 0."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ragwright.usage import Usage

__all__ = ["Price", "PriceTable"]

log = logging.getLogger(__name__)
PRICING_FILE = Path(__file__).resolve().parent.parent / "pricing.yaml"


@dataclass(frozen=True, slots=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float
    source: str

    def cost(self, usage: Usage) -> float:
        return (
            usage.prompt_tokens * self.input_per_mtok
            + usage.completion_tokens * self.output_per_mtok
        ) / 1_000_000


@functools.lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int, size: int) -> Any:
    """The parsed price file, reused until it changes: every eval run builds a table."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class PriceTable:
    def __init__(
        self, path: Path = PRICING_FILE, overrides: Mapping[str, Mapping[str, float]] | None = None
    ) -> None:
        stat = path.stat()
        data = _load(path, stat.st_mtime_ns, stat.st_size)
        self._prices = {
            name: Price(float(p["input"]), float(p["output"]), str(p.get("source", path)))
            for name, p in data["models"].items()
        }
        for name, p in (overrides or {}).items():
            self._prices[name] = Price(float(p["input"]), float(p["output"]), "settings override")
        local = data["local"]
        self._local_prefix = str(local["prefix"])
        self._local = Price(float(local["input"]), float(local["output"]), str(local["source"]))
        self._warned: set[str] = set()

    def lookup(self, provider: str, model: str) -> Price | None:
        if provider == "local" or model.startswith(self._local_prefix):
            return self._local
        return self._prices.get(model)

    def cost(self, provider: str, model: str, usage: Usage) -> float | None:
        price = self.lookup(provider, model)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning(
                    "no price for model %r: its cost is recorded as unknown (null);"
                    " add it under [pricing] in ragwright.toml",
                    model,
                )
            return None
        return price.cost(usage)
