"""Admin routes for customers: list, create (with their master key), read, change policy."""

from __future__ import annotations

import secrets

from aiohttp import web

from core.errors import Conflict
from db import customers as db_customers
from db import keys as db_keys
from proxy.admin import audit
from proxy.admin.fields import array
from proxy.admin.keys import forget, new_key, no_customer, with_plaintext
from proxy.admin.resources import CUSTOMER, CUSTOMER_CREATE, CUSTOMER_PATCH, KEY
from proxy.admin.routing import Api
from proxy.admin.validation import path_id, read_object
from proxy.http.responses import json_response
from proxy.state import DB_POOL

routes = Api()


@routes.get(
    "/customers", summary="List customers", ok={"customers": array(CUSTOMER)}, role="viewer"
)
async def list_customers(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_customers.list_customers(conn)
    return json_response({"customers": CUSTOMER.render_all(rows)})


@routes.post(
    "/customers",
    summary="Create a customer and its master key (shown once)",
    body=CUSTOMER.input_schema(CUSTOMER_CREATE),
    ok={"customer": CUSTOMER, "key": KEY},
    status=201,
    errors=(409,),
    role="operator",
)
async def create_customer(request: web.Request) -> web.Response:
    values = CUSTOMER.parse(await read_object(request, empty_ok=True), fields=CUSTOMER_CREATE)
    cid = values.pop("id", None)  # the id is not a column to set but the row's key
    if cid is None:
        cid = f"cus_{secrets.token_hex(6)}"
    key = new_key(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        if not await db_customers.insert_customer(conn, cid, values):
            raise Conflict(f"A customer with id {cid!r} already exists.")
        key_row = await db_keys.insert_key(conn, key, customer_id=cid, kind="master", values={})
        await db_customers.notify_customer(conn, cid)
        await db_keys.notify_keys(conn, key.id)
        row = await db_customers.fetch_customer(conn, cid)
        after = {"customer": CUSTOMER.render(row), "master_key": KEY.render(key_row)}
        await audit.record(
            conn, request, "customer.create", customer_id=cid, target=cid, after=after
        )
    return json_response(
        {"customer": CUSTOMER.render(row), "key": with_plaintext(key_row, key)}, status=201
    )


@routes.get("/customers/{cid}", summary="Read a customer", ok={"customer": CUSTOMER}, role="viewer")
async def get_customer(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    async with request.config_dict[DB_POOL].acquire() as conn:
        row = await db_customers.fetch_customer(conn, cid)
    if row is None:
        raise no_customer(cid)
    return json_response({"customer": CUSTOMER.render(row)})


@routes.patch(
    "/customers/{cid}",
    summary="Change a customer's policy",
    body=CUSTOMER.input_schema(CUSTOMER_PATCH),
    ok={"customer": CUSTOMER},
    role="operator",
)
async def patch_customer(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    changes = CUSTOMER.parse(await read_object(request), fields=CUSTOMER_PATCH)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        current = await db_customers.lock_customer(conn, cid)
        if current is None:
            raise no_customer(cid)
        if changes:
            before = CUSTOMER.render(await db_customers.fetch_customer(conn, cid))
            await db_customers.update_customer(conn, cid, {**current, **changes})
            await db_customers.notify_customer(conn, cid)
        row = await db_customers.fetch_customer(conn, cid)
        if changes:
            await audit.record(
                conn, request, "customer.update", customer_id=cid, target=cid,
                before=before, after=CUSTOMER.render(row),
            )  # fmt: skip
    if changes:
        forget(request, customer_id=cid)
    return json_response({"customer": CUSTOMER.render(row)})
