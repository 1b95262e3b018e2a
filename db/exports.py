"""Rows for the CSV exports, read in batches from a server-side cursor (caller's transaction)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import asyncpg

# Column order is the CSV's column order (see proxy.admin.exports).
SELECT_USAGE = """
SELECT id, created_at, customer_id, key_id, install_id, provider, model, upstream_model,
       input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, cost_uc, status,
       cost_source, latency_ms, request_id, clamped, upstream_id, attempts
FROM usage_events
WHERE ($1::text IS NULL OR customer_id = $1) AND ($2::date IS NULL OR month = $2)
ORDER BY id
"""
SELECT_CUSTOMERS = """
SELECT c.id, c.name, c.plan, c.monthly_cap_uc, c.rpm_limit, c.active, c.extra_uc,
       (SELECT count(*) FROM api_keys k
        WHERE k.customer_id = c.id AND k.revoked_at IS NULL) AS active_keys,
       c.created_at
FROM customers c
ORDER BY c.created_at, c.id
"""
SELECT_INVOICES = """
SELECT id, customer_id, month, version, total_uc, created_at
FROM invoices
WHERE ($1::date IS NULL OR month = $1)
ORDER BY month, customer_id, version
"""


async def _batches(
    conn: asyncpg.Connection, query: str, *args: object, size: int
) -> AsyncIterator[list[asyncpg.Record]]:
    # A portal on the server: each fetch pulls the next `size` rows, never the whole result.
    cursor = await conn.cursor(query, *args)
    while batch := await cursor.fetch(size):
        yield batch


def usage_rows(
    conn: asyncpg.Connection, customer_id: str | None, month: dt.date | None, *, size: int
) -> AsyncIterator[list[asyncpg.Record]]:
    """Usage events oldest first, optionally of one customer and/or one billing month."""
    return _batches(conn, SELECT_USAGE, customer_id, month, size=size)


def customer_rows(conn: asyncpg.Connection, *, size: int) -> AsyncIterator[list[asyncpg.Record]]:
    return _batches(conn, SELECT_CUSTOMERS, size=size)


def invoice_rows(
    conn: asyncpg.Connection, month: dt.date | None, *, size: int
) -> AsyncIterator[list[asyncpg.Record]]:
    return _batches(conn, SELECT_INVOICES, month, size=size)
