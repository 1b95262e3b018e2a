"""Invoices: the figures a snapshot freezes, the snapshots themselves, and their listing.

Every sum is of integers (uc, tokens) in SQL. The snapshot queries run in one REPEATABLE READ
transaction of the caller, so they all see the same instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

# pg_advisory_lock(class, key): this class serialises the snapshots of one customer.
INVOICE_LOCK_CLASS = 7007
LOCK_CUSTOMER_INVOICES = "SELECT pg_advisory_lock($1, hashtext($2))"
UNLOCK_CUSTOMER_INVOICES = "SELECT pg_advisory_unlock($1, hashtext($2))"

# Top-ups count toward the month in which they were made, in UTC.
IN_MONTH = """
t.created_at >= $2::date::timestamp AT TIME ZONE 'UTC'
AND t.created_at < ($2::date + interval '1 month') AT TIME ZONE 'UTC'"""

SELECT_FIGURES = f"""
SELECT c.id, c.name, c.plan, c.monthly_cap_uc, c.extra_uc, now() AS created_at,
       (SELECT coalesce(sum(r.cost_uc), 0) FROM usage_rollups r
        WHERE r.customer_id = c.id AND r.month = $2)::bigint AS usage_uc,
       coalesce(cm.spent_uc, 0) AS spent_uc,
       coalesce(cm.credit_used_uc, 0) AS credit_used_uc,
       (SELECT coalesce(sum(t.amount_uc), 0) FROM topups t
        WHERE t.customer_id = c.id AND {IN_MONTH})::bigint AS credit_added_uc,
       (SELECT coalesce(max(i.version), 0) + 1 FROM invoices i
        WHERE i.customer_id = c.id AND i.month = $2) AS version
FROM customers c
LEFT JOIN customer_months cm ON cm.customer_id = c.id AND cm.month = $2
WHERE c.id = $1
"""
# From the rollups (equal to the rows: db/sql/rollups.sql), not the month's rows.
SELECT_LINE_ITEMS = """
SELECT provider, model, sum(requests)::bigint AS requests,
       sum(input_tokens)::bigint AS input_tokens,
       sum(cached_input_tokens)::bigint AS cached_input_tokens,
       sum(cache_write_tokens)::bigint AS cache_write_tokens,
       sum(output_tokens)::bigint AS output_tokens,
       sum(cost_uc)::bigint AS cost_uc
FROM usage_rollups
WHERE customer_id = $1 AND month = $2
GROUP BY provider, model
HAVING sum(requests) > 0
ORDER BY provider, model
"""
SELECT_MONTH_TOPUPS = f"""
SELECT t.id, t.created_at, t.amount_uc, t.source, t.note
FROM topups t
WHERE t.customer_id = $1 AND {IN_MONTH}
ORDER BY t.created_at, t.id
"""
INSERT_INVOICE = """
INSERT INTO invoices (customer_id, month, version, snapshot, total_uc, created_at)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id
"""
SUMMARY_COLUMNS = "id, customer_id, month, version, total_uc, created_at"
SELECT_CUSTOMER_INVOICES = f"""
SELECT {SUMMARY_COLUMNS} FROM invoices WHERE customer_id = $1 ORDER BY id DESC
"""
# The snapshot as text, its numbers exactly as stored: the reader picks how to parse them.
SELECT_INVOICE = f"""
SELECT {SUMMARY_COLUMNS}, snapshot::text AS snapshot FROM invoices WHERE id = $1
"""


@asynccontextmanager
async def customer_invoice_lock(conn: asyncpg.Connection, customer_id: str) -> AsyncIterator[None]:
    """Serialise one customer's snapshots. Enter it before the snapshot's transaction begins:
    a REPEATABLE READ snapshot starts at its first statement, so one that starts after the
    wait sees every version committed meanwhile (a transaction-scoped lock taken inside
    would come too late). Released in `finally`; a broken connection takes it along."""
    await conn.execute(LOCK_CUSTOMER_INVOICES, INVOICE_LOCK_CLASS, customer_id)
    try:
        yield
    finally:
        await conn.execute(UNLOCK_CUSTOMER_INVOICES, INVOICE_LOCK_CLASS, customer_id)


async def figures(
    conn: asyncpg.Connection, customer_id: str, month: dt.date
) -> asyncpg.Record | None:
    """The customer, the month's totals and the next version; None for an unknown customer."""
    return await conn.fetchrow(SELECT_FIGURES, customer_id, month)


async def line_items(
    conn: asyncpg.Connection, customer_id: str, month: dt.date
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_LINE_ITEMS, customer_id, month)


async def month_topups(
    conn: asyncpg.Connection, customer_id: str, month: dt.date
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_MONTH_TOPUPS, customer_id, month)


async def insert_invoice(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    month: dt.date,
    version: int,
    snapshot: dict[str, Any],
    total_uc: int,
    created_at: dt.datetime,
) -> int:
    return await conn.fetchval(
        INSERT_INVOICE, customer_id, month, version, snapshot, total_uc, created_at
    )


async def customer_invoices(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    """Summaries, newest first."""
    return await conn.fetch(SELECT_CUSTOMER_INVOICES, customer_id)


async def fetch_invoice(conn: asyncpg.Connection, invoice_id: int) -> asyncpg.Record | None:
    """The summary columns and the snapshot as JSON text; None for an unknown id."""
    return await conn.fetchrow(SELECT_INVOICE, invoice_id)
