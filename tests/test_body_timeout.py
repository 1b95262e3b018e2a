"""A request body that stalls is answered 408 request_timeout after BODY_READ_TIMEOUT_S, and
the connection is closed at once, on every route that reads a body."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest

from proxy.app import create_app
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import bearer, chat_body, create_customer

# Only a bound on a broken server (the old one never answered): no test waits for it.
SAFETY_BOUND_S = 20


@pytest.fixture
async def impatient(gateway_settings, aiohttp_client):
    settings = dataclasses.replace(
        gateway_settings, body_read_timeout_s=0.5, stripe_webhook_secret="whsec_test"
    )
    return await aiohttp_client(create_app(settings))


async def stalled_post(port: int, path: str, headers: dict[str, str]) -> bytes:
    """Headers announcing 1000 bytes, then 14 of them; everything the server sends until it
    closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join([*lines, "Content-Length: 1000"]) + "\r\n\r\n").encode())
    writer.write(b'{"model": "gpt')
    await writer.drain()
    try:
        async with asyncio.timeout(SAFETY_BOUND_S):
            return await reader.read()  # returns only at EOF: the server hung up
    finally:
        writer.close()


def parse_answer(raw: bytes) -> tuple[str, dict[str, str], dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *header_lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return status, headers, orjson.loads(body)


def assert_408(raw: bytes) -> dict:
    status, headers, body = parse_answer(raw)
    assert status == "HTTP/1.1 408 Request Timeout"
    assert headers["connection"] == "close"
    assert headers["content-type"].startswith("application/json")
    error = body["error"]
    assert (error["type"], error["code"]) == ("request_timeout", "request_timeout")
    assert error["message"] == "The request body did not arrive within 0.5 s."
    return error


@pytest.mark.parametrize("path", ["/v1/gateway/chat", "/v1/gateway/stream", "/v1/chat/completions"])
async def test_a_stalled_client_body_is_408_and_the_connection_closed(impatient, db, path):
    _, key = await create_customer(impatient)
    error = assert_408(await stalled_post(impatient.server.port, path, bearer(key)))
    assert "param" in error  # OpenAI's shape on the compatible route; the same for all
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0  # nothing was admitted


async def test_a_stalled_stripe_webhook_body_is_408(impatient) -> None:
    headers = {"Stripe-Signature": "t=1,v1=00"}
    assert_408(await stalled_post(impatient.server.port, "/webhooks/stripe", headers))


async def test_a_stalled_admin_body_is_408(impatient) -> None:
    headers = {"X-Admin-Password": ADMIN_PASSWORD}
    assert_408(await stalled_post(impatient.server.port, "/admin/api/customers", headers))


async def test_the_deadline_covers_the_body_not_the_answer(impatient) -> None:
    """A body that arrived in time is never cut off, however long the upstream then takes."""
    _, key = await create_customer(impatient)
    body = chat_body("openai", "gpt-4o-mini", "fake:slow=1 fake:text=late_but_fine")
    response = await impatient.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 200
    assert (await response.json())["text"] == "late but fine"
    assert (await impatient.get("/healthz")).status == 200
