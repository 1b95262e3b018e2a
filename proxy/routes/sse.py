"""Server-Sent Events out (aiohttp-sse): a call's events written as a stream, shared by every
streaming route; a route's format only says which frames each event becomes."""

from __future__ import annotations

import contextlib
import logging
from contextlib import aclosing
from typing import Protocol

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse

from core import errors
from core.events import CallEvent, Failed
from proxy.ledger.call import Call

log = logging.getLogger("kaixu.sse")

# (event name or None for a plain `data:` line, data)
Frame = tuple[str | None, str]
# A failed write means the client is gone (or stalled past the send timeout).
CLIENT_GONE = (ConnectionResetError, TimeoutError)


def dumps(value: object) -> str:
    return orjson.dumps(value).decode()


class StreamFormat(Protocol):
    def frames(self, event: CallEvent) -> list[Frame]: ...


async def stream_call(request: web.Request, call: Call, fmt: StreamFormat) -> web.StreamResponse:
    """Errors before the provider's first event are raised (ordinary JSON responses); after it,
    the format's frames for `Failed` end the stream. A client that goes away ends it silently
    (the call settles itself as aborted)."""
    response = EventSourceResponse(sep="\n", allow_all_methods=True)
    try:
        async with aclosing(call.events()) as events:
            async for event in events:
                if not response.prepared:
                    await response.prepare(request)
                for name, data in fmt.frames(event):
                    await response.send(data, event=name)
    except CLIENT_GONE:
        return response
    except Exception:
        if not response.prepared:
            raise  # nothing sent yet: an ordinary JSON error response
        # Mid-stream, an error response can no longer be sent: end the stream with the
        # format's error event (the call is settled by now, or its failure logged).
        log.exception(
            "stream failed after it started", extra={"request_id": call.client.request_id}
        )
        if call.result is not None:
            failed = Failed(errors.UpstreamError("The gateway failed mid-stream."), call.result)
            with contextlib.suppress(Exception):
                for name, data in fmt.frames(failed):
                    await response.send(data, event=name)
    response.stop_streaming()
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response
