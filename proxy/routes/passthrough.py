"""What the provider-native routes share: a call whose answer is the provider's own, passed
through as it came (RawEvents), streamed or whole; the provider's refusal of the client's own
request passed on too; `max_tokens` bounded so the reservation is an upper bound."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

from aiohttp import web

from core import errors
from core.events import CallEvent, Failed, Finished, RawEvent
from core.settings import Settings
from proxy.http.responses import json_response
from proxy.ledger.call import Call
from proxy.routes.sse import Frame, stream_call

# The provider's own refusals of the client's request, answered as they came.
CLIENT_FAULTS = (400, 404, 413, 422)

ErrorFrames = Callable[[errors.GatewayError], list[Frame]]
ErrorBody = Callable[[errors.GatewayError], dict[str, Any]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RawStream:
    """The provider's SSE events as they came; a failure in the provider's own error event."""

    def __init__(self, failed: ErrorFrames) -> None:
        self.failed = failed

    def frames(self, event: CallEvent) -> list[Frame]:
        if isinstance(event, RawEvent):
            return [(event.event, event.data)]
        if isinstance(event, Failed):
            if getattr(event.error, "passed_through", False):
                return []  # the provider's own error event went out already
            return self.failed(event.error)
        return []


async def answer_raw(call: Call) -> web.Response:
    """A non-stream call's answer: the provider's JSON as it came."""
    raw = ""
    async with aclosing(call.events()) as events:
        async for event in events:
            if isinstance(event, RawEvent):
                raw = event.data
            elif isinstance(event, Failed):
                raise event.error
            elif isinstance(event, Finished):
                return web.Response(text=raw, content_type="application/json")
    raise AssertionError("a call's events end with Finished or Failed")


async def serve(request: web.Request, call: Call, failed: ErrorFrames) -> web.StreamResponse:
    if call.prepared.stream:
        return await stream_call(request, call, RawStream(failed))
    return await answer_raw(call)


def provider_errors(body: ErrorBody) -> Callable[[Handler], Handler]:
    """Every error of a route in its provider's own shape (status and Retry-After kept), and
    the provider's refusal of the client's own request passed on as it came."""

    def decorate(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except errors.GatewayError as error:
                forwarded = passed_on(error)
                if forwarded is not None:
                    return forwarded
                return json_response(body(error), status=error.status, headers=error.headers())

        return wrapped

    return decorate


def passed_on(error: errors.GatewayError) -> web.Response | None:
    """The provider's refusal of the client's own request (a 400 for a field it rejects),
    as the provider sent it; None for anything else."""
    if isinstance(error, errors.UpstreamError) and error.upstream_status in CLIENT_FAULTS:
        return web.Response(status=error.upstream_status, text=error.upstream_body or "",
                            content_type="application/json")  # fmt: skip
    return None


def output_bound(value: object, settings: Settings, field: str) -> int:
    """A native request's maximum output: the client's, bounded, or the server default (which
    is then sent upstream: the reservation is always an upper bound)."""
    if value is None:
        return settings.default_max_tokens
    if isinstance(value, bool) or not isinstance(value, int):
        raise errors.InvalidRequest(f"{field} must be a whole number.", param=field)
    if not 1 <= value <= settings.max_tokens_limit:
        raise errors.InvalidRequest(
            f"{field} must be between 1 and {settings.max_tokens_limit}.", param=field
        )
    return value
