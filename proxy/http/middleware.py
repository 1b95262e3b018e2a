"""Middlewares: request id, one log line and metrics per request, and error rendering."""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from core import errors
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.http.responses import error_response
from proxy.state import METRICS, REQUEST_ID

log = logging.getLogger("kaixu.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._:-]{1,128}")

# aiohttp raises its own HTTP exceptions (unknown path, wrong method, body over the limit);
# they are answered in the contract's shape like our own errors.
_HTTP_STATUS_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def _from_http_exception(exc: web.HTTPException) -> errors.GatewayError:
    error_type = _HTTP_STATUS_TYPES.get(exc.status, "http_error")
    message = {
        "not_found": "No such path.",
        "method_not_allowed": "This method is not allowed on this path.",
        "payload_too_large": "The request body is larger than the configured limit.",
    }.get(error_type, exc.reason)
    error = errors.GatewayError(message, type=error_type)
    error.status = exc.status  # type: ignore[misc]  # instance attribute shadows the ClassVar
    return error


def _route_name(request: web.Request) -> str:
    """The route template (bounded label cardinality), or 'unmatched' for unknown paths."""
    route = request.match_info.route
    resource = route.resource
    if resource is None or request.match_info.http_exception is not None:
        return "unmatched"
    return resource.canonical


def _request_id(request: web.Request) -> str:
    incoming = request.headers.get("X-Request-Id", "")
    if _REQUEST_ID_OK.fullmatch(incoming):
        return incoming
    return os.urandom(12).hex()


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: gives each request an id, renders every error, logs one line, counts it."""
    started = time.perf_counter()
    request_id = _request_id(request)
    request[REQUEST_ID] = request_id
    status = 500
    try:
        response = await _render_errors(request, handler, request_id)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
        return response
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        request.app[METRICS].observe(route, request.method, status, elapsed)
        if log.isEnabledFor(logging.INFO):  # its fields are not even gathered otherwise
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": request.method,
                    "route": route,
                    "path": request.path,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )


async def _render_errors(
    request: web.Request, handler: Handler, request_id: str
) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.GatewayError as exc:
        errors.forget_tracebacks(exc)  # answered: nothing reads them now
        return error_response(exc, request_id)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects pass through as plain responses
            return web.Response(status=exc.status, headers=exc.headers)
        return error_response(_from_http_exception(exc), request_id)
    except DB_UNAVAILABLE_ERRORS:
        log.warning("database unavailable", extra={"request_id": request_id}, exc_info=True)
        return error_response(
            errors.Unavailable("The database is unreachable; try again shortly."), request_id
        )
    except Exception:
        log.exception("unhandled error", extra={"request_id": request_id})
        return error_response(
            errors.InternalError(f"Internal error; quote request id {request_id} to the operator."),
            request_id,
        )
