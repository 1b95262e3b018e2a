"""The Anthropic Messages API through the gateway: POST /anthropic/v1/messages (and
count_tokens), for the `anthropic` SDK and Claude Code (`ANTHROPIC_BASE_URL=<gateway>/anthropic`).

An Anthropic model gets the request as it came (unknown fields included, so new Anthropic
features keep working) and its answer passed through; `openai/…` or `gemini/…` is translated
to that provider and its answer rendered back in Anthropic's shapes (docs/native-apis.md).
Errors are Anthropic's, so its SDK raises its usual exceptions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import errors
from core.estimate import input_estimate
from core.native_body import sizing_request
from proxy.http.responses import json_response
from proxy.providers.anthropic import API_VERSION
from proxy.routes.answers import collect
from proxy.routes.anthropic_format import (
    MessagesStream,
    error_object,
    make_message_id,
    message_json,
)
from proxy.routes.anthropic_request import parse_messages_request
from proxy.routes.chat_request import (
    check_provider,
    named_provider,
    parse_json_object,
    parse_model,
)
from proxy.routes.client import admit, admit_forwarded, client_of
from proxy.routes.client_auth import authenticate
from proxy.routes.passthrough import output_bound, provider_errors, serve
from proxy.routes.sse import Frame, dumps, stream_call
from proxy.state import GATE, PROVIDERS, SETTINGS

ROUTE_PROVIDER = "anthropic"
FORWARDED_HEADERS = ("anthropic-beta",)


def failure_frames(error: errors.GatewayError) -> list[Frame]:
    return [("error", dumps(error_object(error)))]


def split_model(request: web.Request, value: object) -> tuple[str, str]:
    """`claude-…` (or `anthropic/claude-…`) is Anthropic's; `openai/…`, `gemini/…` another's."""
    name = parse_model(value)
    named = named_provider(name, request.app[PROVIDERS])
    if named is not None:
        return named
    return check_provider(ROUTE_PROVIDER, request.app[PROVIDERS]), name


def speaks_messages(request: web.Request, provider: str) -> bool:
    """Anthropic's wire format: the request goes upstream as it came."""
    return request.app[PROVIDERS][provider].api == "anthropic"


def upstream_headers(request: web.Request) -> dict[str, str]:
    headers = {"anthropic-version": request.headers.get("anthropic-version", API_VERSION)}
    for name in FORWARDED_HEADERS:
        if name in request.headers:
            headers[name] = request.headers[name]
    return headers


async def read_request(request: web.Request) -> tuple[Any, dict[str, Any], str, str]:
    key = request.headers.get("x-api-key")
    policy = await authenticate(request, key.strip() if key else None)
    body = parse_json_object(await request.read())
    provider, model = split_model(request, body.get("model"))
    return policy, body, provider, model


@provider_errors(error_object)
async def messages(request: web.Request) -> web.StreamResponse:
    policy, body, provider, model = await read_request(request)
    stream = body.get("stream") is True
    settings = request.app[SETTINGS]
    if speaks_messages(request, provider):
        if "max_tokens" not in body:
            raise errors.InvalidRequest("max_tokens: Field required", param="max_tokens")
        max_tokens = output_bound(body["max_tokens"], settings, "max_tokens")
        forwarded = {**body, "model": model}
        call = await admit_forwarded(
            request, policy, provider, model, "/v1/messages", forwarded,
            stream=stream, max_tokens=max_tokens, headers=upstream_headers(request),
        )  # fmt: skip
        return await serve(request, call, failure_frames)
    chat = parse_messages_request(
        body, provider=provider, model=model, max_tokens_limit=settings.max_tokens_limit,
        http_hosts=settings.image_fetch_allow_hosts,
    )  # fmt: skip
    call = await admit(request, policy, chat, stream=stream)
    message_id, shown_model = make_message_id(call.client.request_id), body["model"]
    if stream:
        return await stream_call(request, call, MessagesStream(message_id=message_id,
                                                               model=shown_model))  # fmt: skip
    text, result = await collect(call)
    return json_response(message_json(message_id=message_id, model=shown_model, text=text,
                                      result=result))  # fmt: skip


@provider_errors(error_object)
async def count_tokens(request: web.Request) -> web.Response:
    """Never billed; authenticated, and counted against the rate limits (a free admission)."""
    policy, body, provider, model = await read_request(request)
    settings = request.app[SETTINGS]
    sizing = sizing_request(provider, model, body, settings.default_max_tokens)
    await request.app[GATE].admit_free(policy, sizing, client_of(request))
    if speaks_messages(request, provider):
        status, raw = await request.app[PROVIDERS][provider].post_json(
            "/v1/messages/count_tokens", {**body, "model": model}, upstream_headers(request)
        )
        return web.Response(status=status, body=raw, content_type="application/json")
    chat = parse_messages_request(
        {**body, "max_tokens": body.get("max_tokens", 1)}, provider=provider, model=model,
        max_tokens_limit=settings.max_tokens_limit, http_hosts=settings.image_fetch_allow_hosts,
    )  # fmt: skip
    return json_response({"input_tokens": input_estimate(chat)})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/anthropic/v1/messages", messages)
    app.router.add_post("/anthropic/v1/messages/count_tokens", count_tokens)
