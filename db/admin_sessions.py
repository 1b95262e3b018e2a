"""Admin sign-in sessions: one row per token (its keyed hash, never the token), live until it
expires or is ended."""

from __future__ import annotations

import datetime as dt

import asyncpg

LIVE = "revoked_at IS NULL AND expires_at > now()"
SESSION_COLUMNS = "id, created_at, expires_at, address, user_agent"

# Rows a day past their expiry are pruned with each sign-in, so the table stays small.
INSERT_SESSION = """
WITH pruned AS (
    DELETE FROM admin_sessions WHERE expires_at < now() - interval '1 day'
)
INSERT INTO admin_sessions (token_hash, expires_at, address, user_agent)
VALUES ($1, $2, $3, $4)
RETURNING id
"""

SELECT_LIVE_ID = f"SELECT id FROM admin_sessions WHERE token_hash = $1 AND {LIVE}"

SELECT_LIVE = f"""
SELECT {SESSION_COLUMNS}, coalesce(id = $1, false) AS current
FROM admin_sessions WHERE {LIVE}
ORDER BY created_at DESC, id DESC
"""

END_ONE = f"UPDATE admin_sessions SET revoked_at = now() WHERE id = $1 AND {LIVE} RETURNING id"
END_ALL = f"UPDATE admin_sessions SET revoked_at = now() WHERE {LIVE}"


async def create_session(
    conn: asyncpg.Connection,
    token_hash: bytes,
    expires_at: dt.datetime,
    address: str | None,
    user_agent: str | None,
) -> int:
    return await conn.fetchval(INSERT_SESSION, token_hash, expires_at, address, user_agent)


async def live_session_id(conn: asyncpg.Connection, token_hash: bytes) -> int | None:
    return await conn.fetchval(SELECT_LIVE_ID, token_hash)


async def live_sessions(conn: asyncpg.Connection, current_id: int | None) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_LIVE, current_id)


async def end_session(conn: asyncpg.Connection, session_id: int) -> bool:
    """End one live session; False if there is no such live session."""
    return await conn.fetchval(END_ONE, session_id) is not None


async def end_all_sessions(conn: asyncpg.Connection) -> int:
    status = await conn.execute(END_ALL)
    return int(status.split()[-1])
