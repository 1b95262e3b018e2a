"""Stripe webhooks: POST /webhooks/stripe (outside the admin prefix) credits a paid session once."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
import stripe
from aiohttp import web

from core.errors import InvalidRequest
from core.money import MAX_CREDIT_UC, UC_PER_CENT, uc_to_cents
from core.text import CUSTOMER_ID
from db import audit as db_audit
from db import customers as db_customers
from db import stripe_events as db_stripe_events
from db import topups as db_topups
from proxy.http.responses import json_response
from proxy.infra.stripe_client import not_configured
from proxy.state import DB_POOL, SETTINGS

log = logging.getLogger("kaixu.stripe")


COMPLETED = "checkout.session.completed"
ASYNC_SUCCEEDED = "checkout.session.async_payment_succeeded"


@dataclass(frozen=True, slots=True)
class Received:
    """What a verified event claims; `outcome` is set when it is known without the database."""

    event_id: str
    type: str
    session_id: str | None = None
    customer_id: str | None = None
    amount_cents: int | None = None
    outcome: str | None = None

    @property
    def amount_uc(self) -> int | None:
        return None if self.amount_cents is None else self.amount_cents * UC_PER_CENT


def read_event(event: dict[str, Any]) -> Received:
    """The facts of an event as Stripe sent it (a plain dict), and its outcome if no credit."""
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise InvalidRequest("The Stripe event has no id or type.")
    if event_type not in (COMPLETED, ASYNC_SUCCEEDED):
        return Received(event_id, event_type, outcome="ignored")
    session = _object(_object(event.get("data")).get("object"))
    session_id = session.get("id") if isinstance(session.get("id"), str) else None
    metadata = _object(session.get("metadata"))
    claimed = metadata.get("customer_id") or session.get("client_reference_id")
    # Ids of another shape cannot be ours (and could not be stored if they held a NUL).
    customer_id = claimed if isinstance(claimed, str) and CUSTOMER_ID.fullmatch(claimed) else None
    amount = session.get("amount_total")
    amount_cents = amount if isinstance(amount, int) and not isinstance(amount, bool) else None
    received = Received(event_id, event_type, session_id, customer_id, amount_cents)
    if event_type == COMPLETED and session.get("payment_status") != "paid":
        # A delayed method (bank debit): async_payment_succeeded credits it later.
        unpaid = session.get("payment_status") == "unpaid"
        return dataclasses.replace(received, outcome="unpaid" if unpaid else "ignored")
    if session_id is None or amount_cents is None or amount_cents <= 0:
        log.warning("stripe session without id or amount", extra={"event_id": event_id})
        return dataclasses.replace(received, outcome="ignored")
    if session.get("currency") != "usd":  # we only create USD sessions; cents are US cents
        log.warning("stripe session not in usd", extra={"event_id": event_id})
        return dataclasses.replace(received, outcome="ignored")
    if customer_id is None:
        return dataclasses.replace(received, outcome="unknown_customer")
    return received


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def verify(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The event if the body is signed with our secret within the SDK's 300 s tolerance."""
    try:
        event = stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        log.warning("stripe webhook signature rejected", extra={"reason": exc.user_message})
        raise InvalidRequest(
            f"The Stripe-Signature header does not verify: {exc.user_message}"
        ) from None
    except (ValueError, AttributeError, TypeError):  # signed, but not JSON of an event object
        raise InvalidRequest("The webhook body is not a Stripe event.") from None
    return event.to_dict(for_json=True)


async def apply(conn: asyncpg.Connection, received: Received, payload: dict[str, Any]) -> str:
    """Record the event and credit its session at most once; call inside one transaction."""
    is_new = await db_stripe_events.insert_event(
        conn,
        event_id=received.event_id,
        type=received.type,
        session_id=received.session_id,
        customer_id=received.customer_id,
        amount_uc=received.amount_uc,
        outcome=received.outcome or "received",  # replaced below before the transaction commits
        payload=payload,
    )
    if not is_new:
        return "replayed"
    if received.outcome is not None:
        return received.outcome
    outcome = await _credit(conn, received)
    await db_stripe_events.set_outcome(conn, received.event_id, outcome)
    return outcome


async def _credit(conn: asyncpg.Connection, received: Received) -> str:
    assert received.customer_id and received.session_id and received.amount_cents
    if not await db_customers.customer_exists(conn, received.customer_id):
        return "unknown_customer"
    room_uc = await db_topups.credit_room(conn, received.customer_id, MAX_CREDIT_UC)
    if received.amount_cents * UC_PER_CENT > room_uc:
        # Paid, but the balance would pass its bound: recorded, for the operator to refund.
        log.error("stripe payment not credited: credit bound", extra={
            "session_id": received.session_id, "customer_id": received.customer_id})  # fmt: skip
        return "over_limit"
    # The unique stripe_session_id makes a concurrent second credit wait, then insert nothing.
    row = await db_topups.insert_topup(
        conn,
        customer_id=received.customer_id,
        amount_uc=received.amount_cents * UC_PER_CENT,
        source="stripe",
        note=f"Stripe Checkout {received.session_id}",
        actor="stripe",
        stripe_session_id=received.session_id,
    )
    if row is None:
        return "duplicate"
    await db_audit.insert_audit(
        conn,
        actor="stripe",
        address=None,
        action="topup.stripe",
        customer_id=received.customer_id,
        target=received.session_id,
        before=None,
        after={"amount_cents": received.amount_cents, "extra_cents": uc_to_cents(row["extra_uc"])},
    )
    # Admission reads extra_uc in its own SQL; this only drops what processes cache about it.
    await db_customers.notify_customer(conn, received.customer_id)
    return "credited"


async def stripe_webhook(request: web.Request) -> web.Response:
    secret = request.config_dict[SETTINGS].stripe_webhook_secret
    if not secret:
        raise not_configured("STRIPE_WEBHOOK_SECRET")
    payload = await request.read()  # the signature covers these exact bytes
    event = verify(payload, request.headers.get("Stripe-Signature"), secret)
    received = read_event(event)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        outcome = await apply(conn, received, event)
    log.info(
        "stripe event",
        extra={
            "event_id": received.event_id,
            "event_type": received.type,
            "session_id": received.session_id,
            "customer_id": received.customer_id,
            "amount_cents": received.amount_cents,
            "outcome": outcome,
        },
    )
    return json_response({"received": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/webhooks/stripe", stripe_webhook)
