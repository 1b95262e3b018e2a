"""OpenAI-compatible routes: POST /v1/chat/completions and GET /v1/models.

Only the translation lives here — the request in, OpenAI's shapes out. Authentication, limits,
the upstream call and billing are the same code path as the native routes (proxy.ledger).
"""

from __future__ import annotations

from aiohttp import web

from core import errors
from core.chat import ChatRequest
from proxy.http.responses import json_response
from proxy.routes import chat_fields
from proxy.routes.answers import collect
from proxy.routes.chat_request import (
    named_provider,
    parse_json_object,
    parse_max_tokens,
    parse_model,
    parse_temperature,
)
from proxy.routes.client import admit
from proxy.routes.client_auth import authenticate
from proxy.routes.openai_format import ChunkStream, Completion
from proxy.routes.sse import stream_call
from proxy.state import PRICE_BOOK, PROVIDERS, SETTINGS

APPLIED_FIELDS = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "stop",
        "stream", "stream_options", "n", "top_p", "seed", "reasoning_effort", "tools",
        "tool_choice", "parallel_tool_calls", "response_format",
    }
)  # fmt: skip
# Accepted and ignored: they change nothing about the answer or its price.
IGNORED_FIELDS = frozenset({"user", "metadata", "store", "service_tier"})


def split_model(request: web.Request, value: object) -> tuple[str, str]:
    """`anthropic/claude-haiku-4-5` names its provider; an unprefixed name must be priced."""
    name = parse_model(value)
    enabled = request.app[PROVIDERS]
    named = named_provider(name, enabled)
    if named is not None:
        return named
    table = request.app[PRICE_BOOK].table
    providers = [p for p in table.providers_for(name) if p in enabled and enabled[p].serves(name)]
    if not providers:
        raise errors.ModelNotPriced(
            f"No price is known for model {name!r}; name its provider, e.g. 'openai/{name}'."
            " The gateway's operator adds prices in the admin dashboard's Pricing panel."
        )
    if len(providers) > 1:
        raise errors.InvalidRequest(
            f"Model {name!r} is offered by several providers ({', '.join(providers)});"
            f" prefix it, e.g. '{providers[0]}/{name}'."
        )
    return providers[0], name


def parse_request(request: web.Request, raw: bytes) -> tuple[ChatRequest, bool, bool]:
    """The normalized request, whether to stream, and whether to send the usage chunk."""
    body = parse_json_object(raw)
    unsupported = sorted(set(body) - APPLIED_FIELDS - IGNORED_FIELDS)
    if unsupported:
        raise errors.InvalidRequest(
            "Not supported by this gateway: " + ", ".join(unsupported) + ".",
            param=unsupported[0],
        )
    if body.get("n", 1) != 1:
        raise errors.InvalidRequest("Only n=1 is supported.", param="n")
    provider, model = split_model(request, body.get("model"))
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    field = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    stream = body.get("stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise errors.InvalidRequest("stream must be true or false; stream_options an object.")
    chat = ChatRequest(
        provider=provider,
        model=model,
        messages=chat_fields.parse_messages(
            body.get("messages"), "openai", request.app[SETTINGS].image_fetch_allow_hosts
        ),
        max_tokens=parse_max_tokens(max_tokens, request.app[SETTINGS], field),
        temperature=parse_temperature(
            body.get("temperature"), provider, request.app[PROVIDERS][provider].api
        ),
        stop=chat_fields.parse_stop(body.get("stop")),
        **chat_fields.extras(body, "openai"),
    )
    return chat, stream, bool(options.get("include_usage"))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    policy = await authenticate(request)
    chat, stream, include_usage = parse_request(request, await request.read())
    call = await admit(request, policy, chat, stream=stream)
    completion = Completion(chat, call.client.request_id)
    if stream:
        return await stream_call(request, call, ChunkStream(completion, include_usage))
    text, result = await collect(call)
    return json_response(completion.answer(text, result))


async def list_models(request: web.Request) -> web.Response:
    """The priced models this key may use, as `provider/model` ids (they work as `model`)."""
    policy = await authenticate(request)
    enabled = request.app[PROVIDERS]
    models = [
        {"id": f"{p.provider}/{p.model}", "object": "model", "created": 0, "owned_by": p.provider}
        for p in request.app[PRICE_BOOK].table.models()
        if p.provider in enabled
        and enabled[p.provider].serves(p.model)
        and policy.allows_provider(p.provider)
        and policy.allows_model(p.model)
    ]
    return json_response({"object": "list", "data": sorted(models, key=lambda m: m["id"])})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", list_models)
