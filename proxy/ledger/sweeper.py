"""Deletes expired reservations: requests that never settled (their process died).

Expired reservations already count for nothing (admission sums only live ones); this only keeps
the table small. Several processes may run it at once: deleting twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from db.pool import DB_UNAVAILABLE_ERRORS

log = logging.getLogger("kaixu.sweeper")

SWEEP_INTERVAL_S = 60.0
SWEEP_EXPIRED = "DELETE FROM reservations WHERE expires_at < now()"


async def sweep_forever(pool: asyncpg.Pool) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            await pool.execute(SWEEP_EXPIRED)
        except DB_UNAVAILABLE_ERRORS:
            log.warning("reservation sweep skipped: database unavailable")
