"""Price files read exactly: the project's CSV and LiteLLM's community price map, to integer
micro-cents per 1M tokens without a float on the way; what a bad file says; tiers and 1-hour
cache writes billed exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from core.billing import Bounds, clamp
from core.price_import import ImportProblem, diff, parse, parse_csv, parse_litellm, to_csv
from core.pricing import Price, PriceTable
from core.usage import Usage
from proxy.providers.anthropic import apply_usage

FIXTURE = Path(__file__).parent / "fixtures" / "litellm-prices.json"
OURS = {"openai", "anthropic", "gemini"}
SHIPPED = Path(__file__).parents[1] / "migrations" / "prices.csv"


def usd_per_mtok(uc: int) -> Decimal:
    return Decimal(uc) / 100_000_000


def by_name(prices: list[Price]) -> dict[str, Price]:
    return {f"{p.provider}/{p.model}": p for p in prices}


def test_the_community_file_gives_exact_integers_for_every_price() -> None:
    text = FIXTURE.read_text()
    parsed = parse_litellm(text, OURS)
    document = json.loads(text, parse_float=Decimal)
    assert len(document) > 200 and len(parsed.prices) > 50  # a real-shaped file
    prices = by_name(parsed.prices)
    entries: dict[str, dict] = {}  # by our name; a provider-prefixed key wins a clash
    for key, entry in document.items():
        provider = entry.get("litellm_provider") if isinstance(entry, dict) else None
        name = f"{provider}/{key.split('/', 1)[-1]}"
        if provider in OURS and (name not in entries or "/" in key):
            entries[name] = entry
    checked = 0
    for name, entry in entries.items():
        if name not in prices:
            continue
        price = prices[name]
        # The file's decimal text times 10^14 is exactly the stored integer: no float rounding.
        assert Decimal(price.input) == entry["input_cost_per_token"] * 10**14
        assert Decimal(price.output) == entry["output_cost_per_token"] * 10**14
        if "cache_read_input_token_cost" in entry:
            assert Decimal(price.cached_input) == entry["cache_read_input_token_cost"] * 10**14
        checked += 1
    assert checked == len(parsed.prices)
    # Nothing of another provider, and no embedding or image model, made it in.
    assert {p.provider for p in parsed.prices} <= OURS
    assert parsed.skipped > 0
    assert all(isinstance(p.input, int) and isinstance(p.output, int) for p in parsed.prices)


def test_a_float_that_would_round_is_read_exactly() -> None:
    # 1.1e-07 as a binary float is 1.1000000000000000e-07 plus change; as text it is exact.
    text = json.dumps({"gpt-x": {"litellm_provider": "openai", "mode": "chat"}})
    text = text.replace('"mode": "chat"', '"mode": "chat", "input_cost_per_token": 1.1e-07,'
                        ' "output_cost_per_token": 4.4e-06')  # fmt: skip
    price = parse_litellm(text, OURS).prices[0]
    assert (price.input, price.output) == (11_000_000, 440_000_000)  # $0.11 and $4.40 per 1M


def test_tiers_1h_writes_and_reasoning_come_from_their_own_fields() -> None:
    entry = {
        "litellm_provider": "anthropic", "mode": "chat",
        "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 6e-06,
        "input_cost_per_token_above_200k_tokens": 6e-06,
        "output_cost_per_token_above_200k_tokens": 2.25e-05,
        "cache_read_input_token_cost_above_200k_tokens": 6e-07,
        "cache_creation_input_token_cost_above_200k_tokens": 7.5e-06,
        "output_cost_per_reasoning_token": 2e-05,
        "supports_vision": True, "max_input_tokens": 1000000,
    }  # fmt: skip
    parsed = parse_litellm(json.dumps({"claude-x": entry}), OURS)
    assert parsed.warnings == []
    price = parsed.prices[0]
    assert price.long_context_threshold == 200_000
    assert [usd_per_mtok(v) for v in (price.cache_write, price.cache_write_1h, price.long_input,
            price.long_output, price.long_cached_input, price.long_cache_write,
            price.reasoning_output)] == [Decimal(x) for x in ("3.75", "6", "6", "22.5", "0.6",
                                                              "7.5", "20")]  # fmt: skip


def test_a_tiered_price_bills_each_tier_exactly() -> None:
    price = parse_csv(
        "provider,model,input,output,cached_input,cache_write,cache_write_1h,"
        "long_context_threshold,long_input,long_output,long_cached_input,long_cache_write\n"
        "anthropic,claude-x,3.00,15.00,0.30,3.75,6.00,200000,6.00,22.50,0.60,7.50\n"
    ).prices[0]
    # Under the threshold: 100k input, 10k cached reads, 5k 5-minute and 5k 1-hour writes.
    short = Usage(input_tokens=100_000, cached_input_tokens=10_000, cache_write_tokens=10_000,
                  output_tokens=2_000, cache_write_1h_tokens=5_000)  # fmt: skip
    # $0.30 + $0.003 + $0.01875 + $0.03 + $0.03 = $0.38175 = 38.175 cents.
    assert price.cost_uc(short) == 38_175_000
    # Past it (the whole prompt counts: 195k + 10k > 200k): every token at the long price.
    long = Usage(input_tokens=195_000, cached_input_tokens=10_000, output_tokens=1_000)
    # $1.17 + $0.006 + $0.0225 = $1.1985.
    assert price.cost_uc(long) == 119_850_000
    # Exactly at the threshold is still the short price.
    at = Usage(input_tokens=200_000, output_tokens=0)
    assert price.cost_uc(at) == 60_000_000


def test_reasoning_tokens_are_output_unless_priced_apart() -> None:
    plain = Price("openai", "o-x", input=0, output=800_000_000)
    apart = Price("openai", "o-y", input=0, output=800_000_000, reasoning_output=1_600_000_000)
    usage = Usage(output_tokens=1_000, reasoning_tokens=600)
    assert plain.cost_uc(usage) == 800_000  # 1,000 tokens at $8/M = $0.008
    assert apart.cost_uc(usage) == 320_000 + 960_000  # 400 at $8/M + 600 at $16/M


def test_unknown_fields_are_ignored_with_a_warning() -> None:
    entry = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1e-06,
             "output_cost_per_token": 2e-06, "input_cost_per_audio_token": 4e-05,
             "shiny_new_field": 3}  # fmt: skip
    parsed = parse_litellm(json.dumps({"gpt-a": entry, "gpt-b": entry}), OURS)
    assert len(parsed.prices) == 2
    assert [w.split(" ignored")[0] for w in parsed.warnings] == [
        "field input_cost_per_audio_token",
        "field shiny_new_field",
    ]
    assert "2 model(s)" in parsed.warnings[0]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{\n  "gpt-a": {\n    "input_cost_per_token": 1e-06,\n  }\n}', "line 4: not JSON"),
        (
            '{\n "gpt-a": {"litellm_provider": "openai", "mode": "chat",\n'
            ' "input_cost_per_token": "cheap", "output_cost_per_token": 1e-06}}',
            "line 2 (gpt-a): input_cost_per_token must be a number",
        ),
        (
            '{\n "ok": {"litellm_provider": "openai", "input_cost_per_token": 1e-06,'
            ' "output_cost_per_token": 1e-06},\n "gpt-b": {"litellm_provider": "openai",'
            ' "input_cost_per_token": -1e-06, "output_cost_per_token": 1e-06}}',
            "line 3 (gpt-b): input_cost_per_token must be a number of 0 or more",
        ),
        ("[1, 2]", "line 1: the file must be one JSON object"),
        ('{"gpt-a": 3}', "(gpt-a): an entry must be an object"),
    ],
)
def test_a_malformed_file_says_which_line_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ImportProblem) as raised:
        parse(text, OURS)
    assert says in str(raised.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("provider,model,input\nopenai,x,1\n", "line 1: the header lacks output"),
        ("provider,model,input,output\nopenai,x,1,two\n", "line 2: output must be a number"),
        (
            "provider,model,input,output\nopenai,x,1,2\nopenai,y,0.000000001,2\n",
            "line 3: input 0.000000001 is finer than a micro-cent per 1M tokens",
        ),
        ("provider,model,input,output\nopenai,x,1,2\nOpen AI,y,1,2\n", "line 3: provider"),
        ("provider,model,input,output\nopenai,x,1,2,3\n", "line 2: more cells"),
        ("provider,model,input,output\nopenai,x,1,2\nopenai,x,1,3\n", "openai/x appears twice"),
        ("provider,model,input,output,long_input\nopenai,x,1,2,3\n", "needs long_context"),
    ],
)
def test_a_malformed_csv_says_which_line_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ImportProblem) as raised:
        parse_csv(text)
    assert says in str(raised.value)


def test_the_shipped_csv_reads_back_to_the_same_file() -> None:
    text = SHIPPED.read_text()
    parsed = parse_csv(text)
    assert parsed.warnings == [] and len(parsed.prices) > 10
    assert parse_csv(to_csv(parsed.prices)).prices == parsed.prices


def test_the_diff_names_what_is_added_changed_and_unchanged() -> None:
    current = [Price("openai", "a", 1, 2), Price("openai", "b", 1, 2), Price("openai", "c", 1, 2)]
    incoming = [Price("openai", "a", 1, 2), Price("openai", "b", 1, 3), Price("openai", "d", 5, 6)]
    plan = diff(current, incoming)
    assert [p.model for p in plan.added] == ["d"]
    assert [(c.before.output, c.after.output) for c in plan.changed] == [(2, 3)]
    assert [p.model for p in plan.unchanged] == ["a"]
    assert [p.model for p in plan.to_apply] == ["d", "b"]  # "c" is left alone


def test_a_dated_entry_priced_as_its_base_is_left_to_the_base() -> None:
    entry = {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
             "output_cost_per_token": 6e-07}  # fmt: skip
    older = {**entry, "input_cost_per_token": 3e-07}
    text = json.dumps({"gpt-4o-mini": entry, "gpt-4o-mini-2024-07-18": entry,
                       "gpt-4o-mini-2023-01-01": older})  # fmt: skip
    names = sorted(p.model for p in parse_litellm(text, OURS).prices)
    assert names == ["gpt-4o-mini", "gpt-4o-mini-2023-01-01"]


def test_aliases_and_dated_names_find_their_base_price() -> None:
    base = Price("gemini", "gemini-2.5-flash", 30_000_000, 250_000_000)
    table = PriceTable([base], {("gemini", "gemini-flash-latest"): "gemini-2.5-flash",
                                ("gemini", "orphan"): "gemini-9"})  # fmt: skip
    assert table.lookup("gemini", "gemini-2.5-flash") is base
    assert table.lookup("gemini", "gemini-flash-latest") is base
    assert table.lookup("gemini", "gemini-2.5-flash-001") is base  # a dated form
    assert table.lookup("gemini", "orphan") is None  # an alias of nothing priced prices nothing
    assert table.lookup("openai", "gemini-flash-latest") is None  # aliases are per provider
    assert table.providers_for("gemini-flash-latest") == ["gemini"]


# The models the coding agents send when nothing is configured (docs/prices.md says how this
# was read off each published package): Claude Code 2.1.197 (main loop, background), Codex CLI
# 0.171.0. Gemini CLI 0.61.0's default is not priced: no official price could be verified.
AGENT_DEFAULTS = [("anthropic", "claude-opus-4-8"), ("anthropic", "claude-haiku-4-5-20251001"),
                  ("openai", "gpt-6.2-sol")]  # fmt: skip


def test_the_coding_agents_default_models_are_in_the_shipped_prices() -> None:
    table = PriceTable(parse_csv(SHIPPED.read_text()).prices)
    for provider, model in AGENT_DEFAULTS:
        assert table.lookup(provider, model) is not None, model


def test_anthropic_1h_cache_writes_are_read_apart() -> None:
    usage = apply_usage(Usage(), {
        "input_tokens": 10, "cache_creation_input_tokens": 300, "cache_read_input_tokens": 5,
        "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
        "output_tokens": 7,
    })  # fmt: skip
    assert (usage.cache_write_tokens, usage.cache_write_1h_tokens) == (300, 200)
    opus = PriceTable(parse_csv(SHIPPED.read_text()).prices).lookup("anthropic", "claude-opus-4-8")
    assert opus is not None
    # 10 x $5 + 5 x $0.50 + 100 x $6.25 + 200 x $10 + 7 x $25 per 1M tokens.
    assert opus.cost_uc(usage) == (50 + 2.5 + 625 + 2000 + 175) * 100


def test_the_bill_keeps_the_parts_priced_apart_and_calls_nothing_clamped() -> None:
    reported = Usage(input_tokens=10, cache_write_tokens=300, output_tokens=50,
                     cache_write_1h_tokens=200, reasoning_tokens=30)  # fmt: skip
    kept, clamped = clamp(
        reported, Bounds(input_estimate=10, input_bound=10_000, max_tokens=100), 5
    )
    assert kept == reported and clamped is False
    # Cut to the bounds, a part stays within what is left of its total.
    cut, clamped = clamp(reported, Bounds(input_estimate=10, input_bound=110, max_tokens=20), 5)
    assert (cut.cache_write_tokens, cut.cache_write_1h_tokens) == (110, 110)  # input cut first
    assert (cut.output_tokens, cut.reasoning_tokens) == (20, 20) and clamped


def test_past_the_threshold_no_part_costs_less_than_the_long_price() -> None:
    price = Price("anthropic", "x", input=300, output=1500, cache_write=375, cache_write_1h=600,
                  reasoning_output=1600, long_context_threshold=10, long_input=600,
                  long_output=2250, long_cache_write=750)  # fmt: skip
    usage = Usage(input_tokens=1_000_000, cache_write_tokens=1_000_000,
                  cache_write_1h_tokens=1_000_000, output_tokens=1_000_000,
                  reasoning_tokens=1_000_000)  # fmt: skip
    # 1M input at 600, 1M 1-hour writes at max(600, 750), 1M reasoning at max(1600, 2250).
    assert price.cost_uc(usage) == 600 + 750 + 2250
