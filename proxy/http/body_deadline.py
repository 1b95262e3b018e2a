"""The client's request body must arrive within BODY_READ_TIMEOUT_S: a body that stalls is
answered 408 and its connection closed, so a slow upload cannot hold a connection for long."""

from __future__ import annotations

import asyncio

from aiohttp import StreamReader, web

from core import errors
from proxy.http.middleware import Handler
from proxy.http.responses import error_response
from proxy.state import REQUEST_ID, SETTINGS


def _expire(body: StreamReader, error: errors.RequestTimeout) -> None:
    # Whoever is reading the body (any route, the admin API, the Stripe webhook) gets the
    # error; a body that has fully arrived, read or not, is left alone.
    if not body.is_eof():
        body.set_exception(error)


async def _answer_and_close(request: web.Request, error: errors.RequestTimeout) -> web.Response:
    response = error_response(error, request[REQUEST_ID])
    response.force_close()  # Connection: close
    await response.prepare(request)
    await response.write_eof()
    # Close now (the answer is flushed first), not after aiohttp's lingering read of the body.
    request.protocol.force_close()
    return response


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Inside `observe`: the 408 is logged and counted like any answer. The clock starts when
    the headers have arrived; the handler itself may take as long as it needs."""
    body = request.content
    if not request.body_exists or body.is_eof():
        return await handler(request)
    timeout_s = request.app[SETTINGS].body_read_timeout_s
    expired = errors.RequestTimeout(f"The request body did not arrive within {timeout_s:g} s.")
    timer = asyncio.get_running_loop().call_later(timeout_s, _expire, body, expired)
    try:
        return await handler(request)
    except errors.RequestTimeout as exc:
        if exc is not expired:
            raise
        return await _answer_and_close(request, exc)
    finally:
        timer.cancel()
