"""Admin routes for invoices: freeze a customer's month as a versioned snapshot, read it back."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from core.errors import Conflict, NotFound
from core.money import UC_PER_CENT
from db import customers as db_customers
from db import invoices as db_invoices
from db.pool import session_connection
from proxy.admin import audit
from proxy.admin.fields import MONTH, array, strict_object
from proxy.admin.keys import no_customer
from proxy.admin.resources import INVOICE, INVOICE_SUMMARY, SNAPSHOT_FIELDS
from proxy.admin.routing import Api
from proxy.admin.usage import parse_month, settled_here
from proxy.admin.validation import invalid, path_id, read_object
from proxy.http.csv_stream import Column, cents_cell, csv_response, int_cell, text_cell
from proxy.http.responses import json_response
from proxy.state import DB_POOL, SETTINGS

log = logging.getLogger("kaixu.invoices")

routes = Api()

MAX_INVOICE_ID = 2**63 - 1

CSV_COLUMNS = (
    Column("kind", text_cell),  # line_item, total, topup, credit_added, credit_used
    Column("provider", text_cell),
    Column("model", text_cell),
    Column("requests", int_cell),
    Column("input_tokens", int_cell),
    Column("cached_input_tokens", int_cell),
    Column("cache_write_tokens", int_cell),
    Column("output_tokens", int_cell),
    Column("amount_cents", cents_cell),
    Column("topup_id", int_cell),
    Column("created_at", text_cell),
    Column("source", text_cell),
    Column("note", text_cell),
)
COUNT_FIELDS = (
    "requests",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
)
NO_COUNTS = (None,) * len(COUNT_FIELDS)
NO_TOPUP = (None,) * 4


def _invoice_month(body: dict[str, Any]) -> dt.date:
    """A required `YYYY-MM`, not after the current month (UTC): a month may be snapshotted
    while it runs, and again later as a new version."""
    raw = body.get("month")
    if not isinstance(raw, str) or not raw:
        raise invalid("month", "is required, as YYYY-MM")
    month = parse_month(raw)
    if month > dt.datetime.now(dt.UTC).date().replace(day=1):
        raise invalid("month", "must not be in the future")
    return month


def _invoice_id(request: web.Request) -> int:
    invoice_id = int(request.match_info["iid"])  # the route admits digits only
    if not 1 <= invoice_id <= MAX_INVOICE_ID:
        raise NotFound("No such invoice.")
    return invoice_id


def build_snapshot(
    figures: asyncpg.Record,
    month: dt.date,
    items: list[asyncpg.Record],
    topups: list[asyncpg.Record],
) -> dict[str, Any]:
    """The frozen invoice: every figure from one database snapshot, money in cents."""
    row = {**figures, "customer": figures, "month": month, "line_items": items, "topups": topups}
    return INVOICE.render(row, fields=SNAPSHOT_FIELDS)


async def _freeze(
    conn: asyncpg.Connection, request: web.Request, cid: str, month: dt.date
) -> dict[str, Any]:
    figures = await db_invoices.figures(conn, cid, month)
    if figures is None:
        raise no_customer(cid)
    items = await db_invoices.line_items(conn, cid, month)
    topups = await db_invoices.month_topups(conn, cid, month)
    snapshot = build_snapshot(figures, month, items, topups)
    if figures["spent_uc"] != figures["usage_uc"]:
        log.warning(
            "month counter and usage rows disagree",
            extra={"customer_id": cid, "month": snapshot["month"]},
        )
    try:
        invoice_id = await db_invoices.insert_invoice(
            conn,
            customer_id=cid,
            month=month,
            version=figures["version"],
            snapshot=snapshot,
            total_uc=figures["usage_uc"],
            created_at=figures["created_at"],
        )
    except asyncpg.UniqueViolationError:  # only if someone wrote invoices bypassing the lock
        raise Conflict(
            "Another snapshot of this month was taken at the same time; retry."
        ) from None
    await audit.record(
        conn, request, "invoice.create", customer_id=cid, target=str(invoice_id),
        after={"month": snapshot["month"], "version": snapshot["version"],
               "total_cents": snapshot["total_cents"]},
    )  # fmt: skip
    return {"id": invoice_id, "customer_id": cid, **snapshot}


@routes.post(
    "/customers/{cid}/invoices",
    summary="Freeze an invoice snapshot of a month",
    body=strict_object({"month": MONTH}),
    ok={"invoice": INVOICE},
    status=201,
    role="operator",
)
async def create_invoice(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    month = _invoice_month(await read_object(request, allowed={"month"}))
    await settled_here(request)
    settings = request.config_dict[SETTINGS]
    direct = settings.direct_database_url if settings.behind_pgbouncer else None
    async with (
        session_connection(request.config_dict[DB_POOL], direct) as conn,
        db_invoices.customer_invoice_lock(conn, cid),
        # One snapshot for every figure, so line items, totals and counters agree.
        conn.transaction(isolation="repeatable_read"),
    ):
        invoice = await _freeze(conn, request, cid, month)
    return json_response({"invoice": invoice}, status=201)


@routes.get(
    "/customers/{cid}/invoices",
    summary="Invoice snapshots",
    ok={"invoices": array(INVOICE_SUMMARY)},
    role="viewer",
)
async def list_invoices(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    async with request.config_dict[DB_POOL].acquire() as conn:
        exists = await db_customers.customer_exists(conn, cid)
        rows = await db_invoices.customer_invoices(conn, cid) if exists else []
    if not exists:
        raise no_customer(cid)
    return json_response({"invoices": INVOICE_SUMMARY.render_all(rows)})


async def _stored(request: web.Request) -> asyncpg.Record:
    invoice_id = _invoice_id(request)
    async with request.config_dict[DB_POOL].acquire() as conn:
        row = await db_invoices.fetch_invoice(conn, invoice_id)
    if row is None:
        raise NotFound(f"No invoice with id {invoice_id}.")
    return row


@routes.get(
    r"/invoices/{iid:\d+}", summary="An invoice snapshot", ok={"invoice": INVOICE}, role="viewer"
)
async def get_invoice(request: web.Request) -> web.Response:
    row = await _stored(request)
    snapshot = orjson.loads(row["snapshot"])
    return json_response(
        {"invoice": {"id": row["id"], "customer_id": row["customer_id"], **snapshot}}
    )


def _uc(cents: int | Decimal) -> int:
    """Stored cents (parsed as Decimal, so exact) back to integer micro-cents."""
    return int(Decimal(cents) * UC_PER_CENT)


def csv_rows(snapshot: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The line items, a totals row, the month's top-ups, then the credit figures."""
    items = snapshot["line_items"]
    rows: list[tuple[Any, ...]] = [
        ("line_item", item["provider"], item["model"], *(item[f] for f in COUNT_FIELDS),
         _uc(item["cost_cents"]), *NO_TOPUP)
        for item in items
    ]  # fmt: skip
    totals = (sum(item[f] for item in items) for f in COUNT_FIELDS)
    rows.append(("total", None, None, *totals, _uc(snapshot["total_cents"]), *NO_TOPUP))
    rows += [
        ("topup", None, None, *NO_COUNTS, _uc(topup["amount_cents"]), topup["id"],
         topup["created_at"], topup["source"], topup["note"])
        for topup in snapshot["topups"]
    ]  # fmt: skip
    rows += [
        (kind, None, None, *NO_COUNTS, _uc(snapshot[f"{kind}_cents"]), *NO_TOPUP)
        for kind in ("credit_added", "credit_used")
    ]
    return rows


@routes.get(
    r"/invoices/{iid:\d+}.csv", summary="An invoice snapshot as CSV", csv=True, role="viewer"
)
async def get_invoice_csv(request: web.Request) -> web.Response:
    row = await _stored(request)
    snapshot = json.loads(row["snapshot"], parse_float=Decimal)
    filename = f"invoice-{row['customer_id']}-{row['month']:%Y-%m}-v{row['version']}.csv"
    return csv_response(filename, CSV_COLUMNS, csv_rows(snapshot))
