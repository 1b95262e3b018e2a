"""A customer's month of usage for the admin API: counters, totals, events and breakdowns.

Every sum is of integers (uc, tokens) in SQL; `$3` is an optional key id narrowing the events.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

# What is reserved is the sum of the live reservations of requests in flight (for that month).
SELECT_MONTH = """
SELECT c.monthly_cap_uc, c.extra_uc, coalesce(cm.spent_uc, 0) AS spent_uc,
       (SELECT coalesce(sum(r.amount_uc), 0)::bigint FROM reservations r
        WHERE r.customer_id = c.id AND r.month = $2 AND r.expires_at > now()) AS reserved_uc
FROM customers c
LEFT JOIN customer_months cm ON cm.customer_id = c.id AND cm.month = $2
WHERE c.id = $1
"""
# A key's own cap counts its lineage (the keys it replaced by rotation): so does its spend.
SELECT_KEY_MONTH = """
SELECT k.cap_uc, coalesce(km.spent_uc, 0) AS spent_uc,
       (SELECT coalesce(sum(r.amount_uc), 0)::bigint FROM reservations r
        WHERE r.lineage_id = k.lineage_id AND r.month = $3 AND r.expires_at > now())
           AS reserved_uc
FROM api_keys k
LEFT JOIN key_months km ON km.key_id = k.lineage_id AND km.month = $3
WHERE k.id = $2 AND k.customer_id = $1
"""
# Totals and breakdowns read the rollups (kept equal to the rows: db/sql/rollups.sql), never
# the month's rows: a few rows per day and model instead of millions.
ROLLUPS_OF = """
FROM usage_rollups
WHERE customer_id = $1 AND month = $2 AND ($3::text IS NULL OR key_id = $3)"""
SELECT_TOTALS = f"""
SELECT coalesce(sum(requests), 0)::bigint AS requests,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(cached_input_tokens), 0)::bigint AS cached_input_tokens,
       coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(cost_uc), 0)::bigint AS cost_uc
{ROLLUPS_OF}
"""
# `month` as a range that holds the one month, not an equality: the order (month, id DESC)
# is then one only the (customer_id, month, id DESC) index gives, so each page is read from it
# (the cursor an index condition too), never by the primary key's backward scan, which would
# walk every newer row of every customer to reach an earlier month.
SELECT_EVENTS = """
SELECT id, created_at, key_id, install_id, provider, model, input_tokens, cached_input_tokens,
       cache_write_tokens, output_tokens, cost_uc, status, cost_source, latency_ms, request_id,
       error, upstream_id, attempts
FROM usage_events
WHERE customer_id = $1 AND month >= $2 AND month < $2 + 1
  AND ($3::text IS NULL OR key_id = $3) AND id < coalesce($4::bigint, 9223372036854775807)
ORDER BY month, id DESC
LIMIT $5
"""
SELECT_BY_DAY = f"""
SELECT day, sum(requests)::bigint AS requests, coalesce(sum(cost_uc), 0)::bigint AS cost_uc
{ROLLUPS_OF}
GROUP BY day
HAVING sum(requests) > 0
ORDER BY day
"""
SELECT_BY_MODEL = f"""
SELECT provider, model, sum(requests)::bigint AS requests,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(cost_uc), 0)::bigint AS cost_uc
{ROLLUPS_OF}
GROUP BY provider, model
HAVING sum(requests) > 0
ORDER BY provider, model
"""


async def month_counters(
    conn: asyncpg.Connection, customer_id: str, month: dt.date
) -> asyncpg.Record | None:
    """The customer's cap, credit and the month's spend; None for an unknown customer."""
    return await conn.fetchrow(SELECT_MONTH, customer_id, month)


async def key_month_counters(
    conn: asyncpg.Connection, customer_id: str, key_id: str, month: dt.date
) -> asyncpg.Record | None:
    """The key's cap and month's spend; None unless the key belongs to the customer."""
    return await conn.fetchrow(SELECT_KEY_MONTH, customer_id, key_id, month)


async def totals(
    conn: asyncpg.Connection, customer_id: str, month: dt.date, key_id: str | None
) -> asyncpg.Record:
    return await conn.fetchrow(SELECT_TOTALS, customer_id, month, key_id)


async def events(
    conn: asyncpg.Connection,
    customer_id: str,
    month: dt.date,
    key_id: str | None,
    *,
    before_id: int | None,
    limit: int,
) -> list[asyncpg.Record]:
    """Newest first, ids below `before_id` (the keyset cursor)."""
    return await conn.fetch(SELECT_EVENTS, customer_id, month, key_id, before_id, limit)


async def by_day(
    conn: asyncpg.Connection, customer_id: str, month: dt.date, key_id: str | None
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_BY_DAY, customer_id, month, key_id)


async def by_model(
    conn: asyncpg.Connection, customer_id: str, month: dt.date, key_id: str | None
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_BY_MODEL, customer_id, month, key_id)
