"""An upstream cannot make the gateway buffer without bound: an SSE line or event over 4 MiB
and a whole answer over 32 MiB end the call as the upstream's error (502, or the error event)."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from aiohttp import web

from proxy.app import create_app
from tests.helpers import bearer, chat_body, create_customer, parse_sse

MiB = 1024 * 1024
PIECE = b"x" * (64 * 1024)


def first_chunk(text: str) -> bytes:
    chunk = {"model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": text}}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


async def send_pieces(response: web.StreamResponse, total: int) -> None:
    """`total` bytes of one endless line, or until the gateway stops reading (it hangs up)."""
    try:
        for _ in range(total // len(PIECE)):
            await response.write(PIECE)
    except ConnectionError:
        pass


async def scripted_openai(request: web.Request) -> web.StreamResponse:
    """The last user message names the misbehaviour."""
    body = await request.json()
    script = body["messages"][-1]["content"]
    if script == "huge-announced":  # Content-Length says 40 MiB: refused unread
        return web.Response(body=b"x" * (40 * MiB), content_type="application/json")
    response = web.StreamResponse()
    if script == "huge-chunked":  # no Content-Length: refused once past 32 MiB
        response.enable_chunked_encoding()
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(b'{"choices": [{"message": {"content": "')
        await send_pieces(response, 40 * MiB)
        return response
    response.content_type = "text/event-stream"
    await response.prepare(request)
    if script == "long-line-after-text":
        await response.write(first_chunk("hello "))
    elif script == "long-event":  # every line short, one event of 5 MiB
        for _ in range(5 * 16):
            await response.write(b"data: " + PIECE + b"\n")
        return response
    await response.write(b"data: ")
    await send_pieces(response, 5 * MiB)
    return response


@pytest.fixture
async def bounded_gateway(gateway_settings, aiohttp_server, aiohttp_client):
    upstream = web.Application()
    upstream.router.add_post("/v1/chat/completions", scripted_openai)
    server = await aiohttp_server(upstream)
    base_url = str(server.make_url("/v1"))
    return await aiohttp_client(
        create_app(dataclasses.replace(gateway_settings, openai_base_url=base_url))
    )


async def still_serves(client, key: str) -> None:
    health = await client.get("/healthz")
    assert health.status == 200
    demo = chat_body("demo", "demo-echo", "still here?")
    assert (await client.post("/v1/gateway/chat", json=demo, headers=bearer(key))).status == 200


@pytest.mark.parametrize(
    ("script", "message"),
    [("long-line", "SSE line over 4 MiB"), ("long-event", "SSE event over 4 MiB")],
)
async def test_an_sse_line_or_event_over_4_mib_before_any_text_is_502(
    bounded_gateway, db, script, message
) -> None:
    _, key = await create_customer(bounded_gateway)
    body = chat_body("openai", "gpt-4o-mini", script)
    response = await bounded_gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["type"] == "upstream_error"
    assert error["message"] == f"openai sent an {message}"
    assert await db.fetchval("SELECT status FROM usage_events") == "error"
    await still_serves(bounded_gateway, key)


async def test_an_sse_line_over_4_mib_mid_stream_is_the_error_event(bounded_gateway, db) -> None:
    _, key = await create_customer(bounded_gateway)
    body = chat_body("openai", "gpt-4o-mini", "long-line-after-text")
    response = await bounded_gateway.post("/v1/gateway/stream", json=body, headers=bearer(key))
    assert response.status == 200
    events = parse_sse(await response.read())
    assert [name for name, _ in events] == ["meta", "delta", "error"]
    assert orjson.loads(events[1][1]) == {"text": "hello "}
    error = orjson.loads(events[-1][1])["error"]
    assert error == {"type": "upstream_error", "message": "openai sent an SSE line over 4 MiB"}
    assert await db.fetchval("SELECT status FROM usage_events") == "error"
    await still_serves(bounded_gateway, key)


@pytest.mark.parametrize(
    ("script", "path"),
    [
        (script, path)
        for script in ("huge-announced", "huge-chunked")
        for path in ("/v1/gateway/chat", "/v1/chat/completions")
    ],
)
async def test_a_whole_answer_over_32_mib_is_502(bounded_gateway, db, script, path) -> None:
    _, key = await create_customer(bounded_gateway)
    body = chat_body("openai", "gpt-4o-mini", script)
    if path == "/v1/chat/completions":
        body = {"model": "openai/gpt-4o-mini", "messages": body["messages"]}
    response = await bounded_gateway.post(path, json=body, headers=bearer(key))
    assert response.status == 502
    error = (await response.json())["error"]
    assert error["type"] == "upstream_error"
    assert error["message"] == "openai sent an answer over 32 MiB"
    assert await db.fetchval("SELECT status FROM usage_events") == "error"
    await still_serves(bounded_gateway, key)
