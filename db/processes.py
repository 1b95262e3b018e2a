"""Live gateway processes: each heart-beats its row; the reservations of one that stopped are
settled by the others (kaixu_reap in db/sql/ledger.sql)."""

from __future__ import annotations

from typing import Any

import asyncpg

HEARTBEAT = """
INSERT INTO gateway_processes AS p (id, upstream_health) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), upstream_health = excluded.upstream_health
"""
REAP = "SELECT kaixu_reap($1, $2)"
# A process silent for an hour holds no reservation (they were reaped): forget it.
FORGET_SILENT = "DELETE FROM gateway_processes WHERE heartbeat_at < now() - interval '1 hour'"
LEAVE = "DELETE FROM gateway_processes WHERE id = $1"


async def heartbeat(
    pool: asyncpg.Pool, process_id: str, upstream_health: dict[str, Any] | None = None
) -> None:
    """`upstream_health`: this process's recent view of its upstreams (proxy/upstreams)."""
    await pool.execute(HEARTBEAT, process_id, upstream_health)


async def reap(pool: asyncpg.Pool, process_id: str, stale_s: float) -> int:
    """Settle up to 500 reservations of dead processes; how many were settled."""
    async with pool.acquire() as conn, conn.transaction():
        settled = await conn.fetchval(REAP, process_id, stale_s)
        await conn.execute(FORGET_SILENT)
    return settled


async def leave(pool: asyncpg.Pool, process_id: str) -> None:
    """A process stopping gracefully: it holds no reservation any more."""
    await pool.execute(LEAVE, process_id)
