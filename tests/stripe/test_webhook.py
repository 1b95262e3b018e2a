"""The Stripe webhook: signed events credit a paid session exactly once."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from core.money import MAX_CREDIT_UC
from proxy.app import create_app
from tests.conftest import ADMIN_HEADERS
from tests.fakes.stripe import event, paid
from tests.helpers import bearer, create_customer
from tests.stripe.conftest import (
    ASYNC_SUCCEEDED,
    COMPLETED,
    WEBHOOK_SECRET,
    books,
    deliver,
    open_session,
    sign,
    with_stripe,
)

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


async def test_a_stripe_payment_past_the_credit_bound_is_recorded_not_credited(
    app, fake_stripe, db
) -> None:
    customer, _ = await create_customer(app, monthly_cap_cents=0)
    cid = customer["id"]
    await db.execute("UPDATE customers SET extra_uc = $1 WHERE id = $2", MAX_CREDIT_UC, cid)
    session = await open_session(app, fake_stripe, cid, 500)
    assert await deliver(app, event(COMPLETED, paid(session))) == (200, {"received": True})
    assert await db.fetchval("SELECT outcome FROM stripe_events") == "over_limit"
    assert await db.fetchval("SELECT extra_uc FROM customers") == MAX_CREDIT_UC
    assert await db.fetchval("SELECT count(*) FROM topups") == 0
    assert json.loads(await db.fetchval("SELECT payload FROM stripe_events"))["id"]
