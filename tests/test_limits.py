"""Spend caps with reservations, credit, allowlists, device seats and rate limits (one process).

Costs here: gpt-4o-mini at $0.15/$0.60 per 1M tokens. Each request reports 10 + 10 tokens
(750 uc = 0.00075 cents) and reserves its maximum, 8 estimated input tokens + max_tokens=100
output tokens: 8 x 15 + 100 x 60 = 6,120 uc.
"""

from __future__ import annotations

import dataclasses

import pytest

from proxy.app import create_app
from proxy.ledger.sweeper import SWEEP_EXPIRED
from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, create_customer, create_sub_key

PROMPT = "fake:usage=10,10"  # 16 characters: an estimate of 4 + 4 overhead tokens
COST_UC = 750
RESERVE_UC = 6_120


def body(model: str = "gpt-4o-mini", provider: str = "openai") -> dict:
    return {"provider": provider, "model": model, "max_tokens": 100,
            "messages": [{"role": "user", "content": PROMPT}]}  # fmt: skip


async def call(client, key: str, headers: dict | None = None, **kwargs):
    response = await client.post(
        "/v1/gateway/chat", json=body(**kwargs), headers={**bearer(key), **(headers or {})}
    )
    return response.status, await response.json()


async def calls_until_refused(client, key: str, limit: int = 50) -> tuple[int, dict]:
    for done in range(limit):
        status, answer = await call(client, key)
        if status != 200:
            return done, answer | {"status": status}
    raise AssertionError("never refused")


async def assert_books_balance(db) -> None:
    """Counters equal the sum of usage rows; nothing stays reserved."""
    spent = await db.fetchval("SELECT coalesce(sum(spent_uc), 0) FROM customer_months")
    assert spent == await db.fetchval("SELECT coalesce(sum(cost_uc), 0) FROM usage_events")
    key_spent = await db.fetchval("SELECT coalesce(sum(spent_uc), 0) FROM key_months")
    gateway = await db.fetchval("SELECT coalesce(sum(spent_uc), 0) FROM gateway_months")
    assert key_spent == gateway == spent
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0


async def test_customer_cap_refuses_once_the_next_reservation_does_not_fit(gateway, db) -> None:
    _, key = await create_customer(gateway, monthly_cap_cents=0.01)  # 10,000 uc
    done, refused = await calls_until_refused(gateway, key)
    # Admitted while 10,000 - 750 n >= 6,120: n = 0..5, so six requests pass.
    assert done == 6
    assert refused["status"] == 402
    assert refused["error"]["type"] == "cap_exceeded"
    month = refused["error"]["month"]
    assert month["cap_cents"] == 0.01 and month["spent_cents"] == 6 * COST_UC / 1e6
    assert month["extra_cents"] == 0 and month["key_cap_cents"] is None
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 6
    await assert_books_balance(db)


async def test_prepaid_credit_extends_the_allowance_and_is_drawn_down(gateway, db) -> None:
    customer, key = await create_customer(gateway, monthly_cap_cents=0)
    await db.execute("UPDATE customers SET extra_uc = 10000 WHERE id = $1", customer["id"])
    done, refused = await calls_until_refused(gateway, key)
    assert done == 6 and refused["status"] == 402
    assert refused["error"]["month"]["extra_cents"] == (10_000 - 6 * COST_UC) / 1e6
    assert await db.fetchval("SELECT extra_uc FROM customers") == 10_000 - 6 * COST_UC
    assert await db.fetchval("SELECT credit_used_uc FROM customer_months") == 6 * COST_UC
    await assert_books_balance(db)


async def test_only_spend_beyond_the_cap_draws_credit(gateway, db) -> None:
    customer, key = await create_customer(gateway, monthly_cap_cents=0.001)  # 1,000 uc
    await db.execute("UPDATE customers SET extra_uc = 20000 WHERE id = $1", customer["id"])
    for _ in range(3):
        assert (await call(gateway, key))[0] == 200
    # Spent 2,250: the first 1,000 within the cap, 1,250 from credit.
    assert await db.fetchval("SELECT extra_uc FROM customers") == 20_000 - 1_250
    assert await db.fetchval("SELECT credit_used_uc FROM customer_months") == 1_250


async def test_a_keys_own_cap_applies_on_top_of_the_customers(gateway, db) -> None:
    customer, master = await create_customer(gateway, monthly_cap_cents=100)
    sub = await create_sub_key(gateway, customer["id"], cap_cents=0.007)  # 7,000 uc
    done, refused = await calls_until_refused(gateway, sub["key"])
    assert done == 2 and refused["status"] == 402  # 7,000 - 750 n >= 6,120: n = 0, 1
    assert "key's own monthly cap" in refused["error"]["message"]
    assert refused["error"]["month"]["key_cap_cents"] == 0.007
    assert refused["error"]["month"]["key_spent_cents"] == 2 * COST_UC / 1e6
    assert (await call(gateway, master))[0] == 200  # the customer still has room


async def test_gateway_ceiling_protects_the_operator(gateway_settings, db, aiohttp_client) -> None:
    settings = dataclasses.replace(gateway_settings, gateway_monthly_ceiling_uc=6_500)
    client = await aiohttp_client(create_app(settings))
    _, first = await create_customer(client, id="first")
    _, second = await create_customer(client, id="second")
    assert (await call(client, first))[0] == 200
    assert (await call(client, second))[0] == 402  # 6,500 - 750 < 6,120
    status, refused = await call(client, first)
    assert status == 402 and "ceiling" in refused["error"]["message"]
    await assert_books_balance(db)


async def test_reservations_of_a_crashed_request_stop_counting_when_they_expire(
    gateway, db
) -> None:
    customer, key = await create_customer(gateway, monthly_cap_cents=0.01)
    key_id = await db.fetchval("SELECT id FROM api_keys")
    month = await db.fetchval("SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date")
    # A process admitted a request reserving the whole allowance, then died without settling.
    reservation = await db.fetchval(
        "INSERT INTO reservations (customer_id, key_id, lineage_id, month, amount_uc, expires_at)"
        " VALUES ($1, $2, $2, $3, 10000, now() + interval '1 hour') RETURNING id",
        customer["id"], key_id, month,
    )  # fmt: skip
    assert (await call(gateway, key))[0] == 402  # still held: it has not expired
    usage = await gateway.get(f"/admin/api/customers/{customer['id']}/usage", headers=ADMIN_HEADERS)
    assert (await usage.json())["reserved_cents"] == 0.01
    await db.execute(
        "UPDATE reservations SET expires_at = now() - interval '1 second' WHERE id = $1",
        reservation,
    )
    assert (await call(gateway, key))[0] == 200  # an expired hold counts for nothing
    await db.execute(SWEEP_EXPIRED)  # and the sweeper deletes it
    await assert_books_balance(db)


async def test_allowlists_narrow_by_customer_then_key(gateway, db) -> None:
    customer, master = await create_customer(
        gateway, allowed_providers=["openai", "anthropic"], allowed_models=["gpt-4o*", "claude-*"]
    )
    sub = await create_sub_key(gateway, customer["id"], allowed_models=["gpt-4o-mini", "gpt-4.1*"])
    assert (await call(gateway, master, model="gpt-4o"))[0] == 200
    status, refused = await call(gateway, master, provider="gemini", model="gemini-2.5-flash")
    assert (status, refused["error"]["type"]) == (403, "provider_not_allowed")
    status, refused = await call(gateway, master, model="gpt-4.1")
    assert (status, refused["error"]["type"]) == (403, "model_not_allowed")
    assert (await call(gateway, sub["key"], model="gpt-4o-mini"))[0] == 200
    status, refused = await call(gateway, sub["key"], model="gpt-4o")  # key narrows
    assert (status, refused["error"]["type"]) == (403, "model_not_allowed")
    status, refused = await call(gateway, sub["key"], model="gpt-4.1")  # customer narrows
    assert (status, refused["error"]["type"]) == (403, "model_not_allowed")
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 2


async def test_install_id_required(gateway, db) -> None:
    customer, _ = await create_customer(gateway)
    sub = await create_sub_key(gateway, customer["id"], require_install=True)
    status, refused = await call(gateway, sub["key"])
    assert (status, refused["error"]["type"]) == (403, "install_id_required")
    assert (await call(gateway, sub["key"], {"X-Kaixu-Install-Id": "phone-1"}))[0] == 200
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 1


async def test_device_seats_revocation_frees_a_seat(gateway, db) -> None:
    customer, _ = await create_customer(gateway)
    sub = await create_sub_key(gateway, customer["id"], max_devices=2)

    def device(name: str) -> dict:
        return {"X-Kaixu-Install-Id": name, "User-Agent": f"app/1.0 ({name})"}

    assert (await call(gateway, sub["key"], device("a")))[0] == 200
    assert (await call(gateway, sub["key"], device("b")))[0] == 200
    status, refused = await call(gateway, sub["key"], device("c"))
    assert (status, refused["error"]["type"]) == (403, "device_limit")
    assert (await call(gateway, sub["key"], device("a")))[0] == 200  # known devices keep working

    listing = await gateway.get(
        f"/admin/api/customers/{customer['id']}/devices", headers=ADMIN_HEADERS
    )
    devices = {d["install_id"]: d for d in (await listing.json())["devices"]}
    assert set(devices) == {"a", "b"}
    assert devices["a"]["user_agent"] == "app/1.0 (a)"
    assert devices["a"]["key_id"] == sub["id"] and devices["a"]["revoked_at"] is None
    assert devices["a"]["first_seen"] <= devices["a"]["last_seen"]

    revoke = await gateway.post(
        f"/admin/api/devices/{devices['a']['id']}/revoke", headers=ADMIN_HEADERS
    )
    assert revoke.status == 200 and (await revoke.json())["device"]["revoked_at"]
    status, refused = await call(gateway, sub["key"], device("a"))
    assert (status, refused["error"]["type"]) == (403, "device_revoked")
    assert (await call(gateway, sub["key"], device("c")))[0] == 200  # the seat was freed
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 4


async def test_unknown_device_revoke_is_404(gateway) -> None:
    for did in ("999999", "abc"):
        response = await gateway.post(f"/admin/api/devices/{did}/revoke", headers=ADMIN_HEADERS)
        assert response.status == 404
        assert (await response.json())["error"]["type"] == "not_found"


@pytest.mark.parametrize("scope", ["customer", "key"])
async def test_rate_limit_refuses_with_a_truthful_retry_after(gateway, db, scope) -> None:
    if scope == "customer":
        _, key = await create_customer(gateway, rpm_limit=2)
    else:
        customer, _ = await create_customer(gateway)
        key = (await create_sub_key(gateway, customer["id"], rpm_limit=2))["key"]
    assert (await call(gateway, key))[0] == 200
    assert (await call(gateway, key))[0] == 200
    response = await gateway.post("/v1/gateway/chat", json=body(), headers=bearer(key))
    assert response.status == 429
    error = (await response.json())["error"]
    assert error["type"] == "rate_limited"
    retry_after = int(response.headers["Retry-After"])
    # GCRA at 2/minute: one request every 30 s, a burst of 2; the next slot opens 30 s after
    # the first request, a little less than 30 s from now.
    assert 29 <= retry_after <= 30 and error["retry_after_s"] == retry_after
    assert scope in error["message"]
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 2


async def test_a_device_error_wins_over_rate_and_cap(gateway, db) -> None:
    customer, _ = await create_customer(gateway, monthly_cap_cents=0, rpm_limit=1)
    sub = await create_sub_key(gateway, customer["id"], max_devices=1)
    assert (await call(gateway, sub["key"], {"X-Kaixu-Install-Id": "a"}))[0] == 402
    status, refused = await call(gateway, sub["key"], {"X-Kaixu-Install-Id": "b"})
    assert (status, refused["error"]["type"]) == (403, "device_limit")
    status, refused = await call(gateway, sub["key"], {"X-Kaixu-Install-Id": "a"})
    assert (status, refused["error"]["type"]) == (429, "rate_limited")  # rate before cap
