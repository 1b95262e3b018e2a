"""Admin routes declared with their OpenAPI operation, where the handler is defined.

`routes = Api()` in a module, then `@routes.post(path, summary=..., body=..., ok=..., status=201,
errors=(409,))` on the handler: the route is registered with aiohttp and its operation (request
body, answer, error statuses, query parameters, role) is what openapi.py documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from proxy.admin.fields import STR, Resource, Schema, strict_object
from proxy.http.middleware import Handler

# The least role that may call a route (proxy/admin/roles.py enforces it). The default is the
# most trusted role, so a route nobody thought about stays closed.
Role = Literal["owner", "operator", "viewer"]

# Every admin route may answer these: a bad value, no sign-in, an unknown id in the path, and
# (the password being checked on every route) too many wrong passwords from the address.
COMMON_ERRORS = (400, 401, 404, 429)
BODY_ERRORS = (408, 413)  # also on every route that reads a body: it stalled, or is too big
ERROR_DESCRIPTIONS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden: the caller's role is below the route's (x-kaixu-role)",
    404: "not_found",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    429: "rate_limited",
    502: "upstream_error",
}
ERROR: Schema = {"$ref": "#/components/schemas/Error"}
# A JSON answer: a resource, or an object of exactly these properties.
Answer = Resource | Mapping[str, Schema | Resource]


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented route: what it takes and what it answers."""

    method: str
    path: str  # as registered, regex included (r"/invoices/{iid:\d+}")
    summary: str
    ok: Answer | None = None
    status: int = 200
    body: Schema | None = None
    query: Mapping[str, Schema] = field(default_factory=dict)
    csv: bool = False  # the answer is a CSV download, not JSON
    errors: tuple[int, ...] = ()  # error statuses beyond COMMON_ERRORS
    role: Role = "owner"

    @property
    def documented_path(self) -> str:
        """The path as OpenAPI writes it: {name}, without aiohttp's regex."""
        return re.sub(r"{(\w+):[^}]*}", r"{\1}", self.path)

    def answer_schema(self) -> Schema:
        if self.csv:
            return STR
        if self.ok is None:
            return {"type": "object"}
        if isinstance(self.ok, Resource):
            return self.ok.ref
        return strict_object(self.ok)

    def document(self) -> Schema:
        """The OpenAPI operation object."""
        media = "text/csv" if self.csv else "application/json"
        answer: Schema = {"description": self.summary}
        if self.status != 204:  # No Content: no body to describe
            answer["content"] = {media: {"schema": self.answer_schema()}}
        responses: Schema = {str(self.status): answer}
        body_errors = BODY_ERRORS if self.body is not None else ()
        forbidden = (403,) if self.role != "viewer" else ()
        for code in (*COMMON_ERRORS, *forbidden, *body_errors, *self.errors):
            responses[str(code)] = {
                "description": ERROR_DESCRIPTIONS.get(code, "see the error type"),
                "content": {"application/json": {"schema": ERROR}},
            }
        operation: Schema = {
            "summary": self.summary,
            "responses": responses,
            "x-kaixu-role": self.role,
        }
        if self.body is not None:
            content = {"application/json": {"schema": self.body}}
            operation["requestBody"] = {"required": True, "content": content}
        if self.query:
            operation["parameters"] = [
                {"name": name, "in": "query", "required": False, "schema": schema}
                for name, schema in self.query.items()
            ]
        return operation


class Api:
    """A module's admin routes and their operations; `app.add_routes(api)` registers them."""

    def __init__(self) -> None:
        self._table = web.RouteTableDef()
        self.operations: list[Operation] = []
        self.roles: dict[Handler, Role] = {}  # the auth middleware's lookup

    def __iter__(self) -> Iterator[web.AbstractRouteDef]:
        return iter(self._table)

    def route(
        self, method: str, path: str, *, name: str | None = None, **operation: Any
    ) -> Callable[[Handler], Handler]:
        declared = Operation(method.lower(), path, **operation)

        def register(handler: Handler) -> Handler:
            self.operations.append(declared)
            self.roles[handler] = declared.role
            kwargs = {"name": name} if name else {}
            return self._table.route(method, path, **kwargs)(handler)

        return register

    def get(self, path: str, **operation: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **operation)

    def post(self, path: str, **operation: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **operation)

    def put(self, path: str, **operation: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **operation)

    def patch(self, path: str, **operation: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **operation)

    def delete(self, path: str, **operation: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **operation)
