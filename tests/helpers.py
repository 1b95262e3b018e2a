"""Test helpers: operator actions through the real admin API, and a standard SSE parser."""

from __future__ import annotations

from typing import Any

import sseclient
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_HEADERS


async def create_customer(client: TestClient, **fields: Any) -> tuple[dict, str]:
    """A customer and its master key's plaintext, as an operator would make them."""
    fields.setdefault("monthly_cap_cents", 1000)
    response = await client.post("/admin/api/customers", json=fields, headers=ADMIN_HEADERS)
    assert response.status == 201, await response.text()
    body = await response.json()
    return body["customer"], body["key"]["key"]


async def create_sub_key(client: TestClient, customer_id: str, **fields: Any) -> dict:
    response = await client.post(
        f"/admin/api/customers/{customer_id}/keys", json=fields, headers=ADMIN_HEADERS
    )
    assert response.status == 201, await response.text()
    return (await response.json())["key"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def parse_sse(body: bytes) -> list[tuple[str, str]]:
    """(event, data) pairs, parsed by sseclient-py, independent of the gateway's own reader."""
    return [(e.event, e.data) for e in sseclient.SSEClient([body]).events()]


def chat_body(provider: str, model: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "provider": provider,
        "model": model,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }
