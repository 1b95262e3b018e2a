"""Queries of usage retention (proxy/upkeep/retention.py runs them): which partitions are old
enough, whether their months are invoiced, their row counts, and the drop. The rows themselves
come from db.exports.usage_rows, as the admin's CSV export reads them."""

from __future__ import annotations

import datetime as dt

import asyncpg

# Partitions wholly before `$1` (the first month kept), oldest first.
SELECT_OLD_PARTITIONS = """
SELECT name, from_month, to_month FROM kaixu_usage_partitions
WHERE to_month <= $1
ORDER BY to_month
"""
# The months a partition holds rows of (the rollups are the rows' exact sums: a few rows a
# month instead of the partition's millions).
SELECT_MONTHS = """
SELECT DISTINCT month FROM usage_rollups
WHERE month >= coalesce($1::date, '-infinity') AND month < $2 AND requests <> 0
ORDER BY month
"""
# Customers with usage in the month but no invoice made after the month ended (one made
# earlier does not cover all of it).
SELECT_UNINVOICED = """
SELECT DISTINCT r.customer_id FROM usage_rollups r
WHERE r.month = $1 AND r.requests <> 0
  AND NOT EXISTS (SELECT 1 FROM invoices i
                  WHERE i.customer_id = r.customer_id AND i.month = $1
                    AND i.created_at >= ($1 + interval '1 month'))
ORDER BY 1
"""
# What the archive is checked against: rows, cost and tokens (of a month, of a partition).
SUMS = (
    "SELECT count(*), coalesce(sum(cost_uc), 0)::bigint,"
    " coalesce(sum(input_tokens::bigint + output_tokens), 0)::bigint FROM {table}"
)
RECORD_RETIRED = """
INSERT INTO usage_retired_months (month, partition, rows, archive, sha256)
VALUES ($1, $2, $3, $4, $5)
"""
SELECT_RETIRED = (
    "SELECT month, partition, rows, archive, sha256, retired_at"
    " FROM usage_retired_months ORDER BY month"
)


async def old_partitions(conn: asyncpg.Connection, first_kept: dt.date) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_OLD_PARTITIONS, first_kept)


async def months_in(
    conn: asyncpg.Connection, from_month: dt.date | None, to_month: dt.date
) -> list[dt.date]:
    return [row[0] for row in await conn.fetch(SELECT_MONTHS, from_month, to_month)]


async def uninvoiced_customers(conn: asyncpg.Connection, month: dt.date) -> list[str]:
    return [row[0] for row in await conn.fetch(SELECT_UNINVOICED, month)]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def month_sums(conn: asyncpg.Connection, month: dt.date) -> tuple[int, int, int]:
    """Rows, cost (uc) and input + output tokens of the month."""
    row = await conn.fetchrow(SUMS.format(table="usage_events WHERE month = $1"), month)
    return tuple(row)


async def lock_partition_sums(conn: asyncpg.Connection, name: str) -> tuple[int, int, int]:
    """The partition's rows, cost and tokens, final until the caller's transaction ends: its
    writers wait (SHARE lock)."""
    await conn.execute(f"LOCK TABLE {_quoted(name)} IN SHARE MODE")
    return tuple(await conn.fetchrow(SUMS.format(table=_quoted(name))))


async def drop_partition(conn: asyncpg.Connection, name: str) -> None:
    """Detach and drop `name` (caller's transaction; it holds the lock timeout)."""
    await conn.execute(f"ALTER TABLE usage_events DETACH PARTITION {_quoted(name)}")
    await conn.execute(f"DROP TABLE {_quoted(name)}")


async def record_retired(
    conn: asyncpg.Connection, month: dt.date, partition: str, rows: int, archive: str, sha: str
) -> None:
    await conn.execute(RECORD_RETIRED, month, partition, rows, archive, sha)


async def retired_months(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_RETIRED)
