"""Admin routes for prepaid credit: manual top-ups and the credit history (manual and Stripe)."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from core.money import uc_to_cents
from db import customers as db_customers
from db import topups as db_topups
from proxy.admin import audit
from proxy.admin.keys import no_customer
from proxy.admin.render import iso
from proxy.admin.validation import (
    FieldSpec,
    cents,
    invalid,
    parse_fields,
    path_id,
    read_object,
    text,
)
from proxy.http.responses import json_response
from proxy.state import ADMIN_ACTOR, DB_POOL

routes = web.RouteTableDef()

FIELDS: FieldSpec = {"amount_cents": ("amount_uc", cents), "note": ("note", text(500))}


def render_topup(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "amount_cents": uc_to_cents(row["amount_uc"]),
        "source": row["source"],
        "note": row["note"],
        "actor": row["actor"],
        "stripe_session_id": row["stripe_session_id"],
        "created_at": iso(row["created_at"]),
    }


@routes.post("/customers/{cid}/topups")
async def create_topup(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    values = parse_fields(await read_object(request, allowed=set(FIELDS)), FIELDS)
    amount_uc = values.get("amount_uc")
    if amount_uc is None:
        raise invalid("amount_cents", "is required")
    if amount_uc <= 0:
        raise invalid("amount_cents", "must be more than zero")
    actor = f"{request.get(ADMIN_ACTOR, 'admin')}@{request.remote}"
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        if not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        row = await db_topups.insert_topup(
            conn, customer_id=cid, amount_uc=amount_uc, source="manual",
            note=values.get("note", ""), actor=actor,
        )  # fmt: skip
        assert row is not None  # only Stripe sessions can be duplicates
        topup = render_topup(row)
        extra_cents = uc_to_cents(row["extra_uc"])
        await audit.record(
            conn, request, "topup.create", customer_id=cid, target=str(row["id"]),
            before={"extra_cents": uc_to_cents(row["extra_uc"] - amount_uc)},
            after={"extra_cents": extra_cents, "topup": topup},
        )  # fmt: skip
    return json_response({"topup": topup, "extra_cents": extra_cents}, status=201)


@routes.get("/customers/{cid}/topups")
async def list_topups(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    async with request.config_dict[DB_POOL].acquire() as conn:
        if not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        rows = await db_topups.customer_topups(conn, cid)
    return json_response({"topups": [render_topup(row) for row in rows]})
