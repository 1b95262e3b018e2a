"""Admin pricing: the table in USD per 1M tokens, replaced whole; a bad table changes nothing."""

from __future__ import annotations

import pytest

from tests.conftest import ADMIN_PASSWORD

HEADERS = {"X-Admin-Password": ADMIN_PASSWORD}
PRICING = "/admin/api/pricing"


async def get_table(client) -> list[dict]:
    response = await client.get(PRICING, headers=HEADERS)
    assert response.status == 200
    return (await response.json())["prices"]


def row(prices: list[dict], provider: str, model: str) -> dict:
    return next(p for p in prices if (p["provider"], p["model"]) == (provider, model))


async def test_get_shows_the_list_prices_in_usd_per_million_tokens(client) -> None:
    prices = await get_table(client)
    mini = row(prices, "openai", "gpt-4o-mini")
    assert (mini["input"], mini["output"], mini["cached_input"]) == (0.15, 0.6, 0.075)
    assert mini["cache_write"] is None and mini["long_context_threshold"] is None
    assert mini["long_input"] is None and mini["updated_at"].endswith("Z")
    sonnet = row(prices, "anthropic", "claude-sonnet-4-5")
    assert sonnet["long_context_threshold"] == 200_000
    assert sonnet["long_input"] == 6.0 and sonnet["cache_write"] == 3.75
    expected_fields = {
        "provider", "model", "input", "output", "cached_input", "cache_write", "cache_write_1h",
        "reasoning_output", "long_context_threshold", "long_input", "long_output",
        "long_cached_input", "long_cache_write", "long_cache_write_1h", "updated_at",
    }  # fmt: skip
    assert all(set(p) == expected_fields for p in prices)


NEW_TABLE = [
    {"provider": "openai", "model": "gpt-4o-mini", "input": 0.15, "output": 0.6},
    {
        "provider": "gemini",
        "model": "gemini-2.5-pro",
        "input": "1.25",
        "output": 10,
        "cached_input": 0.31,
        "cache_write": None,
        "long_context_threshold": 200000,
        "long_input": 2.5,
        "long_output": 15,
        "long_cached_input": 0.625,
    },
    {"provider": "my-lab_2", "model": "tiny", "input": 0, "output": 0.00000001},
]


async def test_put_replaces_the_table_and_round_trips(client, db) -> None:
    response = await client.put(PRICING, json={"prices": NEW_TABLE}, headers=HEADERS)
    assert response.status == 200
    returned = (await response.json())["prices"]
    assert returned == await get_table(client)
    assert [(p["provider"], p["model"]) for p in returned] == [
        ("gemini", "gemini-2.5-pro"),
        ("my-lab_2", "tiny"),
        ("openai", "gpt-4o-mini"),
    ]
    pro = row(returned, "gemini", "gemini-2.5-pro")
    assert (pro["input"], pro["output"], pro["cached_input"], pro["cache_write"]) == (
        1.25,
        10.0,
        0.31,
        None,
    )
    assert (pro["long_input"], pro["long_output"], pro["long_cached_input"]) == (2.5, 15.0, 0.625)
    assert pro["long_cache_write"] is None
    assert row(returned, "my-lab_2", "tiny")["output"] == 0.00000001

    stored = await db.fetchrow(
        "SELECT input_uc_per_mtok, long_cached_input_uc_per_mtok FROM prices WHERE model = $1",
        "gemini-2.5-pro",
    )
    assert tuple(stored) == (125_000_000, 62_500_000)
    assert await db.fetchval("SELECT output_uc_per_mtok FROM prices WHERE model = 'tiny'") == 1


@pytest.mark.parametrize(
    ("prices", "param"),
    [
        ("not a list", "prices"),
        ([NEW_TABLE[0], "row"], "prices[1]"),
        ([NEW_TABLE[0], {**NEW_TABLE[0], "model": "b", "colour": 1}], "prices[1].colour"),
        ([{**NEW_TABLE[0], "provider": "OpenAI"}], "prices[0].provider"),
        ([{**NEW_TABLE[0], "provider": "x" * 33}], "prices[0].provider"),
        ([{**NEW_TABLE[0], "model": ""}], "prices[0].model"),
        ([{**NEW_TABLE[0], "model": "m" * 129}], "prices[0].model"),
        ([{"provider": "openai", "model": "a", "output": 1}], "prices[0].input"),
        ([{"provider": "openai", "model": "a", "input": 1}], "prices[0].output"),
        ([{**NEW_TABLE[0], "input": -1}], "prices[0].input"),
        ([{**NEW_TABLE[0], "output": True}], "prices[0].output"),
        ([{**NEW_TABLE[0], "cached_input": "cheap"}], "prices[0].cached_input"),
        ([{**NEW_TABLE[0], "input": 0.000000001}], "prices[0].input"),
        ([{**NEW_TABLE[0], "long_input": 1, "long_output": 2}], "prices[0].long_input"),
        ([{**NEW_TABLE[0], "long_cache_write": 1}], "prices[0].long_cache_write"),
        ([{**NEW_TABLE[1], "long_context_threshold": 0}], "prices[0].long_context_threshold"),
        ([{**NEW_TABLE[1], "long_context_threshold": 1.5}], "prices[0].long_context_threshold"),
        ([{**NEW_TABLE[1], "long_output": None}], "prices[0].long_output"),
        ([NEW_TABLE[0], NEW_TABLE[1], NEW_TABLE[0]], "prices[2].model"),
    ],
)
async def test_a_bad_table_is_400_naming_row_and_field_and_changes_nothing(
    client, prices, param: str
) -> None:
    before = await get_table(client)
    response = await client.put(PRICING, json={"prices": prices}, headers=HEADERS)
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request"
    assert error["param"] == param
    assert param.split(".")[0] in error["message"]
    assert await get_table(client) == before


@pytest.mark.parametrize("data", [b"nope", b"[]", b'{"prices": [], "extra": 1}', b"{}"])
async def test_a_bad_body_is_400(client, data: bytes) -> None:
    response = await client.put(PRICING, data=data, headers=HEADERS)
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_request"
