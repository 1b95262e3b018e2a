"""Exact money: integer micro-cents, one half-up rounding, prices per 1M tokens."""

from __future__ import annotations

import pytest

from core.money import cents_to_uc, cost_uc, estimate_tokens, uc_to_cents, usd_per_mtok_to_uc
from core.pricing import Price, base_model_name
from core.usage import Usage

GPT_4O_MINI = Price(
    "openai", "gpt-4o-mini", input=15_000_000, output=60_000_000, cached_input=7_500_000
)


def test_contract_example_costs_a_fraction_of_a_cent() -> None:
    # 12 input + 18 output tokens of gpt-4o-mini: $0.0000126 = 0.00126 cents.
    assert GPT_4O_MINI.cost_uc(Usage(input_tokens=12, output_tokens=18)) == 1260
    assert uc_to_cents(1260) == 0.00126


def test_rounding_is_once_and_half_up() -> None:
    # 1 token at 0.5 micro-cents per token rounds up; 1 at 0.4999999 rounds down.
    assert cost_uc([(1, 500_000)]) == 1
    assert cost_uc([(1, 499_999)]) == 0
    # Two parts of 0.4 uc each: summed first (0.8), then rounded once, to 1 (not 0 + 0).
    assert cost_uc([(1, 400_000), (1, 400_000)]) == 1


def test_cached_tokens_use_their_own_price_and_fall_back_to_input() -> None:
    usage = Usage(input_tokens=100, cached_input_tokens=100)
    assert GPT_4O_MINI.cost_uc(usage) == 100 * 15 + 100 * 7.5
    no_cache_price = Price("x", "y", input=10_000_000, output=0)
    assert no_cache_price.cost_uc(usage) == 200 * 10


def test_long_context_prices_start_above_the_threshold() -> None:
    price = Price("anthropic", "s", input=300_000_000, output=1_500_000_000,
                  long_context_threshold=200_000, long_input=600_000_000,
                  long_output=2_250_000_000)  # fmt: skip
    at = price.cost_uc(Usage(input_tokens=200_000))
    above = price.cost_uc(Usage(input_tokens=200_001))
    assert at == 200_000 * 300
    assert above == 200_001 * 600


@pytest.mark.parametrize(
    ("text", "uc"), [("0", 0), ("12.5", 12_500_000), ("0.000001", 1), (2000, 2_000_000_000)]
)
def test_cents_parse_exactly(text, uc) -> None:
    assert cents_to_uc(text, field="amount_cents") == uc


@pytest.mark.parametrize("bad", ["-1", "0.0000001", "abc", True, None, "NaN", "1e30"])
def test_bad_cents_are_refused_with_the_field_name(bad) -> None:
    with pytest.raises(ValueError, match="amount_cents"):
        cents_to_uc(bad, field="amount_cents")


def test_usd_prices_parse_to_micro_cents_per_million() -> None:
    assert usd_per_mtok_to_uc("0.075", field="cached_input") == 7_500_000
    assert usd_per_mtok_to_uc(2.5, field="input") == 250_000_000
    with pytest.raises(ValueError):
        usd_per_mtok_to_uc("0.000000001", field="input")


@pytest.mark.parametrize(
    ("dated", "base"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
        ("gpt-4o", "gpt-4o"),
        ("gemini-2.5-flash", "gemini-2.5-flash"),
    ],
)
def test_dated_names_map_to_base_names(dated: str, base: str) -> None:
    assert base_model_name(dated) == base


def test_token_estimate_counts_non_ascii_generously() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("日本語") == 3
