"""Admin routes for API keys: list and create a customer's keys, change, rotate, revoke."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from core.apikeys import NewKey, generate_key
from core.errors import Conflict, InternalError, NotFound
from db import customers as db_customers
from db import keys as db_keys
from proxy.admin import audit
from proxy.admin.fields import STR, array
from proxy.admin.resources import KEY
from proxy.admin.routing import Api
from proxy.admin.validation import path_id, read_object
from proxy.http.responses import json_response
from proxy.state import DB_POOL, KEY_CACHE, SETTINGS


def forget(
    request: web.Request, *, customer_id: str | None = None, key_ids: tuple[str, ...] = ()
) -> None:
    """After a commit: this process drops what it cached at once, so its very next request
    sees the change; the NOTIFY sent at commit tells every process (this one a moment later)."""
    cache = request.config_dict[KEY_CACHE]
    if customer_id is not None:
        cache.evict_customer(customer_id)
    for key_id in key_ids:
        cache.evict_key(key_id)


routes = Api()


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


def with_plaintext(row: asyncpg.Record, key: NewKey) -> dict[str, Any]:
    """The key as created: the only answer that ever carries its plaintext."""
    return {**KEY.render(row), "key": key.plaintext}


@routes.get(
    "/customers/{cid}/keys",
    summary="List a customer's keys",
    ok={"keys": array(KEY)},
    role="viewer",
)
async def list_keys(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    async with request.config_dict[DB_POOL].acquire() as conn:
        exists = await db_customers.customer_exists(conn, cid)
        rows = await db_keys.customer_keys(conn, cid) if exists else []
    if not exists:
        raise no_customer(cid)
    return json_response({"keys": KEY.render_all(rows)})


@routes.post(
    "/customers/{cid}/keys",
    summary="Create a sub-key (shown once)",
    body=KEY.input_schema(),
    ok={"key": KEY},
    status=201,
    role="operator",
)
async def create_key(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    values = KEY.parse(await read_object(request, empty_ok=True))
    key = new_key(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        if not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        row = await db_keys.insert_key(conn, key, customer_id=cid, kind="sub", values=values)
        await db_keys.notify_keys(conn, key.id)
        await audit.record(
            conn, request, "key.create", customer_id=cid, target=key.id, after=KEY.render(row)
        )
    return json_response({"key": with_plaintext(row, key)}, status=201)


@routes.get("/keys/{kid}", summary="Read a key", ok={"key": KEY}, role="viewer")
async def get_key(request: web.Request) -> web.Response:
    kid = path_id(request, "kid", "key")
    async with request.config_dict[DB_POOL].acquire() as conn:
        row = await db_keys.fetch_key(conn, kid)
    if row is None:
        raise _not_found(kid)
    return json_response({"key": KEY.render(row)})


@routes.patch(
    "/keys/{kid}",
    summary="Change a key's overrides",
    body=KEY.input_schema(),
    ok={"key": KEY},
    errors=(409,),
    role="operator",
)
async def patch_key(request: web.Request) -> web.Response:
    kid = path_id(request, "kid", "key")
    changes = KEY.parse(await read_object(request))
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
                before=KEY.render(current), after=KEY.render(row),
            )  # fmt: skip
    if changes:
        forget(request, key_ids=(kid,))
    return json_response({"key": KEY.render(row)})


@routes.post(
    "/keys/{kid}/rotate",
    summary="New key with the same settings; the old one is revoked",
    ok={"key": KEY, "revoked_key_id": STR},
    status=201,
    errors=(409,),
    role="operator",
)
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
            before=KEY.render(old), after={"revoked": KEY.render(revoked), "new": KEY.render(row)},
        )  # fmt: skip
    forget(request, key_ids=(kid,))
    return json_response({"key": with_plaintext(row, key), "revoked_key_id": kid}, status=201)


@routes.post(
    "/keys/{kid}/revoke",
    summary="Revoke a key at once, on every process",
    ok={"key": KEY},
    role="operator",
)
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
                before=KEY.render(before), after=KEY.render(row),
            )  # fmt: skip
    forget(request, key_ids=(kid,))
    return json_response({"key": KEY.render(row)})
