"""The price table in memory: lookups (dated model names map to their base price) and costs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core import money
from core.usage import Usage

# Suffixes providers add to a model's name for a dated snapshot: gpt-4o-mini-2024-07-18,
# claude-3-5-haiku-20241022, claude-x@20250101, gemini-2.0-flash-001, …-latest.
_SNAPSHOT_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|-\d{3}|-latest)$")


def base_model_name(model: str) -> str:
    return _SNAPSHOT_SUFFIX.sub("", model)


@dataclass(frozen=True, slots=True)
class Price:
    """Prices in micro-cents per 1M tokens; None falls back to the plain input price."""

    provider: str
    model: str
    input: int
    output: int
    cached_input: int | None = None
    cache_write: int | None = None
    long_context_threshold: int | None = None
    long_input: int | None = None
    long_output: int | None = None
    long_cached_input: int | None = None
    long_cache_write: int | None = None

    def cost_uc(self, usage: Usage) -> int:
        long = (
            self.long_context_threshold is not None
            and usage.total_input_tokens > self.long_context_threshold
        )
        if long:
            input_price = self.long_input if self.long_input is not None else self.input
            output_price = self.long_output if self.long_output is not None else self.output
            cached = _first(self.long_cached_input, self.cached_input, input_price)
            write = _first(self.long_cache_write, self.cache_write, input_price)
        else:
            input_price, output_price = self.input, self.output
            cached = _first(self.cached_input, input_price)
            write = _first(self.cache_write, input_price)
        return money.cost_uc(
            [
                (usage.input_tokens, input_price),
                (usage.cached_input_tokens, cached),
                (usage.cache_write_tokens, write),
                (usage.output_tokens, output_price),
            ]
        )


def _first(*prices: int | None) -> int:
    for price in prices:
        if price is not None:
            return price
    raise ValueError("no price")


class PriceTable:
    def __init__(self, prices: list[Price]) -> None:
        self._prices = {(p.provider, p.model): p for p in prices}

    def lookup(self, provider: str, model: str) -> Price | None:
        price = self._prices.get((provider, model))
        if price is None:
            price = self._prices.get((provider, base_model_name(model)))
        return price

    def providers_for(self, model: str) -> list[str]:
        """The providers whose prices know this model name (or its dated form's base name)."""
        names = {model, base_model_name(model)}
        return sorted({provider for provider, known in self._prices if known in names})

    def models(self, provider: str | None = None) -> list[Price]:
        return [p for p in self._prices.values() if provider is None or p.provider == provider]
