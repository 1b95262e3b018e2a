"""The connection handler: requests aiohttp cannot parse get the contract's JSON 400, and no log
line ever carries their bytes.

aiohttp's own handler logs an unparsable request with the offending line (a client key or the
admin password in a broken Authorization header) and echoes it in a text/plain answer. Here
both the answer and the log line name only the status and the parser's exception class.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

log = logging.getLogger("kaixu.http")

# What the few statuses aiohttp answers by itself mean in the contract.
_ERRORS = {
    400: ("invalid_request", "The request is not valid HTTP."),
    408: ("request_timeout", "The request did not arrive in time."),
    413: ("payload_too_large", "The request is larger than the configured limit."),
    431: ("invalid_request", "The request's headers are too large."),
    504: ("request_timeout", "The request took too long to handle."),
}
_INTERNAL = ("internal_error", "Internal error.")


def error_body(status: int) -> bytes:
    error_type, message = _ERRORS.get(status, _INTERNAL if status >= 500 else _ERRORS[400])
    error = {"type": error_type, "message": message, "code": error_type, "param": None}
    return orjson.dumps({"error": error})


class ScrubbingRequestHandler(RequestHandler):
    """aiohttp's RequestHandler with error answers and log lines that quote nothing received."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,  # aiohttp's text, which may quote the raw request: unused
    ) -> web.StreamResponse:
        log.warning(
            "unparsable request" if status < 500 else "request failed outside the app",
            extra={"status": status, "error": type(exc).__name__ if exc else None},
        )
        if request.writer.output_size > 0:  # as aiohttp's: an answer is already under way
            raise ConnectionError("Response is sent already, cannot send an error response")
        response = web.Response(
            status=status, body=error_body(status), content_type="application/json"
        )
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # aiohttp passes the exception, whose text may quote the raw request: name its class only.
        exc = kw.get("exc_info")
        what = args[0] if args and isinstance(args[0], str) else "connection error"
        log.error(what.replace(" from %s", ""), extra={"error": type(exc).__name__})


class ScrubbingServer(web.Server):
    """A web.Server whose connections are ScrubbingRequestHandlers."""

    def __call__(self) -> RequestHandler:
        # web.Server.__call__ builds a RequestHandler with these same (its own) arguments.
        return ScrubbingRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """web.AppRunner serving the app through a ScrubbingServer."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app; its Server is only a template
        return ScrubbingServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=plain._loop,
            **plain._kwargs,
        )
