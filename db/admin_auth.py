"""The admin password throttle: failed attempts per client address, shared by every process."""

from __future__ import annotations

import asyncpg

# The `$3`-th most recent failure inside the window decides: while it is younger than the
# window, the address is blocked, until exactly that failure ages out.
SELECT_BLOCKED_FOR = """
SELECT greatest(ceil(extract(epoch FROM failed_at + make_interval(secs => $2) - now())), 1)::int
FROM admin_login_failures
WHERE address = $1 AND failed_at > now() - make_interval(secs => $2)
ORDER BY failed_at DESC
OFFSET $3 - 1 LIMIT 1
"""

# Pruning rides along with the (rare) failures, so the table stays small without a job.
INSERT_FAILURE = """
WITH pruned AS (
    DELETE FROM admin_login_failures WHERE failed_at <= now() - make_interval(secs => $2)
)
INSERT INTO admin_login_failures (address) VALUES ($1)
"""


async def blocked_for(
    conn: asyncpg.Connection, address: str, *, window_s: int, max_failures: int
) -> int | None:
    """Seconds until `address` may try a password again, or None if it may now."""
    return await conn.fetchval(SELECT_BLOCKED_FOR, address, window_s, max_failures)


async def record_failure(conn: asyncpg.Connection, address: str, *, window_s: int) -> None:
    await conn.execute(INSERT_FAILURE, address, window_s)
