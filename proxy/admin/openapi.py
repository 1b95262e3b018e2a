"""The OpenAPI 3.1 document of the admin API, served at /admin/api/openapi.json.

Generated, never written by hand: the paths from the operations the route modules declare
with their handlers (routing.Api), the schemas from the resources (resources.RESOURCES).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web

from proxy.admin.fields import BOOL, INT, STR, Schema, nullable_schema, strict_object
from proxy.admin.resources import RESOURCES
from proxy.admin.routing import Api, Operation
from proxy.http.responses import json_response

# core.errors.GatewayError.body(); `retry_after_s` only on 429, the stripe_* on a 502 of Stripe,
# `totp_required` on a sign-in's 401 when only the account's authenticator code is missing.
ERROR = strict_object(
    {
        "error": strict_object(
            {
                "type": STR,
                "message": STR,
                "code": STR,
                "param": nullable_schema(STR),
                "retry_after_s": INT,
                "stripe_status": nullable_schema(INT),
                "stripe_code": nullable_schema(STR),
                "totp_required": BOOL,
            },
            optional=("retry_after_s", "stripe_status", "stripe_code", "totp_required"),
        )
    }
)


def _path_item(path: str, operations: list[Operation]) -> Schema:
    """Each {name} in the path is a required string parameter of every operation on it."""
    item: Schema = {op.method: op.document() for op in operations}
    item["parameters"] = [
        {"name": name, "in": "path", "required": True, "schema": STR}
        for name in re.findall(r"{(\w+)}", path)
    ]
    return item


def document(apis: Iterable[Api]) -> Schema:
    by_path: dict[str, list[Operation]] = {}
    for api in apis:
        for operation in api.operations:
            by_path.setdefault(operation.documented_path, []).append(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kaixu Gateway admin API",
            "version": "1",
            "description": "Send `Authorization: Bearer <token>` (from /login) or "
            "`X-Admin-Password`. Money is in US cents with up to 6 decimals.",
        },
        "servers": [{"url": "/admin/api"}],
        "components": {
            "schemas": {"Error": ERROR, **{r.name: r.schema() for r in RESOURCES}},
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "password": {"type": "apiKey", "in": "header", "name": "X-Admin-Password"},
            },
        },
        "security": [{"token": []}, {"password": []}],
        "paths": {path: _path_item(path, ops) for path, ops in by_path.items()},
    }


def serving(apis: Iterable[Api]) -> Api:
    """The route that serves the document of `apis` and of itself."""
    routes = Api()
    own = [*apis, routes]

    @routes.get("/openapi.json", summary="This document", role="viewer")
    async def openapi(request: web.Request) -> web.Response:
        return json_response(served)

    served = document(own)  # once the route above is declared, so it documents itself too
    return routes
