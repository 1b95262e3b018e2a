"""The gateway's own routes: /v1/gateway/chat (JSON) and /v1/gateway/stream (SSE)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.chat import ChatRequest, ToolCall
from core.events import CallEvent, CallResult, Failed, Finished, Started, TextDelta
from proxy.http.responses import json_response
from proxy.ledger.call import Call
from proxy.routes.answers import collect, usage_json
from proxy.routes.chat_request import parse_native_request
from proxy.routes.client import admit
from proxy.routes.client_auth import authenticate
from proxy.routes.sse import Frame, dumps, stream_call
from proxy.state import PROVIDERS, SETTINGS


async def _admit(request: web.Request, *, stream: bool) -> Call:
    """Order of checks: key (401), body size (413), body (400), then admission."""
    policy = await authenticate(request)
    raw = await request.read()
    chat = parse_native_request(raw, request.app[SETTINGS], request.app[PROVIDERS])
    return await admit(request, policy, chat, stream=stream)


def _end(result: CallResult) -> dict[str, Any]:
    return {"usage": usage_json(result), "month": result.month.to_json()}


def tool_call_json(index: int, call: ToolCall) -> dict[str, Any]:
    return {"index": index, "id": call.id, "name": call.name, "arguments": call.arguments}


async def chat(request: web.Request) -> web.Response:
    call = await _admit(request, stream=False)
    text, result = await collect(call)
    return json_response(
        {
            "provider": call.chat.provider,
            "model": call.chat.model,
            "upstream_model": result.upstream_model,
            "text": text,
            "tool_calls": [tool_call_json(i, c) for i, c in enumerate(result.tool_calls)],
            "finish_reason": result.finish_reason,
            **_end(result),
        }
    )


class NativeStream:
    """meta, delta…, then done or error: the events of docs/api.md."""

    def __init__(self, chat: ChatRequest) -> None:
        self.chat = chat

    def frames(self, event: CallEvent) -> list[Frame]:
        if isinstance(event, Started):
            meta = {
                "provider": self.chat.provider,
                "model": self.chat.model,
                "month": event.month.to_json(),
            }
            return [("meta", dumps(meta))]
        if isinstance(event, TextDelta):
            return [("delta", dumps({"text": event.text}))]
        if isinstance(event, Finished):
            result = event.result
            calls = [("tool_call", dumps(tool_call_json(i, c)))
                     for i, c in enumerate(result.tool_calls)]  # fmt: skip
            done = {**_end(result), "finish_reason": result.finish_reason}
            return [*calls, ("done", dumps(done))]
        if isinstance(event, Failed):
            failure = {"type": event.error.error_type, "message": event.error.message}
            return [("error", dumps({"error": failure, **_end(event.result)}))]
        return []


async def stream(request: web.Request) -> web.StreamResponse:
    call = await _admit(request, stream=True)
    return await stream_call(request, call, NativeStream(call.chat))


def add_routes(app: web.Application) -> None:
    for path in ("/v1/gateway/chat", "/.netlify/functions/gateway-chat"):
        app.router.add_post(path, chat)
    for path in ("/v1/gateway/stream", "/.netlify/functions/gateway-stream"):
        app.router.add_post(path, stream)
