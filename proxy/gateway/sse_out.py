"""Server-Sent Events out (aiohttp-sse), shared by every streaming route; routes only say what
each event holds."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from proxy import errors
from proxy.gateway.calls import Call, ClientGone, run_stream

log = logging.getLogger("kaixu.sse")

# (event name or None for a plain `data:` line, data)
Event = tuple[str | None, str]


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


async def stream_events(
    request: web.Request,
    call: Call,
    opening: Callable[[], list[Event]],
    delta: Callable[[str], Event],
    closing: Callable[[errors.GatewayError | None], list[Event]],
) -> web.StreamResponse:
    """Errors before the provider's first event are raised (ordinary JSON responses); after it,
    `closing(error)` ends the stream. A client that goes away ends it silently (billed)."""
    response = EventSourceResponse(sep="\n", allow_all_methods=True)

    async def send(event: Event) -> None:
        name, data = event
        await response.send(data, event=name)

    async def start() -> None:
        await response.prepare(request)
        for event in opening():
            await send(event)

    try:
        error = await run_stream(call, start, lambda text: send(delta(text)))
        for event in closing(error):
            await send(event)
    except (ClientGone, ConnectionResetError):
        return response
    except Exception:
        if not response.prepared:
            raise  # nothing sent yet: an ordinary JSON error response
        # Mid-stream, an error response can no longer be sent: end the stream cleanly (the
        # call is settled, or its failure logged) rather than leaving it open.
        log.exception("stream failed after it started", extra={"request_id": call.request_id})
        failure = {"type": "internal_error", "message": "The gateway failed mid-stream."}
        with contextlib.suppress(Exception):
            await send(("error", dumps({"error": failure})))
    response.stop_streaming()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
