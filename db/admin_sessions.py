"""Admin sign-in sessions: one row per token (its keyed hash, never the token), live until it
expires or is ended."""

from __future__ import annotations

import datetime as dt

import asyncpg

LIVE = "revoked_at IS NULL AND expires_at > now()"
SESSION_COLUMNS = "s.id, s.created_at, s.expires_at, s.address, s.user_agent, a.email"
LIVE_JOINED = (
    "s.revoked_at IS NULL AND s.expires_at > now()"
    " AND (s.admin_id IS NULL OR a.disabled_at IS NULL)"
)

# Rows a day past their expiry are pruned with each sign-in, so the table stays small.
INSERT_SESSION = """
WITH pruned AS (
    DELETE FROM admin_sessions WHERE expires_at < now() - interval '1 day'
)
INSERT INTO admin_sessions (token_hash, expires_at, address, user_agent, admin_id)
VALUES ($1, $2, $3, $4, $5)
RETURNING id
"""

# The session and who holds it: an account's session dies with the account's disabling.
SELECT_LIVE_ONE = f"""
SELECT s.id, s.admin_id, a.email, coalesce(a.role, 'owner') AS role
FROM admin_sessions s LEFT JOIN admins a ON a.id = s.admin_id
WHERE s.token_hash = $1 AND {LIVE_JOINED}
"""

# $2 NULL: every account's sessions; otherwise only that account's ($2 = 0: the bootstrap's).
SELECT_LIVE = f"""
SELECT {SESSION_COLUMNS}, coalesce(s.id = $1, false) AS current
FROM admin_sessions s LEFT JOIN admins a ON a.id = s.admin_id
WHERE {LIVE_JOINED} AND ($2::bigint IS NULL OR coalesce(s.admin_id, 0) = $2)
ORDER BY s.created_at DESC, s.id DESC
"""
SELECT_OWNER = "SELECT coalesce(admin_id, 0) FROM admin_sessions WHERE id = $1"

END_ONE = f"UPDATE admin_sessions SET revoked_at = now() WHERE id = $1 AND {LIVE} RETURNING id"
END_ALL = f"UPDATE admin_sessions SET revoked_at = now() WHERE {LIVE}"
END_ACCOUNT = f"""
UPDATE admin_sessions SET revoked_at = now()
WHERE admin_id = $1 AND {LIVE} AND ($2::bigint IS NULL OR id <> $2)
"""


async def create_session(
    conn: asyncpg.Connection,
    token_hash: bytes,
    expires_at: dt.datetime,
    address: str | None,
    user_agent: str | None,
    admin_id: int | None,
) -> int:
    return await conn.fetchval(
        INSERT_SESSION, token_hash, expires_at, address, user_agent, admin_id
    )


async def live_session(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """The live session of that token (id, admin_id, email, role), or None."""
    return await conn.fetchrow(SELECT_LIVE_ONE, token_hash)


async def live_sessions(
    conn: asyncpg.Connection, current_id: int | None, holder: int | None
) -> list[asyncpg.Record]:
    """Live sessions, newest first: every one (`holder` None) or one holder's (0: bootstrap)."""
    return await conn.fetch(SELECT_LIVE, current_id, holder)


async def session_holder(conn: asyncpg.Connection, session_id: int) -> int | None:
    """The account id a session belongs to (0: the bootstrap owner), None if no such session."""
    return await conn.fetchval(SELECT_OWNER, session_id)


async def end_account_sessions(
    conn: asyncpg.Connection, admin_id: int, keep: int | None = None
) -> int:
    """End an account's live sessions, but `keep` (the caller's own, after a password change)."""
    status = await conn.execute(END_ACCOUNT, admin_id, keep)
    return int(status.split()[-1])


async def end_session(conn: asyncpg.Connection, session_id: int) -> bool:
    """End one live session; False if there is no such live session."""
    return await conn.fetchval(END_ONE, session_id) is not None


async def end_all_sessions(conn: asyncpg.Connection) -> int:
    status = await conn.execute(END_ALL)
    return int(status.split()[-1])
