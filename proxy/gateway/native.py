"""The gateway's own routes: /v1/gateway/chat (JSON) and /v1/gateway/stream (SSE)."""

from __future__ import annotations

from aiohttp import web

from proxy import errors
from proxy.gateway.auth import authenticate
from proxy.gateway.calls import Call, admit, run_complete
from proxy.gateway.sse_out import Event, dumps, stream_events
from proxy.gateway.validation import parse_native_request
from proxy.middleware import json_response
from proxy.state import PROVIDERS, SETTINGS


async def _admit(request: web.Request) -> Call:
    """Order of checks: key (401), body size (413), body (400), then admission."""
    policy = await authenticate(request)
    raw = await request.read()
    chat = parse_native_request(raw, request.app[SETTINGS], request.app[PROVIDERS])
    return await admit(request, policy, chat)


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
    chat = call.chat

    def opening() -> list[Event]:
        meta = {"provider": chat.provider, "model": chat.model, "month": call.month.to_json()}
        return [("meta", dumps(meta))]

    def closing(error: errors.GatewayError | None) -> list[Event]:
        assert call.settled is not None
        end = {"usage": call.usage_json(), "month": call.settled.to_json()}
        if error is None:
            return [("done", dumps(end))]
        failure = {"type": "upstream_error", "message": error.message}
        return [("error", dumps({"error": failure, **end}))]

    return await stream_events(
        request, call, opening, lambda text: ("delta", dumps({"text": text})), closing
    )


def add_routes(app: web.Application) -> None:
    for path in ("/v1/gateway/chat", "/.netlify/functions/gateway-chat"):
        app.router.add_post(path, chat)
    for path in ("/v1/gateway/stream", "/.netlify/functions/gateway-stream"):
        app.router.add_post(path, stream)
