"""JSON responses, and errors rendered in the contract's shape."""

from __future__ import annotations

import orjson
from aiohttp import web

from core import errors


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def error_response(error: errors.GatewayError, request_id: str) -> web.Response:
    headers = {**error.headers(), "X-Request-Id": request_id}
    return json_response(error.body(), status=error.status, headers=headers)
