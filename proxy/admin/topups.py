"""Admin routes for prepaid credit: manual top-ups and the credit history (manual and Stripe)."""

from __future__ import annotations

from aiohttp import web

from core.money import MAX_CREDIT_UC, uc_to_cents
from db import customers as db_customers
from db import topups as db_topups
from proxy.admin import audit
from proxy.admin.fields import CENTS, array
from proxy.admin.keys import no_customer
from proxy.admin.resources import TOPUP
from proxy.admin.routing import Api
from proxy.admin.validation import invalid, path_id, read_object
from proxy.http.client_address import client_address
from proxy.http.responses import json_response
from proxy.state import ADMIN_ACTOR, DB_POOL

routes = Api()

REQUIRED = ("amount_cents",)


@routes.post(
    "/customers/{cid}/topups",
    summary="Add credit by hand",
    body=TOPUP.input_schema(required=REQUIRED),
    ok={"topup": TOPUP, "extra_cents": CENTS},
    status=201,
    role="operator",
)
async def create_topup(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    values = TOPUP.parse(await read_object(request), required=REQUIRED)
    amount_uc = values["amount_uc"]
    if amount_uc <= 0:
        raise invalid("amount_cents", "must be more than zero")
    actor = f"{request.get(ADMIN_ACTOR, 'admin')}@{client_address(request)}"
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        if not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        room_uc = await db_topups.credit_room(conn, cid, MAX_CREDIT_UC)
        if amount_uc > room_uc:
            raise invalid(
                "amount_cents",
                f"would take the credit balance over {uc_to_cents(MAX_CREDIT_UC):,} cents;"
                f" at most {uc_to_cents(room_uc)} more can be added",
            )
        row = await db_topups.insert_topup(
            conn, customer_id=cid, amount_uc=amount_uc, source="manual",
            note=values.get("note", ""), actor=actor,
        )  # fmt: skip
        assert row is not None  # only Stripe sessions can be duplicates
        topup = TOPUP.render(row)
        extra_cents = uc_to_cents(row["extra_uc"])
        await audit.record(
            conn, request, "topup.create", customer_id=cid, target=str(row["id"]),
            before={"extra_cents": uc_to_cents(row["extra_uc"] - amount_uc)},
            after={"extra_cents": extra_cents, "topup": topup},
        )  # fmt: skip
    return json_response({"topup": topup, "extra_cents": extra_cents}, status=201)


@routes.get(
    "/customers/{cid}/topups",
    summary="Credit history (manual and Stripe)",
    ok={"topups": array(TOPUP)},
    role="viewer",
)
async def list_topups(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    async with request.config_dict[DB_POOL].acquire() as conn:
        if not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        rows = await db_topups.customer_topups(conn, cid)
    return json_response({"topups": TOPUP.render_all(rows)})
