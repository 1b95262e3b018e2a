"""The OpenAPI 3.1 document of the admin API, served at /admin/api/openapi.json.

Hand-written and compact: schemas are shared, and a test checks that every registered admin
route is documented here (and nothing documented is missing from the router).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from proxy.http.responses import json_response

routes = web.RouteTableDef()

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, **properties: Schema) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
NUM: Schema = {"type": "number"}
CENTS: Schema = {"type": "number", "description": "US cents, up to 6 decimals"}
TIME: Schema = {"type": "string", "format": "date-time"}
MONTH: Schema = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


LIST = array(STR)
POLICY = {
    "rpm_limit": nullable(INT),
    "allowed_providers": nullable(array({"enum": ["openai", "anthropic", "gemini", "demo"]})),
    "allowed_models": nullable({**LIST, "description": "a trailing * is a prefix pattern"}),
}
KEY_SETTINGS = {
    "label": STR,
    "cap_cents": nullable(CENTS),
    "max_devices": nullable(INT),
    "require_install": BOOL,
    **POLICY,
}
PRICE = obj(
    ["provider", "model", "input", "output"],
    provider=STR,
    model=STR,
    input=NUM,
    output=NUM,
    cached_input=nullable(NUM),
    cache_write=nullable(NUM),
    long_context_threshold=nullable(INT),
    long_input=nullable(NUM),
    long_output=nullable(NUM),
    long_cached_input=nullable(NUM),
    long_cache_write=nullable(NUM),
    updated_at=TIME,
)

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        ["error"], error=obj(["type", "message"], type=STR, message=STR, code=STR, param=STR)
    ),
    "Customer": obj(
        ["id", "name", "plan", "monthly_cap_cents", "active", "active_keys", "created_at"],
        id=STR,
        name=STR,
        plan=STR,
        monthly_cap_cents=CENTS,
        active=BOOL,
        active_keys=INT,
        extra_cents=CENTS,
        created_at=TIME,
        updated_at=TIME,
        **POLICY,
    ),
    "Key": obj(
        ["id", "kind", "last4", "created_at"],
        id=STR,
        customer_id=STR,
        kind={"enum": ["master", "sub"]},
        last4=STR,
        revoked_at=nullable(TIME),
        created_at=TIME,
        rotated_from=nullable(STR),
        key={**STR, "description": "the plaintext key: only in create/rotate answers, once"},
        **KEY_SETTINGS,
    ),
    "Price": PRICE,
    "UsageEvent": obj(
        id=INT,
        time=TIME,
        key_id=STR,
        install_id=nullable(STR),
        provider=STR,
        model=STR,
        input_tokens=INT,
        cached_input_tokens=INT,
        cache_write_tokens=INT,
        output_tokens=INT,
        cost_cents=CENTS,
        status={"enum": ["ok", "error", "aborted"]},
        cost_source={"enum": ["reported", "estimated", "none"]},
        latency_ms=INT,
        request_id=STR,
    ),
    "Usage": obj(
        [
            "month",
            "cap_cents",
            "extra_cents",
            "spent_cents",
            "input_tokens",
            "output_tokens",
            "events",
        ],
        month=MONTH,
        cap_cents=CENTS,
        extra_cents=CENTS,
        spent_cents=CENTS,
        reserved_cents=CENTS,
        input_tokens=INT,
        output_tokens=INT,
        requests=INT,
        events=array(ref("UsageEvent")),
        next_cursor=nullable(INT),
        by_day=array(obj(day=STR, cost_cents=CENTS, requests=INT)),
        by_model=array(
            obj(
                provider=STR,
                model=STR,
                requests=INT,
                input_tokens=INT,
                output_tokens=INT,
                cost_cents=CENTS,
            )
        ),
    ),
    "Topup": obj(
        id=INT,
        customer_id=STR,
        amount_cents=CENTS,
        source={"enum": ["manual", "stripe"]},
        note=STR,
        actor=STR,
        stripe_session_id=nullable(STR),
        created_at=TIME,
    ),
    "Device": obj(
        id=INT,
        key_id=STR,
        customer_id=STR,
        install_id=STR,
        user_agent=nullable(STR),
        first_seen=TIME,
        last_seen=TIME,
        revoked_at=nullable(TIME),
    ),
    "InvoiceSummary": obj(
        id=INT, customer_id=STR, month=MONTH, version=INT, total_cents=CENTS, created_at=TIME
    ),
    "Invoice": obj(
        ["id", "customer_id", "month", "version", "line_items", "total_cents"],
        id=INT,
        customer_id=STR,
        customer=obj(id=STR, name=STR, plan=STR),
        month=MONTH,
        version=INT,
        created_at=TIME,
        cap_cents=CENTS,
        line_items=array(
            obj(
                provider=STR,
                model=STR,
                requests=INT,
                input_tokens=INT,
                cached_input_tokens=INT,
                cache_write_tokens=INT,
                output_tokens=INT,
                cost_cents=CENTS,
            )
        ),
        usage_total_cents=CENTS,
        credit_used_cents=CENTS,
        credit_added_cents=CENTS,
        topups=array(obj(id=INT, created_at=TIME, amount_cents=CENTS, source=STR, note=STR)),
        extra_cents=CENTS,
        total_cents=CENTS,
        counters_spent_cents=CENTS,
    ),
    "AuditEntry": obj(
        id=INT,
        at=TIME,
        actor=STR,
        address=nullable(STR),
        action=STR,
        customer_id=nullable(STR),
        target=nullable(STR),
        before=nullable(obj()),
        after=nullable(obj()),
    ),
}

ERRORS = {"400": "invalid_request", "401": "unauthorized", "404": "not_found"}


def op(
    summary: str,
    ok: Schema | None = None,
    *,
    status: str = "200",
    body: Schema | None = None,
    query: dict[str, Schema] | None = None,
    csv: bool = False,
    errors: tuple[str, ...] = (),
) -> Schema:
    """One operation: its answer, request body, query parameters and extra error statuses."""
    media = "text/csv" if csv else "application/json"
    content = {media: {"schema": STR if csv else (ok or obj())}}
    responses: Schema = {status: {"description": summary, "content": content}}
    for code in ("400", "401", "404", *errors):
        responses[code] = {
            "description": ERRORS.get(code, "see the error type"),
            "content": {"application/json": {"schema": ref("Error")}},
        }
    operation: Schema = {"summary": summary, "responses": responses}
    if body is not None:
        json_body = {"application/json": {"schema": body}}
        operation["requestBody"] = {"required": True, "content": json_body}
    if query:
        operation["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in query.items()
        ]
    return operation


PATHS: dict[str, dict[str, Schema]] = {
    "/login": {
        "post": op(
            "Sign in: a session token",
            obj(token=STR, expires_at=TIME),
            body=obj(["password"], password=STR),
            errors=("429",),
        )
    },
    "/openapi.json": {"get": op("This document")},
    "/customers": {
        "get": op("List customers", obj(customers=array(ref("Customer")))),
        "post": op(
            "Create a customer and its master key (shown once)",
            obj(customer=ref("Customer"), key=ref("Key")),
            status="201",
            body=obj(id=STR, name=STR, plan=STR, monthly_cap_cents=CENTS, **POLICY),
            errors=("409",),
        ),
    },
    "/customers/{cid}": {
        "get": op("Read a customer", obj(customer=ref("Customer"))),
        "patch": op(
            "Change a customer's policy",
            obj(customer=ref("Customer")),
            body=obj(name=STR, plan=STR, monthly_cap_cents=CENTS, active=BOOL, **POLICY),
        ),
    },
    "/customers/{cid}/keys": {
        "get": op("List a customer's keys", obj(keys=array(ref("Key")))),
        "post": op(
            "Create a sub-key (shown once)",
            obj(key=ref("Key")),
            status="201",
            body=obj(**KEY_SETTINGS),
        ),
    },
    "/keys/{kid}": {
        "get": op("Read a key", obj(key=ref("Key"))),
        "patch": op(
            "Change a key's overrides",
            obj(key=ref("Key")),
            body=obj(**KEY_SETTINGS),
            errors=("409",),
        ),
    },
    "/keys/{kid}/rotate": {
        "post": op(
            "New key with the same settings; the old one is revoked",
            obj(key=ref("Key"), revoked_key_id=STR),
            status="201",
            errors=("409",),
        )
    },
    "/keys/{kid}/revoke": {
        "post": op("Revoke a key at once, on every process", obj(key=ref("Key")))
    },
    "/customers/{cid}/usage": {
        "get": op(
            "A month's usage",
            ref("Usage"),
            query={"month": MONTH, "key_id": STR, "limit": INT, "cursor": INT},
        )
    },
    "/customers/{cid}/topups": {
        "get": op("Credit history (manual and Stripe)", obj(topups=array(ref("Topup")))),
        "post": op(
            "Add credit by hand",
            obj(topup=ref("Topup"), extra_cents=CENTS),
            status="201",
            body=obj(["amount_cents"], amount_cents=CENTS, note=STR),
        ),
    },
    "/customers/{cid}/checkout": {
        "post": op(
            "A Stripe Checkout Session for a top-up",
            obj(url=STR, session_id=STR),
            body=obj(["amount_cents"], amount_cents=INT),
            errors=("409", "502"),
        )
    },
    "/customers/{cid}/devices": {
        "get": op("Devices seen per key", obj(devices=array(ref("Device"))), query={"key_id": STR})
    },
    "/devices/{did}/revoke": {
        "post": op("Block an install id on its key (frees its seat)", obj(device=ref("Device")))
    },
    "/customers/{cid}/invoices": {
        "get": op("Invoice snapshots", obj(invoices=array(ref("InvoiceSummary")))),
        "post": op(
            "Freeze an invoice snapshot of a month",
            obj(invoice=ref("Invoice")),
            status="201",
            body=obj(["month"], month=MONTH),
        ),
    },
    "/invoices/{iid}": {"get": op("An invoice snapshot", obj(invoice=ref("Invoice")))},
    "/invoices/{iid}.csv": {"get": op("An invoice snapshot as CSV", csv=True)},
    "/exports/usage.csv": {
        "get": op(
            "Usage rows as CSV (streamed)", csv=True, query={"customer_id": STR, "month": MONTH}
        )
    },
    "/exports/customers.csv": {"get": op("Customers as CSV", csv=True)},
    "/exports/invoices.csv": {
        "get": op("Invoice snapshots as CSV", csv=True, query={"month": MONTH})
    },
    "/audit": {
        "get": op(
            "Who did what, newest first",
            obj(entries=array(ref("AuditEntry")), next_cursor=nullable(INT)),
            query={"customer_id": STR, "limit": INT, "cursor": INT},
        )
    },
    "/pricing": {
        "get": op("The price table (USD per 1M tokens)", obj(prices=array(ref("Price")))),
        "put": op(
            "Replace the price table",
            obj(prices=array(ref("Price"))),
            body=obj(["prices"], prices=array(ref("Price"))),
        ),
    },
}


def _with_path_parameters(paths: dict[str, dict[str, Schema]]) -> dict[str, Schema]:
    """Declare each {name} in a path as a required string path parameter."""
    return {
        path: {
            **operations,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": STR}
                for name in re.findall(r"{(\w+)}", path)
            ],
        }
        for path, operations in paths.items()
    }


def document() -> Schema:
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
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "password": {"type": "apiKey", "in": "header", "name": "X-Admin-Password"},
            },
        },
        "security": [{"token": []}, {"password": []}],
        "paths": _with_path_parameters(PATHS),
    }


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return json_response(document())
