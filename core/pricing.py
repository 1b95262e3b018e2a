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


# Every price of a row, in its column order (each stored as `<name>_uc_per_mtok`).
PRICE_FIELDS = (
    "input", "output", "cached_input", "cache_write", "cache_write_1h", "reasoning_output",
    "long_input", "long_output", "long_cached_input", "long_cache_write", "long_cache_write_1h",
)  # fmt: skip
LONG_PRICES = tuple(name for name in PRICE_FIELDS if name.startswith("long_"))
SHORT_PRICES = tuple(name for name in PRICE_FIELDS if name not in LONG_PRICES)


@dataclass(frozen=True, slots=True)
class Price:
    """Prices in micro-cents per 1M tokens. A price left None falls back: cached input and a
    5-minute cache write to the input price, a 1-hour cache write to the 5-minute one, reasoning
    output to the output price; past `long_context_threshold` input tokens (the whole prompt:
    input, cache reads and writes) the long_* prices apply, each falling back to its short one,
    but a long 1-hour write and reasoning output never cost less than the long 5-minute write
    and the long output."""

    provider: str
    model: str
    input: int
    output: int
    cached_input: int | None = None
    cache_write: int | None = None
    cache_write_1h: int | None = None
    reasoning_output: int | None = None
    long_context_threshold: int | None = None
    long_input: int | None = None
    long_output: int | None = None
    long_cached_input: int | None = None
    long_cache_write: int | None = None
    long_cache_write_1h: int | None = None

    def prices(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in PRICE_FIELDS}

    def cost_uc(self, usage: Usage) -> int:
        long = (
            self.long_context_threshold is not None
            and usage.total_input_tokens > self.long_context_threshold
        )
        if long:
            input_price = _first(self.long_input, self.input)
            output_price = _first(self.long_output, self.output)
            cached = _first(self.long_cached_input, self.cached_input, input_price)
            write = _first(self.long_cache_write, self.cache_write, input_price)
            # Without a long 1-hour price: never below the short 1-hour or the long 5-minute one.
            write_1h = _first(self.long_cache_write_1h, max(self.cache_write_1h or 0, write))
        else:
            input_price, output_price = self.input, self.output
            cached = _first(self.cached_input, input_price)
            write = _first(self.cache_write, input_price)
            write_1h = _first(self.cache_write_1h, write)
        reasoning = _first(self.reasoning_output, output_price)
        if long:  # there is no long reasoning price: never below the long output price
            reasoning = max(reasoning, output_price)
        writes_1h = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
        reasoning_tokens = min(usage.reasoning_tokens, usage.output_tokens)
        return money.cost_uc(
            [
                (usage.input_tokens, input_price),
                (usage.cached_input_tokens, cached),
                (usage.cache_write_tokens - writes_1h, write),
                (writes_1h, write_1h),
                (usage.output_tokens - reasoning_tokens, output_price),
                (reasoning_tokens, reasoning),
            ]
        )


def _first(*prices: int | None) -> int:
    for price in prices:
        if price is not None:
            return price
    raise ValueError("no price")


class PriceTable:
    """Prices by (provider, model), and aliases: (provider, name) -> the model it is priced as.

    A name is priced as itself, else as its alias's model, else (a dated snapshot or -latest
    name) as its base name, or that base name's alias."""

    def __init__(self, prices: list[Price], aliases: dict[tuple[str, str], str] | None = None):
        self._prices = {(p.provider, p.model): p for p in prices}
        self._aliases = dict(aliases or {})
        # Model name -> the providers that price it as itself or an alias (every request on
        # the OpenAI-format route asks: no walk over the table per request).
        self._named: dict[str, set[str]] = {}
        for provider, name in self._prices:
            self._named.setdefault(name, set()).add(provider)
        for (provider, name), target in self._aliases.items():
            if (provider, target) in self._prices:
                self._named.setdefault(name, set()).add(provider)

    def lookup(self, provider: str, model: str) -> Price | None:
        price = self._priced_as(provider, model)
        if price is None:
            base = base_model_name(model)
            if base != model:
                price = self._priced_as(provider, base)
        return price

    def _priced_as(self, provider: str, name: str) -> Price | None:
        price = self._prices.get((provider, name))
        if price is None and (provider, name) in self._aliases:
            price = self._prices.get((provider, self._aliases[provider, name]))
        return price

    def providers_for(self, model: str) -> list[str]:
        """The providers that price this model name (as itself, an alias or a dated form)."""
        known = self._named.get(model, set()) | self._named.get(base_model_name(model), set())
        return sorted(known)

    def models(self, provider: str | None = None) -> list[Price]:
        return [p for p in self._prices.values() if provider is None or p.provider == provider]
