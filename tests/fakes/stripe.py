"""A fake Stripe API for Checkout Sessions: the SDK's form-encoded requests in, Stripe's JSON out.

Usage::

    async with FakeStripe() as fake:  # 127.0.0.1, a free port, in the running loop
        fake.url        # STRIPE_API_BASE: the SDK requests {url}/v1/checkout/sessions
        fake.requests   # [StripeRequest(method, path, headers, form, params), ...]
        fake.sessions   # id -> the Checkout Session JSON it answered

The unit amount chooses the behaviour: 666 is a declined card (402 card_error), 667 a Stripe
outage (500 api_error); anything else creates an open, unpaid session.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

DECLINED_AMOUNT = 666
OUTAGE_AMOUNT = 667
SESSION_LIFETIME_S = 24 * 3600
_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


@dataclass(slots=True)
class StripeRequest:
    """A request the fake received, before any check: the flat form and its nested reading."""

    method: str
    path: str
    headers: CIMultiDict[str]
    form: dict[str, str]
    params: dict[str, Any]


def unflatten(form: dict[str, str]) -> dict[str, Any]:
    """`a[b][0][c]=v` form keys (Stripe's encoding) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in form.items():
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[str(i)] for i in range(len(items))]
    return items


def stripe_error(status: int, type_: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"type": type_, "message": message, **extra}}, status=status)


def new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(42).replace("-", "A").replace("_", "b")


def event(event_type: str, session: dict[str, Any], **session_changes: Any) -> dict[str, Any]:
    """A webhook event as Stripe sends it, about `session` with some fields changed."""
    return {
        "id": new_id("evt_test_"),
        "object": "event",
        "api_version": "2025-08-27.basil",
        "created": int(time.time()),
        "data": {"object": {**session, **session_changes}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }


def paid(session: dict[str, Any]) -> dict[str, Any]:
    """The session as it is once the customer has paid."""
    return {**session, "status": "complete", "payment_status": "paid",
            "payment_intent": new_id("pi_test_")[:27]}  # fmt: skip


class FakeStripe:
    """An aiohttp server playing Stripe's `POST /v1/checkout/sessions`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.requests: list[StripeRequest] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeStripe:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _create_session(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        params = unflatten(form)
        self.requests.append(
            StripeRequest(request.method, request.path, CIMultiDict(request.headers), form, params)
        )
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not key.startswith("sk_test_"):
            return stripe_error(
                401, "invalid_request_error", f"Invalid API Key provided: {key[:8]}****"
            )
        if request.content_type != "application/x-www-form-urlencoded":
            return stripe_error(400, "invalid_request_error", "Expected a form-encoded body.")
        for required in ("mode", "success_url", "line_items"):
            if required not in params:
                return stripe_error(
                    400, "invalid_request_error", f"Missing required param: {required}.",
                    param=required, code="parameter_missing",
                )  # fmt: skip
        try:
            item = params["line_items"][0]
            amount = int(item["price_data"]["unit_amount"]) * int(item.get("quantity", "1"))
            currency = item["price_data"]["currency"]
        except (KeyError, IndexError, TypeError, ValueError):
            return stripe_error(400, "invalid_request_error", "Invalid line_items.")
        if amount == DECLINED_AMOUNT:
            return stripe_error(402, "card_error", "Your card was declined.", code="card_declined")
        if amount == OUTAGE_AMOUNT:
            return stripe_error(500, "api_error", "An unknown error occurred.")
        session = self._session(params, amount, currency)
        self.sessions[session["id"]] = session
        return web.json_response(session, headers={"Request-Id": new_id("req_")[:18]})

    def _session(self, params: dict[str, Any], amount: int, currency: str) -> dict[str, Any]:
        session_id = new_id("cs_test_a1")
        created = int(time.time())
        return {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": created,
            "currency": currency,
            "customer": None,
            "customer_details": None,
            "expires_at": created + SESSION_LIFETIME_S,
            "livemode": False,
            "metadata": params.get("metadata", {}),
            "mode": params["mode"],
            "payment_intent": None,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
        }
