"""The gateway's own routes: /v1/gateway/chat (JSON) and /v1/gateway/stream (SSE)."""

from __future__ import annotations

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from proxy.gateway.auth import authenticate
from proxy.gateway.calls import Call, ClientGone, admit, run_complete, run_stream
from proxy.gateway.validation import parse_native_request
from proxy.middleware import json_response
from proxy.state import PROVIDERS, SETTINGS


async def _admit(request: web.Request) -> Call:
    """Order of checks: key (401), body size (413), body (400), then admission."""
    policy = await authenticate(request)
    raw = await request.read()
    chat = parse_native_request(raw, request.app[SETTINGS], request.app[PROVIDERS])
    return await admit(request, policy, chat)


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def chat(request: web.Request) -> web.Response:
    call = await _admit(request)
    await run_complete(call)
    assert call.settled is not None
    return json_response(
        {
            "provider": call.chat.provider,
            "model": call.chat.model,
            "upstream_model": call.upstream_model,
            "text": call.text,
            "finish_reason": call.finish.finish_reason if call.finish else None,
            "usage": call.usage_json(),
            "month": call.settled.to_json(),
        }
    )


async def stream(request: web.Request) -> web.StreamResponse:
    call = await _admit(request)
    response = EventSourceResponse(sep="\n", allow_all_methods=True)

    async def start() -> None:
        await response.prepare(request)
        meta = {"provider": call.chat.provider, "model": call.chat.model}
        await response.send(_dumps({**meta, "month": call.month.to_json()}), event="meta")

    async def send_delta(text: str) -> None:
        await response.send(_dumps({"text": text}), event="delta")

    try:
        error = await run_stream(call, start, send_delta)  # raises before `start`: plain JSON
    except ClientGone:
        return response
    assert call.settled is not None
    end = {"usage": call.usage_json(), "month": call.settled.to_json()}
    if error is None:
        await response.send(_dumps(end), event="done")
    else:
        body = {"error": {"type": "upstream_error", "message": error.message}, **end}
        await response.send(_dumps(body), event="error")
    response.stop_streaming()
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    for path in ("/v1/gateway/chat", "/.netlify/functions/gateway-chat"):
        app.router.add_post(path, chat)
    for path in ("/v1/gateway/stream", "/.netlify/functions/gateway-stream"):
        app.router.add_post(path, stream)
