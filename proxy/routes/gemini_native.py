"""The Gemini API through the gateway: POST /gemini/v1beta/models/{model}:generateContent and
:streamGenerateContent (`alt=sse`), for the `google-genai` SDK with its base URL set to
`<gateway>/gemini`. The request goes to Gemini as it came, its answer back as it came; usage
is read from `usageMetadata` (cumulative: the last wins). Errors are Gemini's."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from core import errors
from proxy.routes.chat_request import parse_json_object, parse_model
from proxy.routes.client import admit_forwarded
from proxy.routes.client_auth import authenticate
from proxy.routes.passthrough import output_bound, provider_errors, serve
from proxy.routes.sse import Frame, dumps
from proxy.state import PROVIDERS, SETTINGS

METHODS = {"generateContent": False, "streamGenerateContent": True}  # -> streams
STATUSES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED", 404: "NOT_FOUND", 408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 502: "UNAVAILABLE",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}  # fmt: skip


def error_body(error: errors.GatewayError) -> dict[str, Any]:
    return {"error": {"code": error.status, "message": error.message,
                      "status": STATUSES.get(error.status, "INTERNAL")}}  # fmt: skip


def failure_frames(error: errors.GatewayError) -> list[Frame]:
    return [(None, dumps(error_body(error)))]


def with_output_bound(body: dict[str, Any], request: web.Request) -> tuple[dict[str, Any], int]:
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise errors.InvalidRequest("generationConfig must be an object.", param="generationConfig")
    field = "generationConfig.maxOutputTokens"
    bound = output_bound(config.get("maxOutputTokens"), request.app[SETTINGS], field)
    return {**body, "generationConfig": {**config, "maxOutputTokens": bound}}, bound


@provider_errors(error_body)
async def generate(request: web.Request) -> web.StreamResponse:
    model, _, method = request.match_info["target"].rpartition(":")
    if method not in METHODS:
        raise errors.NotFound(f"No such method {method!r}: generateContent or "
                              "streamGenerateContent.")  # fmt: skip
    model = parse_model(model)
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    policy = await authenticate(request, key.strip() if key else None)
    if "gemini" not in request.app[PROVIDERS]:
        raise errors.InvalidRequest("This gateway does not serve gemini.", param="model")
    body, bound = with_output_bound(parse_json_object(await request.read()), request)
    stream = METHODS[method]
    version = request.match_info["version"]
    path = f"/{version}/models/{quote(model, safe='')}:{method}" + ("?alt=sse" if stream else "")
    call = await admit_forwarded(request, policy, "gemini", model, path, body, stream=stream,
                                 max_tokens=bound)  # fmt: skip
    return await serve(request, call, failure_frames)


def add_routes(app: web.Application) -> None:
    # google-genai 3.x speaks v1 by default; v1beta is the documented one: both go through.
    app.router.add_post("/gemini/{version:v1|v1beta}/models/{target}", generate)
