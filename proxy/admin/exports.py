"""Admin CSV exports of usage, customers and invoices, streamed from server-side cursors."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractAsyncContextManager

import asyncpg
from aiohttp import web

from db import customers as db_customers
from db import exports as db_exports
from db.pool import session_connection
from proxy.admin.fields import MONTH, STR
from proxy.admin.keys import no_customer
from proxy.admin.routing import Api
from proxy.admin.usage import parse_month, settled_here
from proxy.admin.validation import CUSTOMER_ID, invalid
from proxy.http.csv_stream import (
    Column,
    bool_cell,
    cents_cell,
    int_cell,
    month_cell,
    stream_csv,
    text_cell,
    time_cell,
)
from proxy.http.usage_csv import USAGE_COLUMNS
from proxy.state import READ_POOL, SETTINGS

routes = Api()


def _cursor_connection(request: web.Request) -> AbstractAsyncContextManager[asyncpg.Connection]:
    """Where an export's cursor runs: the read pool (DATABASE_READ_URL: a direct connection to
    a replica), else the primary's pool — but not through a transaction pooler, where asyncpg's
    cursors (always named statements) would be left behind on PgBouncer's server connections:
    a direct connection of its own then."""
    settings = request.config_dict[SETTINGS]
    direct = None
    if settings.behind_pgbouncer and not settings.database_read_url:
        direct = settings.direct_database_url
    return session_connection(request.config_dict[READ_POOL], direct)


# Rows per fetch from the cursor and per write to the client: memory holds one batch (about
# 3 MB of Python objects for usage rows; all 100,000 rows at once would be about 90 MB).
BATCH_ROWS = 1000

CUSTOMER_COLUMNS = (
    Column("id", text_cell),
    Column("name", text_cell),
    Column("plan", text_cell),
    Column("monthly_cap_cents", cents_cell),
    Column("rpm_limit", int_cell),
    Column("active", bool_cell),
    Column("extra_cents", cents_cell),
    Column("active_keys", int_cell),
    Column("created_at", time_cell),
)
INVOICE_COLUMNS = (
    Column("id", int_cell),
    Column("customer_id", text_cell),
    Column("month", month_cell),
    Column("version", int_cell),
    Column("total_cents", cents_cell),
    Column("created_at", time_cell),
)


def _month_filter(request: web.Request) -> dt.date | None:
    """An optional `month`: absent or empty means every month."""
    raw = request.query.get("month", "")
    return parse_month(raw) if raw else None


def _customer_filter(request: web.Request) -> str | None:
    raw = request.query.get("customer_id", "")
    if not raw:
        return None
    if not CUSTOMER_ID.fullmatch(raw):
        raise invalid("customer_id", "is not a customer id")
    return raw


def _filename(*parts: str | None) -> str:
    return "-".join(part for part in parts if part) + ".csv"


@routes.get(
    "/exports/usage.csv",
    summary="Usage rows as CSV (streamed)",
    csv=True,
    query={"customer_id": STR, "month": MONTH},
    role="viewer",
)
async def export_usage(request: web.Request) -> web.StreamResponse:
    cid = _customer_filter(request)
    month = _month_filter(request)
    filename = _filename("usage", cid, month and month.strftime("%Y-%m"))
    await settled_here(request)
    # The connection is held for the whole download: a cursor lives in its transaction.
    async with _cursor_connection(request) as conn, conn.transaction(readonly=True):
        if cid is not None and not await db_customers.customer_exists(conn, cid):
            raise no_customer(cid)
        rows = db_exports.usage_rows(conn, cid, month, size=BATCH_ROWS)
        return await stream_csv(request, filename, USAGE_COLUMNS, rows)


@routes.get("/exports/customers.csv", summary="Customers as CSV", csv=True, role="viewer")
async def export_customers(request: web.Request) -> web.StreamResponse:
    async with _cursor_connection(request) as conn, conn.transaction(readonly=True):
        rows = db_exports.customer_rows(conn, size=BATCH_ROWS)
        return await stream_csv(request, "customers.csv", CUSTOMER_COLUMNS, rows)


@routes.get(
    "/exports/invoices.csv",
    summary="Invoice snapshots as CSV",
    csv=True,
    query={"month": MONTH},
    role="viewer",
)
async def export_invoices(request: web.Request) -> web.StreamResponse:
    month = _month_filter(request)
    filename = _filename("invoices", month and month.strftime("%Y-%m"))
    async with _cursor_connection(request) as conn, conn.transaction(readonly=True):
        rows = db_exports.invoice_rows(conn, month, size=BATCH_ROWS)
        return await stream_csv(request, filename, INVOICE_COLUMNS, rows)
