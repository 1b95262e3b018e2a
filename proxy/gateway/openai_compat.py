"""OpenAI-compatible routes: POST /v1/chat/completions and GET /v1/models.

Only the translation lives here — the request in, OpenAI's shapes out. Authentication, limits,
the upstream call and billing are the same code path as the native routes (proxy.gateway.calls).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from proxy import errors
from proxy.gateway.auth import authenticate
from proxy.gateway.calls import Call, admit, run_complete
from proxy.gateway.sse_out import Event, dumps, stream_events
from proxy.gateway.validation import (
    check_provider,
    parse_json_object,
    parse_max_tokens,
    parse_messages,
    parse_model,
    parse_temperature,
)
from proxy.middleware import REQUEST_ID, json_response
from proxy.providers.base import ChatRequest
from proxy.state import PRICE_BOOK, PROVIDERS, SETTINGS

APPLIED_FIELDS = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "stop",
        "stream",
        "stream_options",
        "n",
    }
)
# Accepted and ignored: they change nothing about the answer or its price.
IGNORED_FIELDS = frozenset({"user", "metadata", "store", "service_tier"})
ROLE_ALIASES = {"developer": "system"}  # newer OpenAI clients send developer for system
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}


def split_model(request: web.Request, value: object) -> tuple[str, str]:
    """`anthropic/claude-haiku-4-5` names its provider; an unprefixed name must be priced."""
    name = parse_model(value)
    enabled = request.app[PROVIDERS]
    prefix, slash, rest = name.partition("/")
    if slash and prefix in enabled:
        return prefix, parse_model(rest)
    if slash and prefix in ("openai", "anthropic", "gemini", "demo"):
        check_provider(prefix, enabled)  # known but not configured here: a clear 400
    providers = [p for p in request.app[PRICE_BOOK].table.providers_for(name) if p in enabled]
    if not providers:
        raise errors.ModelNotPriced(
            f"No price is known for model {name!r}; name its provider, e.g. 'openai/{name}'."
        )
    if len(providers) > 1:
        raise errors.InvalidRequest(
            f"Model {name!r} is offered by several providers ({', '.join(providers)});"
            f" prefix it, e.g. '{providers[0]}/{name}'."
        )
    return providers[0], name


def parse_stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > 4
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise errors.InvalidRequest("stop must be a string or a list of up to 4 strings.")
    return tuple(stops)


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
    messages = body.get("messages")
    if isinstance(messages, list):
        messages = [
            {**m, "role": ROLE_ALIASES.get(m["role"], m["role"])}
            if isinstance(m, dict) and isinstance(m.get("role"), str)
            else m
            for m in messages
        ]
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    field = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    stream = body.get("stream", False)
    options = body.get("stream_options") or {}
    if not isinstance(stream, bool) or not isinstance(options, dict):
        raise errors.InvalidRequest("stream must be true or false; stream_options an object.")
    chat = ChatRequest(
        provider=provider,
        model=model,
        messages=parse_messages(messages),
        max_tokens=parse_max_tokens(max_tokens, request.app[SETTINGS], field),
        temperature=parse_temperature(body.get("temperature"), provider),
        stop=parse_stop(body.get("stop")),
    )
    return chat, stream, bool(options.get("include_usage"))


def finish_reason(call: Call) -> str:
    raw = call.finish.finish_reason if call.finish else None
    if raw in ("stop", "length", "content_filter", "tool_calls"):
        return raw
    return FINISH_REASONS.get(raw or "", "stop")


def usage_json(call: Call) -> dict[str, Any]:
    billed = call.billed
    return {
        "prompt_tokens": billed.total_input_tokens,
        "completion_tokens": billed.output_tokens,
        "total_tokens": billed.total_input_tokens + billed.output_tokens,
        "prompt_tokens_details": {"cached_tokens": billed.cached_input_tokens},
    }


def gateway_json(call: Call) -> dict[str, Any]:
    """Our additions, under one key OpenAI's clients ignore: the exact cost and the month."""
    assert call.settled is not None
    return {"usage": call.usage_json(), "month": call.settled.to_json()}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    policy = await authenticate(request)
    chat, stream, include_usage = parse_request(request, await request.read())
    call = await admit(request, policy, chat)
    ident = f"chatcmpl-{request[REQUEST_ID]}"
    created = int(time.time())
    model = f"{chat.provider}/{chat.model}" if chat.provider != "openai" else chat.model
    if not stream:
        await run_complete(call)
        message = {"role": "assistant", "content": call.text, "refusal": None}
        return json_response(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason(call),
                    }
                ],
                "usage": usage_json(call),
                "system_fingerprint": None,
                "kaixu": gateway_json(call),
            }
        )

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> Event:
        body = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": choices,
            **extra,
        }
        if include_usage:
            body.setdefault("usage", None)  # as OpenAI: null on every chunk but the last
        return (None, dumps(body))

    def delta(content: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}]

    def opening() -> list[Event]:
        return [chunk(delta({"role": "assistant", "content": ""}))]

    def closing(error: errors.GatewayError | None) -> list[Event]:
        if error is not None:  # what OpenAI sends mid-stream; its SDK raises APIError on it
            body = {
                "message": error.message,
                "type": "upstream_error",
                "code": "upstream_error",
                "param": None,
                "kaixu": gateway_json(call),
            }
            return [(None, dumps({"error": body}))]
        events = [chunk(delta({}, finish_reason(call)))]
        if include_usage:
            events.append(chunk([], usage=usage_json(call), kaixu=gateway_json(call)))
        return [*events, (None, "[DONE]")]

    return await stream_events(
        request, call, opening, lambda text: chunk(delta({"content": text})), closing
    )


async def list_models(request: web.Request) -> web.Response:
    """The priced models this key may use, as `provider/model` ids (they work as `model`)."""
    policy = await authenticate(request)
    enabled = request.app[PROVIDERS]
    models = [
        {"id": f"{p.provider}/{p.model}", "object": "model", "created": 0, "owned_by": p.provider}
        for p in request.app[PRICE_BOOK].table.models()
        if p.provider in enabled
        and policy.allows_provider(p.provider)
        and policy.allows_model(p.model)
    ]
    return json_response({"object": "list", "data": sorted(models, key=lambda m: m["id"])})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", list_models)
