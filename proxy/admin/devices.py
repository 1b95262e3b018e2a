"""Admin routes for devices: a customer's install ids per key, and revoking one."""

from __future__ import annotations

from aiohttp import web

from core.errors import NotFound
from db import customers as db_customers
from db import devices as db_devices
from proxy.admin import audit
from proxy.admin.fields import STR, array
from proxy.admin.keys import forget, no_customer
from proxy.admin.resources import DEVICE
from proxy.admin.routing import Api
from proxy.admin.validation import path_id, path_number
from proxy.http.responses import json_response
from proxy.state import DB_POOL

routes = Api()


@routes.get(
    "/customers/{cid}/devices",
    summary="Devices seen per key",
    ok={"devices": array(DEVICE)},
    query={"key_id": STR},
    role="viewer",
)
async def list_devices(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    key_id = request.query.get("key_id") or None
    async with request.config_dict[DB_POOL].acquire() as conn:
        if not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        rows = await db_devices.customer_devices(conn, cid, key_id)
    return json_response({"devices": DEVICE.render_all(rows)})


@routes.post(
    "/devices/{did}/revoke",
    summary="Block an install id on its key (frees its seat)",
    ok={"device": DEVICE},
    role="operator",
)
async def revoke_device(request: web.Request) -> web.Response:
    device_id = path_number(request, "did", "device")
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        row = await db_devices.revoke_device(conn, device_id)
        if row is None:
            raise NotFound("No such device.")
        await audit.record(
            conn, request, "device.revoke", customer_id=row["customer_id"], target=str(device_id),
            after=DEVICE.render(row),
        )  # fmt: skip
    forget(request, key_ids=(row["key_id"],))  # its spares here; NOTIFY tells the others
    return json_response({"device": DEVICE.render(row)})
