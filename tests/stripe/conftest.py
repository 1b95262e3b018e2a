"""Fixtures for the Stripe tests: a fake Stripe API, signed webhook deliveries, the books."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import stripe
from aiohttp.test_utils import TestClient

from core.settings import Settings
from proxy.app import create_app
from tests.conftest import ADMIN_HEADERS
from tests.fakes.stripe import FakeStripe

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
