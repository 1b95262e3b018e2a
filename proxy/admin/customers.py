"""Admin routes for customers: list, create (with their master key), read, change policy."""

from __future__ import annotations

import secrets

from aiohttp import web

from core.errors import Conflict
from db import customers as db_customers
from db import keys as db_keys
from proxy.admin import audit, render
from proxy.admin.keys import new_key, no_customer
from proxy.admin.validation import (
    FieldSpec,
    boolean,
    cents,
    customer_id,
    models,
    nullable,
    parse_fields,
    path_id,
    positive_int,
    providers,
    read_object,
    text,
)
from proxy.http.responses import json_response
from proxy.state import DB_POOL

routes = web.RouteTableDef()

CREATE_FIELDS: FieldSpec = {
    "name": ("name", text(200)),
    "plan": ("plan", text(64, min_chars=1)),
    "monthly_cap_cents": ("monthly_cap_uc", cents),
    "rpm_limit": ("rpm_limit", nullable(positive_int)),
    "allowed_providers": ("allowed_providers", nullable(providers)),
    "allowed_models": ("allowed_models", nullable(models)),
}
PATCH_FIELDS: FieldSpec = {**CREATE_FIELDS, "active": ("active", boolean)}


@routes.get("/customers")
async def list_customers(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_customers.list_customers(conn)
    return json_response({"customers": [render.customer(row) for row in rows]})


@routes.post("/customers")
async def create_customer(request: web.Request) -> web.Response:
    body = await read_object(request, allowed={"id", *CREATE_FIELDS}, empty_ok=True)
    given_id = body.get("id")
    cid = customer_id("id", given_id) if given_id is not None else f"cus_{secrets.token_hex(6)}"
    values = parse_fields(body, CREATE_FIELDS)
    key = new_key(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        if not await db_customers.insert_customer(conn, cid, values):
            raise Conflict(f"A customer with id {cid!r} already exists.")
        key_row = await db_keys.insert_key(conn, key, customer_id=cid, kind="master", values={})
        await db_customers.notify_customer(conn, cid)
        await db_keys.notify_keys(conn, key.id)
        row = await db_customers.fetch_customer(conn, cid)
        after = {"customer": render.customer(row), "master_key": render.key(key_row)}
        await audit.record(
            conn, request, "customer.create", customer_id=cid, target=cid, after=after
        )
    return json_response(
        {"customer": render.customer(row), "key": render.key(key_row, key.plaintext)}, status=201
    )


@routes.get("/customers/{cid}")
async def get_customer(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    async with request.config_dict[DB_POOL].acquire() as conn:
        row = await db_customers.fetch_customer(conn, cid)
    if row is None:
        raise no_customer(cid)
    return json_response({"customer": render.customer(row)})


@routes.patch("/customers/{cid}")
async def patch_customer(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    changes = parse_fields(await read_object(request, allowed=PATCH_FIELDS), PATCH_FIELDS)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        current = await db_customers.lock_customer(conn, cid)
        if current is None:
            raise no_customer(cid)
        if changes:
            before = render.customer(await db_customers.fetch_customer(conn, cid))
            await db_customers.update_customer(conn, cid, {**current, **changes})
            await db_customers.notify_customer(conn, cid)
        row = await db_customers.fetch_customer(conn, cid)
        if changes:
            await audit.record(
                conn, request, "customer.update", customer_id=cid, target=cid,
                before=before, after=render.customer(row),
            )  # fmt: skip
    return json_response({"customer": render.customer(row)})
