"""Admin route that starts a Stripe Checkout payment for a customer's prepaid credit."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from core.money import UC_PER_CENT
from db import audit as db_audit
from db import customers as db_customers
from proxy.admin.fields import INT, STR, strict_object
from proxy.admin.keys import no_customer
from proxy.admin.routing import Api
from proxy.admin.validation import cents, invalid, path_id, read_object
from proxy.http.client_address import client_address
from proxy.http.responses import json_response
from proxy.infra.stripe_client import not_configured
from proxy.state import ADMIN_ACTOR, DB_POOL, SETTINGS, STRIPE_CHECKOUT

log = logging.getLogger("kaixu.stripe")

routes = Api()

MIN_CENTS = 50  # Stripe's smallest USD charge
MAX_CENTS = 1_000_000  # $10,000: a bound on one payment an operator starts


def amount_cents(body: dict[str, Any]) -> int:
    if "amount_cents" not in body:
        raise invalid("amount_cents", "is required")
    uc = cents("amount_cents", body["amount_cents"])
    whole, fraction = divmod(uc, UC_PER_CENT)
    if fraction:
        raise invalid("amount_cents", "must be a whole number of cents (Stripe charges cents)")
    if not MIN_CENTS <= whole <= MAX_CENTS:
        raise invalid("amount_cents", f"must be between {MIN_CENTS} and {MAX_CENTS:,} cents")
    return whole


@routes.post(
    "/customers/{cid}/checkout",
    summary="A Stripe Checkout Session for a top-up",
    body=strict_object({"amount_cents": INT}),
    ok={"url": STR, "session_id": STR},
    errors=(409, 502),
    role="operator",
)
async def create_checkout(request: web.Request) -> web.Response:
    """A Checkout Session whose payment the webhook credits; the caller opens its URL."""
    cid = path_id(request, "cid", "customer")
    if not request.config_dict[SETTINGS].stripe_secret_key:
        raise not_configured("STRIPE_SECRET_KEY")
    amount = amount_cents(await read_object(request, allowed={"amount_cents"}))
    pool = request.config_dict[DB_POOL]
    async with pool.acquire() as conn:
        exists = await db_customers.customer_exists(conn, cid)
    if not exists:
        raise no_customer(cid)
    # No pool connection is held while Stripe answers.
    session = await request.config_dict[STRIPE_CHECKOUT].create_session(cid, amount)
    async with pool.acquire() as conn:
        await db_audit.insert_audit(
            conn,
            actor=request.get(ADMIN_ACTOR, "admin"),
            address=client_address(request),
            action="checkout.create",
            customer_id=cid,
            target=session.id,
            before=None,
            after={"amount_cents": amount, "session_id": session.id},
        )
    log.info(
        "stripe checkout created",
        extra={"customer_id": cid, "session_id": session.id, "amount_cents": amount},
    )
    return json_response({"url": session.url, "session_id": session.id})
