"""The hot path against each fake provider: text, usage and exact cost, streamed or not.

Expected costs are worked out here by hand from the list prices in PROVIDERS.md (USD per 1M
tokens), independently of the gateway's own price code.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import orjson
import pytest

from tests.helpers import bearer, chat_body, create_customer, parse_sse


@dataclass(frozen=True)
class Case:
    provider: str
    model: str
    directives: str
    input_tokens: int  # all input, cached and cache writes included
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    usd_micro: Decimal  # cost in USD per 1M tokens x tokens, i.e. millionths of a dollar

    @property
    def cost_cents(self) -> float:
        return float(self.usd_micro / Decimal(10_000))  # 1e6 USD-micro per USD, 100 cents

    @property
    def cost_uc(self) -> int:
        return int(self.usd_micro * 100)


def usd_micro(*tokens_at_price: tuple[int, str]) -> Decimal:
    """Sum of tokens x USD-per-1M-tokens: the cost in millionths of a dollar."""
    return sum((tokens * Decimal(price) for tokens, price in tokens_at_price), Decimal(0))


CASES = [
    # OpenAI: prompt_tokens 1200 INCLUDES 200 cached; completion 340 includes 40 reasoning.
    Case("openai", "gpt-4o-mini", "fake:usage=1200,340 fake:cached=200 fake:reasoning=40",
         1200, 200, 0, 340, usd_micro((1000, "0.15"), (200, "0.075"), (340, "0.60"))),
    # Anthropic: input_tokens 1000 EXCLUDES 400 cache reads and 100 cache writes.
    Case("anthropic", "claude-haiku-4-5",
         "fake:usage=1000,300 fake:cached=400 fake:cache_write=100", 1500, 400, 100, 300,
         usd_micro((1000, "1.00"), (400, "0.10"), (100, "1.25"), (300, "5.00"))),
    # Gemini: promptTokenCount 1000 includes 300 cached; output = 200 candidates + 50 thoughts.
    Case("gemini", "gemini-2.5-flash", "fake:usage=1000,200 fake:cached=300 fake:reasoning=50",
         1000, 300, 0, 250, usd_micro((700, "0.30"), (300, "0.03"), (250, "2.50"))),
]  # fmt: skip
TEXT = "Hello brave new world, this is streamed"
DIRECTIVE_TEXT = "fake:text=" + TEXT.replace(" ", "_")


async def usage_rows(db) -> list:
    return await db.fetch("SELECT * FROM usage_events ORDER BY id")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.provider)
async def test_chat_returns_text_usage_and_exact_cost(gateway, db, case: Case) -> None:
    customer, key = await create_customer(gateway)
    body = chat_body(case.provider, case.model, f"Say hi {case.directives} {DIRECTIVE_TEXT}")
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["text"] == TEXT
    assert (answer["provider"], answer["model"]) == (case.provider, case.model)
    usage = answer["usage"]
    assert usage["input_tokens"] == case.input_tokens
    assert usage["output_tokens"] == case.output_tokens
    assert usage["cost_cents"] == case.cost_cents
    assert answer["month"]["spent_cents"] == case.cost_cents
    assert answer["month"]["key_spent_cents"] == case.cost_cents
    assert answer["month"]["key_cap_cents"] is None

    [row] = await usage_rows(db)
    assert row["customer_id"] == customer["id"]
    assert (row["provider"], row["model"]) == (case.provider, case.model)
    assert row["input_tokens"] == case.input_tokens
    assert row["cached_input_tokens"] == case.cached_input_tokens
    assert row["cache_write_tokens"] == case.cache_write_tokens
    assert row["output_tokens"] == case.output_tokens
    assert row["cost_uc"] == case.cost_uc
    assert (row["status"], row["cost_source"]) == ("ok", "reported")
    assert row["request_id"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.provider)
async def test_stream_sends_meta_deltas_done_with_exact_cost(gateway, db, case: Case) -> None:
    _, key = await create_customer(gateway)
    body = chat_body(case.provider, case.model, f"Say hi {case.directives} {DIRECTIVE_TEXT}")
    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = parse_sse(await response.read())
    names = [name for name, _ in events]
    assert names[0] == "meta" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"} and len(names) >= 5
    meta = orjson.loads(events[0][1])
    assert (meta["provider"], meta["model"]) == (case.provider, case.model)
    assert meta["month"]["spent_cents"] == 0
    assert "".join(orjson.loads(data)["text"] for _, data in events[1:-1]) == TEXT
    done = orjson.loads(events[-1][1])
    assert done["usage"]["input_tokens"] == case.input_tokens
    assert done["usage"]["output_tokens"] == case.output_tokens
    assert done["usage"]["cost_cents"] == case.cost_cents
    assert done["month"]["spent_cents"] == case.cost_cents  # the row counts at once

    [row] = await usage_rows(db)
    assert (row["cost_uc"], row["status"], row["cost_source"]) == (case.cost_uc, "ok", "reported")
    assert row["output_tokens"] == case.output_tokens


async def test_netlify_aliases_serve_the_same_routes(gateway) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("openai", "gpt-4o-mini", "hi")
    chat = await gateway.post("/.netlify/functions/gateway-chat", json=body, headers=bearer(key))
    assert chat.status == 200 and (await chat.json())["text"] == "Hello from the fake openai!"
    stream = await gateway.post(
        "/.netlify/functions/gateway-stream", json=body, headers=bearer(key)
    )
    assert [name for name, _ in parse_sse(await stream.read())][-1] == "done"


async def test_spend_accumulates_across_requests(gateway, db) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("openai", "gpt-4o-mini", "fake:usage=12,18")
    for expected in (0.00126, 0.00252, 0.00378):
        response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
        answer = await response.json()
        assert answer["usage"]["cost_cents"] == 0.00126  # 30 tokens: a fraction of a cent
        assert answer["month"]["spent_cents"] == expected
    total = await db.fetchval("SELECT sum(cost_uc) FROM usage_events")
    assert total == 3 * 1260
    assert await db.fetchval("SELECT spent_uc FROM customer_months") == total
    # No call's reservation is left (spares held for the key's next calls are no call's).
    assert await db.fetchval("SELECT count(*) FROM reservations WHERE NOT spare") == 0


async def test_dated_model_names_from_the_provider_bill_at_the_base_price(gateway, db) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("openai", "gpt-4o-mini", "fake:usage=12,18")
    answer = await (await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))).json()
    assert answer["upstream_model"] == "gpt-4o-mini-2024-07-18"
    row = await db.fetchrow("SELECT model, upstream_model, cost_uc FROM usage_events")
    assert tuple(row) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18", 1260)


async def test_a_dated_request_model_uses_its_base_price(gateway, db) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("anthropic", "claude-haiku-4-5-20251001", "fake:usage=100,10")
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 200
    # 100 x $1.00 + 10 x $5.00 per 1M tokens = $0.00015 = 0.015 cents
    assert (await response.json())["usage"]["cost_cents"] == 0.015


async def test_long_context_prices_apply_above_the_threshold(gateway) -> None:
    _, key = await create_customer(gateway)
    # A prompt long enough to make 250k input tokens believable (reported usage is clamped to
    # what the request's size allows).
    prompt = "fake:usage=250000,1000 " + "x" * 250_000
    body = chat_body("anthropic", "claude-sonnet-4-5", prompt)
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    # 250k x $6.00 + 1k x $22.50 per 1M tokens = $1.5225 = 152.25 cents
    assert (await response.json())["usage"]["cost_cents"] == 152.25


async def test_demo_provider_streams_for_free(gateway, db) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("demo", "demo-echo", "Hello there")
    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    events = parse_sse(await response.read())
    text = "".join(orjson.loads(d)["text"] for name, d in events if name == "delta")
    assert "You said: Hello there" in text
    done = orjson.loads(events[-1][1])
    assert done["usage"]["cost_cents"] == 0
    assert done["usage"]["output_tokens"] > 0
    assert await db.fetchval("SELECT count(*) FROM usage_events WHERE provider = 'demo'") == 1
