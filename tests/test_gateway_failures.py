"""Upstream failures and client disconnects: the right error, and exactly one usage row each."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest

from proxy.app import create_app
from tests.helpers import bearer, chat_body, create_customer, parse_sse

MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
HTTP_ERRORS = [
    ("openai", 401), ("openai", 429), ("openai", 500),
    ("anthropic", 429), ("anthropic", 500), ("anthropic", 529),
    ("gemini", 400), ("gemini", 429), ("gemini", 503),
]  # fmt: skip


async def one_row(db):
    rows = await db.fetch("SELECT * FROM usage_events")
    assert len(rows) == 1, rows
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0  # released
    return rows[0]


@pytest.mark.parametrize(("provider", "status"), HTTP_ERRORS)
@pytest.mark.parametrize("path", ["/v1/gateway/chat", "/v1/gateway/stream"])
async def test_provider_http_error_is_502_with_its_status(gateway, db, provider, status, path):
    _, key = await create_customer(gateway)
    body = chat_body(provider, MODELS[provider], f"fake:error={status}")
    response = await gateway.post(path, json=body, headers=bearer(key))
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["type"] == "upstream_error"
    assert f"{provider} answered {status}" in error["message"]
    row = await one_row(db)
    assert (row["status"], row["cost_uc"], row["cost_source"]) == ("error", 0, "none")


async def test_provider_key_is_never_echoed(gateway) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("openai", "gpt-4o-mini", "fake:error=401")
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert "sk-test-openai" not in await response.text()


@pytest.mark.parametrize("provider", MODELS)
@pytest.mark.parametrize("failure", ["fake:mid-stream-error", "fake:cut", "fake:early-end"])
async def test_stream_failure_after_meta_ends_with_error_event_and_bills(
    gateway, db, provider, failure
):
    _, key = await create_customer(gateway)
    body = chat_body(provider, MODELS[provider], f"{failure} fake:text=one_two_three_four_five_six")
    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    assert response.status == 200
    events = parse_sse(await response.read())
    assert events[0][0] == "meta" and events[-1][0] == "error"
    assert all(name == "delta" for name, _ in events[1:-1])
    produced = "".join(orjson.loads(d)["text"] for name, d in events if name == "delta")
    end = orjson.loads(events[-1][1])
    assert end["error"]["type"] == "upstream_error"
    assert end["usage"]["cost_cents"] > 0  # whatever was consumed is billed
    assert end["usage"]["estimated"] is True
    assert end["month"]["spent_cents"] == end["usage"]["cost_cents"]
    row = await one_row(db)
    assert (row["status"], row["cost_source"]) == ("error", "estimated")
    assert row["output_tokens"] >= 1 and produced
    assert row["cost_uc"] == round(end["usage"]["cost_cents"] * 1_000_000)


@pytest.mark.parametrize("provider", MODELS)
async def test_crlf_and_tiny_reads_keep_utf8_text_intact(gateway, provider) -> None:
    _, key = await create_customer(gateway)
    text = "héllo_wörld_✓_日本語_done"
    body = chat_body(provider, MODELS[provider], f"fake:text={text} fake:tiny-reads fake:crlf")
    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    events = parse_sse(await response.read())
    assert events[-1][0] == "done"
    joined = "".join(orjson.loads(d)["text"] for name, d in events if name == "delta")
    assert joined == text.replace("_", " ")


async def test_slow_upstream_is_504_and_recorded(gateway_settings, db, aiohttp_client) -> None:
    settings = dataclasses.replace(gateway_settings, upstream_read_timeout_s=0.2)
    client = await aiohttp_client(create_app(settings))
    _, key = await create_customer(client)
    body = chat_body("openai", "gpt-4o-mini", "fake:slow=3")
    response = await client.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 504
    assert (await response.json())["error"]["type"] == "upstream_timeout"
    row = await one_row(db)
    assert row["status"] == "error"


async def test_stall_mid_stream_times_out_into_an_error_event(gateway_settings, db, aiohttp_client):
    settings = dataclasses.replace(gateway_settings, upstream_read_timeout_s=0.2)
    client = await aiohttp_client(create_app(settings))
    _, key = await create_customer(client)
    body = chat_body("anthropic", "claude-haiku-4-5", "fake:stall=3")
    response = await client.post("/v1/gateway/stream", json=body, headers=bearer(key))
    events = parse_sse(await response.read())
    assert events[-1][0] == "error"
    assert "did not answer in time" in orjson.loads(events[-1][1])["error"]["message"]
    assert (await one_row(db))["status"] == "error"


async def test_unreachable_provider_is_502(gateway_settings, db, aiohttp_client) -> None:
    settings = dataclasses.replace(gateway_settings, openai_base_url="http://127.0.0.1:9/v1")
    client = await aiohttp_client(create_app(settings))
    _, key = await create_customer(client)
    body = chat_body("openai", "gpt-4o-mini", "hi")
    response = await client.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 502
    assert "could not connect to openai" in (await response.json())["error"]["message"]
    assert (await one_row(db))["status"] == "error"


async def test_client_disconnect_mid_stream_is_billed_as_aborted(gateway, db) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("openai", "gpt-4o-mini", "fake:stall=0.5 fake:text=first_second_third_fourth")
    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    first = await response.content.readuntil(b"event: delta")
    assert b"event: meta" in first
    response.close()  # the client goes away while the upstream is still producing
    row = await wait_for_row(db)
    assert (row["status"], row["cost_source"]) == ("aborted", "estimated")
    assert row["output_tokens"] >= 1 and row["cost_uc"] > 0
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0


async def wait_for_row(db, deadline_s: float = 10.0):
    """The gateway settles once it notices the disconnect; wait for that, bounded."""
    async with asyncio.timeout(deadline_s):
        while True:
            row = await db.fetchrow("SELECT * FROM usage_events")
            if row is not None:
                return row
            await asyncio.sleep(0.05)


async def test_a_gateway_failure_mid_stream_ends_with_the_contracts_error_event(
    gateway, db, monkeypatch
) -> None:
    """A bug after the stream started still ends it with the contract's `error` event, with
    the usage billed and the month, and one usage row."""
    from core.events import TextDelta
    from proxy.routes import native

    real_frames = native.NativeStream.frames
    deltas = 0

    def breaking_frames(self, event):
        nonlocal deltas
        if isinstance(event, TextDelta):
            deltas += 1
            if deltas == 2:
                raise RuntimeError("a bug in the gateway")
        return real_frames(self, event)

    monkeypatch.setattr(native.NativeStream, "frames", breaking_frames)
    _, key = await create_customer(gateway)
    body = chat_body("openai", "gpt-4o-mini", "fake:usage=9,9 fake:text=one_two_three_four")
    response = await gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    events = parse_sse(await response.read())
    assert [name for name, _ in events][:2] == ["meta", "delta"]
    name, data = events[-1]
    ended = orjson.loads(data)
    assert name == "error" and ended["error"]["type"] == "upstream_error"
    assert ended["usage"]["cost_cents"] > 0 and ended["month"]["spent_cents"] > 0
    assert (await one_row(db))["status"] == "aborted"
