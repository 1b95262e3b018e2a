"""The OpenAI Responses API through the gateway: POST /v1/responses, stream and non-stream,
for providers speaking OpenAI's wire format. The request goes to the provider as it came
(stateful use — `previous_response_id`, `store` — included), its answer back as it came; usage
from `response.completed` (or `response.incomplete` / `response.failed`). Errors keep OpenAI's
shape (the gateway's own)."""

from __future__ import annotations

from aiohttp import web

from core import errors
from proxy.routes.chat_request import check_provider, parse_json_object, parse_model
from proxy.routes.client import admit_forwarded
from proxy.routes.client_auth import authenticate
from proxy.routes.passthrough import output_bound, provider_errors, serve
from proxy.routes.sse import Frame, dumps
from proxy.state import PROVIDERS, SETTINGS


def failure_frames(error: errors.GatewayError) -> list[Frame]:
    """OpenAI's mid-stream `error` event; its SDK raises APIError."""
    body = {"type": "error", "code": error.error_type, "message": error.message, "param": None}
    return [("error", dumps(body))]


@provider_errors(lambda error: error.body())  # OpenAI's shape is the gateway's own
async def responses(request: web.Request) -> web.StreamResponse:
    policy = await authenticate(request)
    body = parse_json_object(await request.read())
    name = parse_model(body.get("model"))
    prefix, slash, rest = name.partition("/")
    provider, model = (prefix, rest) if slash else ("openai", name)
    check_provider(provider, request.app[PROVIDERS])
    if request.app[PROVIDERS][provider].api != "openai":
        raise errors.InvalidRequest(
            "The Responses API is served for providers speaking OpenAI's wire format only; use"
            f" /v1/chat/completions or the provider's own route for {provider}.",
            param="model",
        )
    bound = output_bound(body.get("max_output_tokens"), request.app[SETTINGS], "max_output_tokens")
    forwarded = {**body, "model": model, "max_output_tokens": bound}
    stream = body.get("stream") is True
    call = await admit_forwarded(request, policy, provider, model, "/responses", forwarded,
                                 stream=stream, max_tokens=bound)  # fmt: skip
    return await serve(request, call, failure_frames)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/responses", responses)
