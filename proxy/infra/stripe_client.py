"""Stripe Checkout through the official SDK's async API: one client per app, errors become ours."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import stripe

from core.errors import Conflict, UpstreamError
from core.settings import Settings

log = logging.getLogger("kaixu.stripe")

PRODUCT_NAME = "Kaixu Gateway credit"
# One attempt may take this long; the SDK retries once (same Idempotency-Key) on a network
# error, a 409 or a 5xx, so an operator waits at most about twice this.
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15, sock_connect=5)
MAX_NETWORK_RETRIES = 1
# Stripe masks keys in its messages already; this is the second line of defence.
_SECRET_LIKE = re.compile(r"\b(?:sk|rk|whsec)_[A-Za-z0-9_]+")


def not_configured(setting: str) -> Conflict:
    return Conflict(f"Stripe is not configured: set {setting}.", type="stripe_not_configured")


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str


class StripeCheckout:
    """Creates Checkout Sessions that credit a customer; every failure is an UpstreamError."""

    def __init__(self, client: stripe.StripeClient, settings: Settings) -> None:
        self._client = client
        self._admin_url = settings.admin_url  # PUBLIC_URL's /admin/, else this server's

    def session_params(self, customer_id: str, amount_cents: int) -> dict[str, Any]:
        return {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": amount_cents,
                        "product_data": {"name": PRODUCT_NAME},
                    },
                    "quantity": 1,
                }
            ],
            # The webhook reads the customer from here (client_reference_id is the fallback).
            "metadata": {"customer_id": customer_id, "amount_cents": str(amount_cents)},
            "client_reference_id": customer_id,
            # Stripe fills in {CHECKOUT_SESSION_ID} itself when it redirects.
            "success_url": f"{self._admin_url}?checkout=success&customer_id={customer_id}"
            "&session_id={CHECKOUT_SESSION_ID}",
            "cancel_url": f"{self._admin_url}?checkout=cancel&customer_id={customer_id}",
        }

    async def create_session(self, customer_id: str, amount_cents: int) -> CheckoutSession:
        params = self.session_params(customer_id, amount_cents)
        try:
            session = await self._client.v1.checkout.sessions.create_async(params=params)
        except stripe.StripeError as exc:
            raise _upstream_error(exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The SDK wraps errors of sending the request, not of reading the answer's body.
            log.warning("stripe request failed", extra={"error": type(exc).__name__})
            raise UpstreamError(
                f"Could not read Stripe's answer ({type(exc).__name__}); try again."
            ) from None
        session_id, url = getattr(session, "id", None), getattr(session, "url", None)
        if not isinstance(session_id, str) or not isinstance(url, str):
            raise UpstreamError("Stripe answered without a Checkout Session id and URL.")
        return CheckoutSession(id=session_id, url=url)


def _upstream_error(exc: stripe.StripeError) -> UpstreamError:
    message = _SECRET_LIKE.sub("[redacted]", exc.user_message or type(exc).__name__)
    log.warning(
        "stripe refused checkout session",
        extra={"error": type(exc).__name__, "status": exc.http_status, "code": exc.code},
    )
    if isinstance(exc, stripe.APIConnectionError):
        return UpstreamError(f"Could not reach Stripe: {message}")
    return UpstreamError(
        f"Stripe refused the Checkout Session: {message}",
        rejected=exc.http_status is not None,
        stripe_status=exc.http_status,
        stripe_code=exc.code,
    )


@contextlib.asynccontextmanager
async def stripe_checkout(settings: Settings) -> AsyncIterator[StripeCheckout | None]:
    """The Stripe client when STRIPE_SECRET_KEY is set (else None); its HTTP session is closed
    on the way out."""
    if not settings.stripe_secret_key:
        yield None
        return
    # Otherwise the SDK writes an id under $HOME on the first request and reports platform
    # details with later ones; a server should do neither.
    stripe.enable_telemetry = False
    http_client = stripe.AIOHTTPClient(timeout=REQUEST_TIMEOUT)
    # The SDK joins base + "/v1/checkout/sessions": the base is a root URL without a slash.
    api_base = (settings.stripe_api_base or stripe.DEFAULT_API_BASE).rstrip("/")
    client = stripe.StripeClient(
        settings.stripe_secret_key,
        base_addresses={"api": api_base},
        http_client=http_client,
        max_network_retries=MAX_NETWORK_RETRIES,
    )
    try:
        yield StripeCheckout(client, settings)
    finally:
        await http_client.close_async()
