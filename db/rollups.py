"""Usage rollups against the rows they sum: find every difference, and rebuild from the rows.

The triggers of db/sql/rollups.sql keep them equal; this is the proof, and the repair should
anything (a restore, a manual edit with the triggers disabled) have put them apart. Months whose
rows retention archived and dropped (usage_retired_months) keep their rollups and are left out:
their rows are in the archive files."""

from __future__ import annotations

import datetime as dt

import asyncpg

COUNTS = (
    "requests", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens",
    "cost_uc",
)  # fmt: skip
GROUP = ("customer_id", "month", "day", "key_id", "provider", "model")
# The months compared ($1, or all), retired ones aside.
LIVE = "($1::date IS NULL OR month = $1) AND month NOT IN (SELECT month FROM usage_retired_months)"
# Groups where the rollups and the rows disagree (an all-zero rollup row equals no rows).
DIFFERENCES = f"""
SELECT {", ".join(f"coalesce(r.{c}, w.{c}) AS {c}" for c in GROUP)},
       {
    ", ".join(f"coalesce(r.{c}, 0) AS rollup_{c}, coalesce(w.{c}, 0) AS rows_{c}" for c in COUNTS)
}
FROM (SELECT * FROM usage_rollups WHERE {LIVE}) r
FULL JOIN (SELECT * FROM kaixu_rollups_from_rows WHERE {LIVE}) w
    USING ({", ".join(GROUP)})
WHERE {" OR ".join(f"coalesce(r.{c}, 0) <> coalesce(w.{c}, 0)" for c in COUNTS)}
ORDER BY 1, 2, 3, 4, 5, 6
LIMIT $2
"""
# A rebuild holds back settlements (they insert rows) until it commits.
LOCK_ROWS = "LOCK TABLE usage_events IN SHARE MODE"
DELETE_ROLLUPS = f"DELETE FROM usage_rollups WHERE {LIVE}"
INSERT_FROM_ROWS = f"""
INSERT INTO usage_rollups ({", ".join((*GROUP, *COUNTS))})
SELECT * FROM kaixu_rollups_from_rows WHERE {LIVE}
"""


async def differences(
    conn: asyncpg.Connection, month: dt.date | None = None, limit: int = 100
) -> list[asyncpg.Record]:
    """Up to `limit` groups whose rollup is not the sum of their rows (empty: all equal)."""
    return await conn.fetch(DIFFERENCES, month, limit)


async def rebuild(conn: asyncpg.Connection, month: dt.date | None = None) -> int:
    """The rollups of `month` (None: every month) derived again from the rows; how many groups."""
    async with conn.transaction():
        await conn.execute(LOCK_ROWS)
        await conn.execute(DELETE_ROLLUPS, month)
        status = await conn.execute(INSERT_FROM_ROWS, month)
    return int(status.split()[-1])
