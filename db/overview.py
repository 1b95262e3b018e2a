"""The admin overview's figures: spend across customers, recent traffic and errors by provider.

Bounded however many usage rows there are: spend comes from customer_months (the counters the
caps use) and the rollups, read per customer through their primary key; the recent figures read
only the last hour's rows, through the index by time (migration 0021), in the partitions of this
month and, on a month's first day, the previous one.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

# Per customer: the month's spend and credit drawn, and from the rollups (customer_id, month,
# day, ...) the month's requests and today's cost and requests. Today (UTC) may hold rows
# billed to the previous month on a month's first day (admitted before midnight): $2 is the
# month of yesterday, so that one partition of the rollups is read too only then.
SELECT_CUSTOMERS = """
SELECT c.id, c.name, c.monthly_cap_uc, c.extra_uc, coalesce(cm.spent_uc, 0) AS spent_uc,
       coalesce(cm.credit_used_uc, 0) AS credit_used_uc, r.month_requests, r.today_uc,
       r.today_requests
FROM customers c
LEFT JOIN customer_months cm ON cm.customer_id = c.id AND cm.month = $1
CROSS JOIN LATERAL (
    SELECT coalesce(sum(u.requests) FILTER (WHERE u.month = $1), 0)::bigint AS month_requests,
           coalesce(sum(u.cost_uc) FILTER (WHERE u.day = $3), 0)::bigint AS today_uc,
           coalesce(sum(u.requests) FILTER (WHERE u.day = $3), 0)::bigint AS today_requests
    FROM usage_rollups u
    WHERE u.customer_id = c.id AND u.month >= $2 AND u.month <= $1
) r
ORDER BY c.id
"""
# The last hour's usage rows (written at settlement, so each admitted request once, when it
# ended) by provider. The month bounds prune the partitions to this month's (and, within a day
# of a month's start, the previous one's): a row written now for an older month could only be a
# settlement replayed after a day-long outage, and is left out.
SELECT_RECENT = """
SELECT provider, count(*) AS requests,
       count(*) FILTER (WHERE status = 'error') AS errors,
       count(*) FILTER (WHERE created_at >= now() - interval '5 minutes') AS last_5_minutes,
       count(*) FILTER (WHERE created_at >= now() - interval '1 minute') AS last_minute
FROM usage_events
WHERE created_at >= now() - interval '1 hour'
  AND month >= date_trunc('month', (now() - interval '1 day') AT TIME ZONE 'UTC')::date
  AND month <= date_trunc('month', now() AT TIME ZONE 'UTC')::date
GROUP BY provider
ORDER BY provider
"""
# The moment every figure is of: the database's clock, the one the rows were stamped with.
SELECT_NOW = "SELECT now() AS at, (now() AT TIME ZONE 'UTC')::date AS today"


async def clock(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow(SELECT_NOW)


async def customers(conn: asyncpg.Connection, today: dt.date) -> list[asyncpg.Record]:
    """Every customer with its month's spend and today's; `today` a UTC date."""
    month = today.replace(day=1)
    since = (today - dt.timedelta(days=1)).replace(day=1)
    return await conn.fetch(SELECT_CUSTOMERS, month, since, today)


async def recent(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """The last hour's requests, errors and last minutes' requests, per provider."""
    return await conn.fetch(SELECT_RECENT)
