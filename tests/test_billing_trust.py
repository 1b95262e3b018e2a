"""Reported usage is never trusted beyond what the request could produce; credit never goes
negative; a rotated key keeps its lineage's spend; no sequence of top-ups breaks the books.

Prices: gpt-4o-mini at $0.15/$0.60 per 1M tokens = 15/60 uc per token.
"""

from __future__ import annotations

from core.money import MAX_CREDIT_UC
from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, chat_body, create_customer, create_sub_key


async def chat(client, key: str, text: str, **extra):
    body = chat_body("openai", "gpt-4o-mini", text, **extra)
    response = await client.post("/v1/gateway/chat", json=body, headers=bearer(key))
    return response.status, await response.json()


async def only_row(db):
    [row] = await db.fetch("SELECT * FROM usage_events")
    return row


async def test_absurd_output_is_clamped_to_max_tokens_and_marked(gateway, db) -> None:
    customer, key = await create_customer(gateway, monthly_cap_cents=100)
    status, answer = await chat(gateway, key, "fake:usage=10,1000000000000000", max_tokens=100)
    assert status == 200
    row = await only_row(db)
    assert (row["output_tokens"], row["clamped"]) == (100, True)
    assert row["input_tokens"] == 10 and row["cost_uc"] == 10 * 15 + 100 * 60
    assert answer["usage"]["output_tokens"] == 100
    listed = await gateway.get(f"/admin/api/customers/{customer['id']}", headers=ADMIN_HEADERS)
    assert (await listed.json())["customer"]["extra_cents"] == 0


async def test_negative_counts_are_replaced_by_estimates(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=100)
    status, answer = await chat(gateway, key, "fake:usage=-5,-7 fake:text=four_words_of_text")
    assert status == 200 and answer["text"] == "four words of text"
    row = await only_row(db)
    assert row["clamped"] is True
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0 and row["cost_uc"] > 0


async def test_input_beyond_what_the_prompt_could_hold_is_clamped(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=100)
    prompt = "fake:usage=50000000,10 " + "y" * 77
    assert (await chat(gateway, key, prompt))[0] == 200
    row = await only_row(db)
    # At most one token per byte, 16 per message, and 2,048 of slack.
    assert row["clamped"] is True and row["input_tokens"] == len(prompt) + 16 + 2048


async def test_usage_within_bounds_is_billed_as_reported(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=100)
    assert (await chat(gateway, key, "fake:usage=1800,90", max_tokens=100))[0] == 200
    row = await only_row(db)
    assert (row["input_tokens"], row["output_tokens"], row["clamped"]) == (1800, 90, False)


async def test_credit_never_goes_negative_when_a_call_costs_more_than_is_left(gateway, db):
    customer, key = await create_customer(gateway, monthly_cap_cents=0)
    cid = customer["id"]
    topup = {"amount_cents": 0.2}  # 200,000 uc of credit
    response = await gateway.post(
        f"/admin/api/customers/{cid}/topups", json=topup, headers=ADMIN_HEADERS
    )
    assert response.status == 201
    # 40,000 bytes are estimated at ~10,000 tokens (150,000 uc reserved: it fits); the provider
    # reports 40,000 (within the bound), which costs 600,000 uc.
    prompt = "fake:usage=40000,1 " + "x" * 40_000
    assert (await chat(gateway, key, prompt, max_tokens=1))[0] == 200
    row = await only_row(db)
    assert row["cost_uc"] == 40_000 * 15 + 60 and row["clamped"] is False
    assert await db.fetchval("SELECT extra_uc FROM customers WHERE id = $1", cid) == 0
    used = await db.fetchval("SELECT credit_used_uc FROM customer_months WHERE customer_id = $1",
                             cid)  # fmt: skip
    assert used == 200_000  # all the credit there was, and not more
    assert (await chat(gateway, key, "fake:usage=1,1"))[1]["error"]["type"] == "cap_exceeded"


async def test_a_rotated_key_keeps_its_lineages_spend(gateway, db) -> None:
    customer, _ = await create_customer(gateway, monthly_cap_cents=100)
    # Each call costs 750 uc and reserves 6,120 (see test_limits.py): a cap of 7,000 uc admits
    # exactly two.
    sub = await create_sub_key(gateway, customer["id"], cap_cents=0.007)
    statuses = [(await chat(gateway, sub["key"], "fake:usage=10,10", max_tokens=100))[0]
                for _ in range(3)]  # fmt: skip
    assert statuses == [200, 200, 402]

    rotated = await gateway.post(f"/admin/api/keys/{sub['id']}/rotate", headers=ADMIN_HEADERS)
    assert rotated.status == 201
    new_key = (await rotated.json())["key"]
    status, refused = await chat(gateway, new_key["key"], "fake:usage=10,10", max_tokens=100)
    assert status == 402 and refused["error"]["type"] == "cap_exceeded"
    assert refused["error"]["month"]["key_spent_cents"] == 0.0015
    usage = await gateway.get(
        f"/admin/api/customers/{customer['id']}/usage?key_id={new_key['id']}",
        headers=ADMIN_HEADERS,
    )
    assert (await usage.json())["key_spent_cents"] == 0.0015


async def test_top_ups_stop_at_the_credit_bound_and_the_customer_keeps_working(gateway, db):
    customer, key = await create_customer(gateway, monthly_cap_cents=0)
    path = f"/admin/api/customers/{customer['id']}/topups"
    big = {"amount_cents": 10**12}
    first = await gateway.post(path, json=big, headers=ADMIN_HEADERS)
    assert first.status == 201
    for amount in (10**12, 1):
        refused = await gateway.post(path, json={"amount_cents": amount}, headers=ADMIN_HEADERS)
        assert refused.status == 400
        error = (await refused.json())["error"]
        assert error["type"] == "invalid_request" and error["param"] == "amount_cents"
    assert await db.fetchval("SELECT extra_uc FROM customers") == MAX_CREDIT_UC
    assert await db.fetchval("SELECT count(*) FROM topups") == 1
    assert (await chat(gateway, key, "fake:usage=10,10"))[0] == 200
