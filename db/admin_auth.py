"""The admin password throttle: failed attempts per scope (`address:<ip>` or `device:<id>`),
shared by every process, checked and counted under one lock per scope."""

from __future__ import annotations

import asyncpg

# Held to the end of the caller's transaction: the check and the count of concurrent attempts
# on one scope happen one after the other, so N parallel guesses are N counted guesses.
LOCK_SCOPE = "SELECT pg_advisory_xact_lock(hashtextextended('admin-login:' || $1, 0))"

# The `$3`-th most recent failure inside the window decides: while it is younger than the
# window, the scope is blocked, until exactly that failure ages out.
SELECT_BLOCKED_FOR = """
SELECT greatest(ceil(extract(epoch FROM failed_at + make_interval(secs => $2) - now())), 1)::int
FROM admin_login_failures
WHERE scope = $1 AND failed_at > now() - make_interval(secs => $2)
ORDER BY failed_at DESC
OFFSET $3 - 1 LIMIT 1
"""

# Pruning rides along with the (rare) failures, so the table stays small without a job.
INSERT_FAILURE = """
WITH pruned AS (
    DELETE FROM admin_login_failures WHERE failed_at <= now() - make_interval(secs => $2)
)
INSERT INTO admin_login_failures (scope) VALUES ($1)
"""


async def lock_scope(conn: asyncpg.Connection, scope: str) -> None:
    """Call inside a transaction; each statement after it sees what earlier holders wrote."""
    await conn.execute(LOCK_SCOPE, scope)


async def blocked_for(
    conn: asyncpg.Connection, scope: str, *, window_s: int, max_failures: int
) -> int | None:
    """Seconds until `scope` may try a password again, or None if it may now."""
    return await conn.fetchval(SELECT_BLOCKED_FOR, scope, window_s, max_failures)


async def record_failure(conn: asyncpg.Connection, scope: str, *, window_s: int) -> None:
    await conn.execute(INSERT_FAILURE, scope, window_s)
