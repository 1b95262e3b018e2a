"""Stripe: Checkout Sessions through the official SDK against a fake Stripe, and signed webhooks
that credit each paid session exactly once however often and in whatever order they arrive."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import stripe
from aiohttp.test_utils import TestClient

from core.settings import Settings
from proxy.app import create_app
from tests.conftest import ADMIN_HEADERS, free_port
from tests.fakes.stripe import DECLINED_AMOUNT, OUTAGE_AMOUNT, FakeStripe, event, paid
from tests.helpers import bearer, create_customer

SECRET_KEY = "sk_test_51KaixuFakeSecretKey0000"
WEBHOOK_SECRET = "whsec_test_kaixu_webhook_secret"
PUBLIC_URL = "https://gw.example.com"
COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with FakeStripe() as fake:
        yield fake


def with_stripe(settings: Settings, fake: FakeStripe, **changes: Any) -> Settings:
    stripe_settings = {
        "stripe_secret_key": SECRET_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": fake.url,
        "public_url": PUBLIC_URL,
    }
    return dataclasses.replace(settings, **{**stripe_settings, **changes})


@pytest.fixture
async def app(settings: Settings, fake_stripe: FakeStripe, aiohttp_client) -> TestClient:
    """The real app with Stripe configured and pointed at the fake."""
    return await aiohttp_client(create_app(with_stripe(settings, fake_stripe)))


async def start_checkout(client: TestClient, cid: str, amount: Any) -> tuple[int, dict]:
    response = await client.post(
        f"/admin/api/customers/{cid}/checkout", json={"amount_cents": amount}, headers=ADMIN_HEADERS
    )
    return response.status, await response.json()


async def open_session(client: TestClient, fake: FakeStripe, cid: str, amount: int) -> dict:
    """A Checkout Session created through our API, as the fake holds it."""
    status, body = await start_checkout(client, cid, amount)
    assert status == 200, body
    return fake.sessions[body["session_id"]]


def sign(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


async def deliver(client: TestClient, evt: dict, **signing: Any) -> tuple[int, dict]:
    payload = json.dumps(evt)
    response = await client.post(
        "/webhooks/stripe",
        data=payload.encode(),
        headers={"Stripe-Signature": sign(payload, **signing), "Content-Type": "application/json"},
    )
    return response.status, await response.json()


async def books(db, cid: str) -> dict[str, Any]:
    """Everything a webhook can change, for before/after comparisons."""
    return {
        "extra_uc": await db.fetchval("SELECT extra_uc FROM customers WHERE id = $1", cid),
        "topups": [dict(r) for r in await db.fetch("SELECT * FROM topups ORDER BY id")],
        "outcomes": [r["outcome"] for r in await db.fetch("SELECT outcome FROM stripe_events")],
        "stripe_audit": await db.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'stripe'"),
    }


# --- Checkout -------------------------------------------------------------------------------


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


# --- Webhooks -------------------------------------------------------------------------------


async def test_a_paid_session_is_credited_once_and_replays_change_nothing(
    app, fake_stripe, db
) -> None:
    customer, _ = await create_customer(app)
    cid = customer["id"]
    session = await open_session(app, fake_stripe, cid, 500)
    completed = event(COMPLETED, paid(session))
    for _ in range(4):  # the first delivery, then three replays of the very same event
        assert await deliver(app, completed) == (200, {"received": True})

    state = await books(db, cid)
    assert state["extra_uc"] == 500 * 1_000_000
    [topup] = state["topups"]
    assert topup["customer_id"] == cid and topup["amount_uc"] == 500_000_000
    assert topup["source"] == "stripe" and topup["actor"] == "stripe"
    assert topup["stripe_session_id"] == session["id"]
    assert topup["note"] == f"Stripe Checkout {session['id']}"
    recorded = await db.fetchrow("SELECT * FROM stripe_events")
    assert recorded["event_id"] == completed["id"] and recorded["type"] == COMPLETED
    assert recorded["session_id"] == session["id"] and recorded["customer_id"] == cid
    assert recorded["amount_uc"] == 500_000_000 and recorded["outcome"] == "credited"
    assert json.loads(recorded["payload"])["data"]["object"]["id"] == session["id"]
    audit = await db.fetchrow("SELECT * FROM audit_log WHERE actor = 'stripe'")
    assert audit["action"] == "topup.stripe" and audit["customer_id"] == cid
    assert audit["target"] == session["id"]
    assert json.loads(audit["after"]) == {"amount_cents": 500, "extra_cents": 500}
    assert state["outcomes"] == ["credited"] and state["stripe_audit"] == 1

    response = await app.get(f"/admin/api/customers/{cid}", headers=ADMIN_HEADERS)
    assert (await response.json())["customer"]["extra_cents"] == 500


async def test_new_event_ids_for_a_credited_session_credit_nothing(app, fake_stripe, db) -> None:
    customer, _ = await create_customer(app)
    session = paid(await open_session(app, fake_stripe, customer["id"], 700))
    for evt in (event(COMPLETED, session), event(COMPLETED, session),
                event(ASYNC_SUCCEEDED, session)):  # fmt: skip
        assert (await deliver(app, evt))[0] == 200
    state = await books(db, customer["id"])
    assert state["extra_uc"] == 700_000_000 and len(state["topups"]) == 1
    assert sorted(state["outcomes"]) == ["credited", "duplicate", "duplicate"]
    assert state["stripe_audit"] == 1


async def test_events_out_of_order_credit_once(app, fake_stripe, db) -> None:
    customer, _ = await create_customer(app)
    session = paid(await open_session(app, fake_stripe, customer["id"], 900))
    assert (await deliver(app, event(ASYNC_SUCCEEDED, session)))[0] == 200
    assert (await deliver(app, event(COMPLETED, session)))[0] == 200
    state = await books(db, customer["id"])
    assert state["extra_uc"] == 900_000_000 and len(state["topups"]) == 1
    assert sorted(state["outcomes"]) == ["credited", "duplicate"]


async def test_an_unpaid_completion_waits_for_the_async_payment(app, fake_stripe, db) -> None:
    customer, _ = await create_customer(app)
    session = await open_session(app, fake_stripe, customer["id"], 1500)
    unpaid = {**session, "status": "complete", "payment_status": "unpaid"}
    assert (await deliver(app, event(COMPLETED, unpaid)))[0] == 200
    state = await books(db, customer["id"])
    assert state["extra_uc"] == 0 and state["topups"] == [] and state["outcomes"] == ["unpaid"]

    assert (await deliver(app, event(ASYNC_SUCCEEDED, paid(session))))[0] == 200
    state = await books(db, customer["id"])
    assert state["extra_uc"] == 1_500_000_000 and len(state["topups"]) == 1
    assert sorted(state["outcomes"]) == ["credited", "unpaid"]


async def test_concurrent_deliveries_for_one_session_credit_exactly_once(
    app, fake_stripe, db
) -> None:
    customer, _ = await create_customer(app)
    session = paid(await open_session(app, fake_stripe, customer["id"], 300))
    events = [event(COMPLETED if i % 2 else ASYNC_SUCCEEDED, session) for i in range(10)]
    answers = await asyncio.gather(*(deliver(app, evt) for evt in events))
    assert [status for status, _ in answers] == [200] * 10
    state = await books(db, customer["id"])
    assert state["extra_uc"] == 300_000_000 and len(state["topups"]) == 1
    assert sorted(state["outcomes"]) == ["credited"] + ["duplicate"] * 9
    assert state["stripe_audit"] == 1


async def test_the_customer_falls_back_to_client_reference_id(app, fake_stripe, db) -> None:
    customer, _ = await create_customer(app)
    session = paid(await open_session(app, fake_stripe, customer["id"], 250))
    assert (await deliver(app, event(COMPLETED, session, metadata={})))[0] == 200
    assert (await books(db, customer["id"]))["extra_uc"] == 250_000_000


@pytest.mark.parametrize(
    "case",
    ["tampered body", "wrong secret", "missing header", "stale timestamp", "malformed header",
     "future-only scheme"],
)  # fmt: skip
async def test_unverifiable_deliveries_are_400_and_change_nothing(
    app, fake_stripe, db, case
) -> None:
    customer, _ = await create_customer(app)
    session = paid(await open_session(app, fake_stripe, customer["id"], 500))
    payload = json.dumps(event(COMPLETED, session))
    header = {
        "tampered body": sign(payload),
        "wrong secret": sign(payload, secret="whsec_someone_else"),
        "missing header": None,
        "stale timestamp": sign(payload, timestamp=int(time.time()) - 3600),
        "malformed header": "t=yesterday,v1=abc",
        "future-only scheme": sign(payload).replace("v1=", "v0="),
    }[case]
    body = payload.replace('"amount_total": 500,', '"amount_total": 500000,')
    assert body != payload
    data = body if case == "tampered body" else payload
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    response = await app.post("/webhooks/stripe", data=data.encode(), headers=headers)
    answer = await response.json()
    assert response.status == 400, answer
    assert answer["error"]["type"] == "invalid_request"
    assert WEBHOOK_SECRET not in json.dumps(answer)
    state = await books(db, customer["id"])
    assert state == {"extra_uc": 0, "topups": [], "outcomes": [], "stripe_audit": 0}


async def test_a_signed_body_that_is_not_an_event_is_400(app, db) -> None:
    for payload in ("not json", "[1, 2]"):
        response = await app.post(
            "/webhooks/stripe", data=payload.encode(), headers={"Stripe-Signature": sign(payload)}
        )
        assert response.status == 400
    assert await db.fetchval("SELECT count(*) FROM stripe_events") == 0


async def test_an_unknown_customer_is_recorded_and_not_credited(app, fake_stripe, db) -> None:
    customer, _ = await create_customer(app)
    session = paid(await open_session(app, fake_stripe, customer["id"], 500))
    for metadata_id in ("cus_nobody", "not an id\u0001"):
        ghost = {**session, "metadata": {"customer_id": metadata_id}, "client_reference_id": None}
        assert await deliver(app, event(COMPLETED, ghost)) == (200, {"received": True})
    rows = await db.fetch("SELECT customer_id, outcome FROM stripe_events ORDER BY received_at")
    assert [tuple(r) for r in rows] == [
        ("cus_nobody", "unknown_customer"),
        (None, "unknown_customer"),
    ]
    assert await db.fetchval("SELECT count(*) FROM topups") == 0
    assert await db.fetchval("SELECT extra_uc FROM customers") == 0


async def test_other_event_types_are_recorded_as_ignored(app, fake_stripe, db) -> None:
    customer, _ = await create_customer(app)
    session = paid(await open_session(app, fake_stripe, customer["id"], 500))
    for kind in ("checkout.session.expired", "payment_intent.succeeded", "charge.refunded"):
        assert await deliver(app, event(kind, session)) == (200, {"received": True})
    eur = event(COMPLETED, session, currency="eur")  # not a session we create
    assert (await deliver(app, eur))[0] == 200
    state = await books(db, customer["id"])
    assert state["outcomes"] == ["ignored"] * 4 and state["topups"] == []
    assert state["extra_uc"] == 0


async def test_a_credit_raises_the_allowance_on_the_very_next_request(
    gateway_settings, fake_stripe, aiohttp_client
) -> None:
    client = await aiohttp_client(create_app(with_stripe(gateway_settings, fake_stripe)))
    customer, key = await create_customer(client, monthly_cap_cents=0)
    chat = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 100,
            "messages": [{"role": "user", "content": "fake:usage=10,10"}]}  # fmt: skip
    refused = await client.post("/v1/gateway/chat", json=chat, headers=bearer(key))
    assert refused.status == 402
    session = paid(await open_session(client, fake_stripe, customer["id"], 50))
    assert (await deliver(client, event(COMPLETED, session)))[0] == 200
    allowed = await client.post("/v1/gateway/chat", json=chat, headers=bearer(key))
    assert allowed.status == 200, await allowed.text()
