"""Stripe Checkout top-ups started from the admin API, against a fake Stripe the SDK parses."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stripe

from proxy.app import create_app
from tests.conftest import ADMIN_HEADERS, free_port
from tests.fakes.stripe import DECLINED_AMOUNT, OUTAGE_AMOUNT, FakeStripe, event
from tests.helpers import create_customer
from tests.stripe.conftest import (
    COMPLETED,
    PUBLIC_URL,
    SECRET_KEY,
    deliver,
    start_checkout,
    with_stripe,
)


async def test_checkout_sends_the_sdks_real_request_and_answers_url_and_id(
    app, fake_stripe, db
) -> None:
    customer, _ = await create_customer(app)
    cid = customer["id"]
    status, body = await start_checkout(app, cid, 500)
    assert status == 200, body
    session = fake_stripe.sessions[body["session_id"]]
    assert body == {"url": session["url"], "session_id": session["id"]}
    assert body["session_id"].startswith("cs_test_")
    assert body["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")

    [sent] = fake_stripe.requests
    assert sent.method == "POST" and sent.path == "/v1/checkout/sessions"
    assert sent.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.headers["Idempotency-Key"] and sent.headers["Stripe-Version"]
    # The SDK's own flat encoding, exactly as Stripe's API receives it.
    assert sent.form == {
        "mode": "payment",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "500",
        "line_items[0][price_data][product_data][name]": "Kaixu Gateway credit",
        "line_items[0][quantity]": "1",
        "metadata[customer_id]": cid,
        "metadata[amount_cents]": "500",
        "client_reference_id": cid,
        "success_url": f"{PUBLIC_URL}/admin/?checkout=success&customer_id={cid}"
        "&session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": f"{PUBLIC_URL}/admin/?checkout=cancel&customer_id={cid}",
    }
    assert sent.params["line_items"][0]["price_data"]["unit_amount"] == "500"

    audit = await db.fetchrow("SELECT * FROM audit_log WHERE action = 'checkout.create'")
    assert audit["actor"] == "admin:password" and audit["customer_id"] == cid
    assert audit["target"] == body["session_id"] and audit["address"] == "127.0.0.1"
    assert json.loads(audit["after"]) == {"amount_cents": 500, "session_id": body["session_id"]}
    assert await db.fetchval("SELECT extra_uc FROM customers") == 0  # paying credits, not this


async def test_success_url_falls_back_to_the_servers_own_admin_url(
    settings, fake_stripe, aiohttp_client
) -> None:
    stripe_settings = with_stripe(settings, fake_stripe, host="0.0.0.0", port=8123, public_url=None)
    client = await aiohttp_client(create_app(stripe_settings))
    customer, _ = await create_customer(client)
    assert (await start_checkout(client, customer["id"], 50))[0] == 200
    cancel_url = fake_stripe.requests[0].form["cancel_url"]
    assert cancel_url.startswith("http://127.0.0.1:8123/admin/?checkout=cancel")


async def test_without_stripe_settings_both_routes_answer_409(client, db) -> None:
    customer, _ = await create_customer(client)
    status, body = await start_checkout(client, customer["id"], 500)
    assert status == 409 and body["error"]["type"] == "stripe_not_configured"
    assert "STRIPE_SECRET_KEY" in body["error"]["message"]
    status, body = await deliver(client, event(COMPLETED, {"id": "cs_test_x"}))
    assert status == 409 and body["error"]["type"] == "stripe_not_configured"
    assert await db.fetchval("SELECT count(*) FROM stripe_events") == 0


@pytest.mark.parametrize(
    "body",
    [
        {"amount_cents": 0},
        {"amount_cents": 49},
        {"amount_cents": 12.5},
        {"amount_cents": 50.000001},
        {"amount_cents": 1_000_001},
        {"amount_cents": -500},
        {"amount_cents": "abc"},
        {"amount_cents": True},
        {"amount_cents": None},
        {},
    ],
)
async def test_bad_amounts_are_400_and_never_reach_stripe(app, fake_stripe, body) -> None:
    customer, _ = await create_customer(app)
    response = await app.post(
        f"/admin/api/customers/{customer['id']}/checkout", json=body, headers=ADMIN_HEADERS
    )
    answer = await response.json()
    assert response.status == 400, answer
    assert answer["error"]["type"] == "invalid_request"
    assert answer["error"]["param"] == "amount_cents"
    assert fake_stripe.requests == []


async def test_whole_cents_in_any_json_spelling_are_accepted(app, fake_stripe) -> None:
    customer, _ = await create_customer(app)
    for amount in (50, 1_000_000, 2500.0, "75"):
        assert (await start_checkout(app, customer["id"], amount))[0] == 200
    amounts = [r.form["line_items[0][price_data][unit_amount]"] for r in fake_stripe.requests]
    assert amounts == ["50", "1000000", "2500", "75"]


async def test_unknown_customer_is_404_and_never_reaches_stripe(app, fake_stripe) -> None:
    status, body = await start_checkout(app, "cus_nobody", 500)
    assert status == 404 and body["error"]["type"] == "not_found"
    assert fake_stripe.requests == []


async def test_checkout_requires_admin_auth(app, fake_stripe) -> None:
    customer, _ = await create_customer(app)
    response = await app.post(
        f"/admin/api/customers/{customer['id']}/checkout", json={"amount_cents": 500}
    )
    assert response.status == 401
    assert fake_stripe.requests == []


async def test_a_declined_card_is_502_with_stripes_message(app, fake_stripe, db) -> None:
    customer, _ = await create_customer(app)
    status, body = await start_checkout(app, customer["id"], DECLINED_AMOUNT)
    assert status == 502 and body["error"]["type"] == "upstream_error"
    assert "Your card was declined." in body["error"]["message"]
    assert body["error"]["stripe_status"] == 402
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'checkout.create'") == 0


async def test_a_stripe_outage_is_retried_once_with_the_same_idempotency_key(
    app, fake_stripe
) -> None:
    customer, _ = await create_customer(app)
    status, body = await start_checkout(app, customer["id"], OUTAGE_AMOUNT)
    assert status == 502 and body["error"]["type"] == "upstream_error"
    first, second = fake_stripe.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]


async def test_a_rejected_key_is_502_without_the_key(settings, fake_stripe, aiohttp_client) -> None:
    live_key = "sk_live_51NotForTheFakeStripe"
    client = await aiohttp_client(
        create_app(with_stripe(settings, fake_stripe, stripe_secret_key=live_key))
    )
    customer, _ = await create_customer(client)
    response = await client.post(
        f"/admin/api/customers/{customer['id']}/checkout",
        json={"amount_cents": 500},
        headers=ADMIN_HEADERS,
    )
    text = await response.text()
    assert response.status == 502 and "Invalid API Key" in text
    assert live_key not in text and "sk_live" not in text


async def test_an_unreachable_stripe_is_502(settings, aiohttp_client) -> None:
    dead = FakeStripe(port=free_port())  # never started: nothing listens there
    client = await aiohttp_client(create_app(with_stripe(settings, dead)))
    customer, _ = await create_customer(client)
    status, body = await start_checkout(client, customer["id"], 500)
    assert status == 502 and body["error"]["message"].startswith("Could not reach Stripe")


async def test_the_fakes_session_json_parses_with_the_official_sdk(fake_stripe) -> None:
    """Proves the fake: the SDK's own async call returns the session object the fake sent."""
    http_client = stripe.AIOHTTPClient()
    client = stripe.StripeClient(
        SECRET_KEY, base_addresses={"api": fake_stripe.url}, http_client=http_client
    )
    try:
        session = await client.v1.checkout.sessions.create_async(params=sdk_params(1234))
        with pytest.raises(stripe.CardError, match="declined"):
            await client.v1.checkout.sessions.create_async(params=sdk_params(DECLINED_AMOUNT))
    finally:
        await http_client.close_async()
    assert isinstance(session, stripe.checkout.Session)
    sent = fake_stripe.sessions[session.id]
    assert session.url == sent["url"] and session.id == sent["id"]
    assert session.amount_total == 1234 and session.currency == "usd"
    assert session.metadata["customer_id"] == "cus_1"
    assert session.payment_status == "unpaid" and session.status == "open"


def sdk_params(amount: int) -> dict[str, Any]:
    return {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd", "unit_amount": amount,
                                       "product_data": {"name": "credit"}}, "quantity": 1}],
        "metadata": {"customer_id": "cus_1"},
        "success_url": "https://example.com/ok",
    }  # fmt: skip
