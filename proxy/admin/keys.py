"""Admin routes for API keys: list and create a customer's keys, change, rotate, revoke."""

from __future__ import annotations

from aiohttp import web

from core.apikeys import NewKey, generate_key
from core.errors import Conflict, InternalError, NotFound
from db import customers as db_customers
from db import keys as db_keys
from proxy.admin import audit, render
from proxy.admin.validation import (
    FieldSpec,
    boolean,
    cents,
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
from proxy.state import DB_POOL, SETTINGS

routes = web.RouteTableDef()

FIELDS: FieldSpec = {
    "label": ("label", text(200)),
    "cap_cents": ("cap_uc", nullable(cents)),
    "rpm_limit": ("rpm_limit", nullable(positive_int)),
    "max_devices": ("max_devices", nullable(positive_int)),
    "require_install": ("require_install", boolean),
    "allowed_providers": ("allowed_providers", nullable(providers)),
    "allowed_models": ("allowed_models", nullable(models)),
}


def new_key(request: web.Request) -> NewKey:
    secret = request.config_dict[SETTINGS].secret
    if not secret:  # settings resolution always sets one; never hash keys with an empty secret
        raise InternalError("The gateway has no KAIXU_SECRET; keys cannot be created.")
    return generate_key(secret)


def no_customer(cid: str) -> NotFound:
    return NotFound(f"No customer with id {cid!r}.")


def _not_found(kid: str) -> NotFound:
    return NotFound(f"No key with id {kid!r}.")


def _revoked(kid: str) -> Conflict:
    return Conflict(f"Key {kid!r} is revoked; create or rotate to a new key instead.")


@routes.get("/customers/{cid}/keys")
async def list_keys(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    async with request.config_dict[DB_POOL].acquire() as conn:
        exists = await db_customers.customer_exists(conn, cid)
        rows = await db_keys.customer_keys(conn, cid) if exists else []
    if not exists:
        raise no_customer(cid)
    return json_response({"keys": [render.key(row) for row in rows]})


@routes.post("/customers/{cid}/keys")
async def create_key(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    values = parse_fields(await read_object(request, allowed=FIELDS, empty_ok=True), FIELDS)
    key = new_key(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        if not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        row = await db_keys.insert_key(conn, key, customer_id=cid, kind="sub", values=values)
        await db_keys.notify_keys(conn, key.id)
        await audit.record(
            conn, request, "key.create", customer_id=cid, target=key.id, after=render.key(row)
        )
    return json_response({"key": render.key(row, key.plaintext)}, status=201)


@routes.get("/keys/{kid}")
async def get_key(request: web.Request) -> web.Response:
    kid = path_id(request, "kid", "key")
    async with request.config_dict[DB_POOL].acquire() as conn:
        row = await db_keys.fetch_key(conn, kid)
    if row is None:
        raise _not_found(kid)
    return json_response({"key": render.key(row)})


@routes.patch("/keys/{kid}")
async def patch_key(request: web.Request) -> web.Response:
    kid = path_id(request, "kid", "key")
    changes = parse_fields(await read_object(request, allowed=FIELDS), FIELDS)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        current = await db_keys.lock_key(conn, kid)
        if current is None:
            raise _not_found(kid)
        if current["revoked_at"] is not None:
            raise _revoked(kid)
        row = current
        if changes:
            row = await db_keys.update_key(conn, kid, {**dict(current), **changes})
            await db_keys.notify_keys(conn, kid)
            await audit.record(
                conn, request, "key.update", customer_id=row["customer_id"], target=kid,
                before=render.key(current), after=render.key(row),
            )  # fmt: skip
    return json_response({"key": render.key(row)})


@routes.post("/keys/{kid}/rotate")
async def rotate_key(request: web.Request) -> web.Response:
    """A new key with the old one's kind and settings; the old one is revoked in the same step."""
    kid = path_id(request, "kid", "key")
    key = new_key(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        old = await db_keys.lock_key(conn, kid)
        if old is None:
            raise _not_found(kid)
        if old["revoked_at"] is not None:
            raise _revoked(kid)
        row = await db_keys.insert_key(
            conn,
            key,
            customer_id=old["customer_id"],
            kind=old["kind"],
            values={c: old[c] for c in db_keys.EDITABLE_COLUMNS},
            rotated_from=kid,
        )
        revoked = await db_keys.revoke_key(conn, kid)
        await db_keys.notify_keys(conn, kid, key.id)
        await audit.record(
            conn, request, "key.rotate", customer_id=old["customer_id"], target=kid,
            before=render.key(old), after={"revoked": render.key(revoked), "new": render.key(row)},
        )  # fmt: skip
    return json_response({"key": render.key(row, key.plaintext), "revoked_key_id": kid}, status=201)


@routes.post("/keys/{kid}/revoke")
async def revoke_key(request: web.Request) -> web.Response:
    kid = path_id(request, "kid", "key")
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        before = await db_keys.lock_key(conn, kid)
        if before is None:
            raise _not_found(kid)
        row = await db_keys.revoke_key(conn, kid)
        await db_keys.notify_keys(conn, kid)
        if before["revoked_at"] is None:
            await audit.record(
                conn, request, "key.revoke", customer_id=row["customer_id"], target=kid,
                before=render.key(before), after=render.key(row),
            )  # fmt: skip
    return json_response({"key": render.key(row)})
