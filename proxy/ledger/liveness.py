"""This process's heartbeat, and the reaping of dead processes' reservations.

Every process writes its heartbeat each second. A reservation whose owner has not beaten for
STALE_S is settled by another process as one `aborted` row at its input estimate (kaixu_reap),
so a crashed process's customers get their headroom back within seconds instead of waiting for
the reservation to expire. A process reaps only after it has itself beaten for STALE_S without
a miss: when the database comes back after an outage, every live process has beaten again
before anyone judges them dead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from db import processes
from db.pool import DB_UNAVAILABLE_ERRORS

log = logging.getLogger("kaixu.liveness")

HEARTBEAT_S = 1.0
STALE_S = 5.0
REAP_EVERY_S = 2.0


async def beat_and_reap(
    pool: asyncpg.Pool, process_id: str, health: Callable[[], dict[str, Any]] | None = None
) -> None:
    """`health`: what the heartbeat carries of this process's upstreams."""
    loop = asyncio.get_running_loop()
    healthy_since: float | None = None
    last_reap = 0.0
    while True:
        try:
            await processes.heartbeat(pool, process_id, health() if health else None)
            now = loop.time()
            healthy_since = now if healthy_since is None else healthy_since
            if now - healthy_since >= STALE_S and now - last_reap >= REAP_EVERY_S:
                last_reap = now
                reaped = await processes.reap(pool, process_id, STALE_S)
                if reaped:
                    log.warning("reservations of stopped processes settled",
                                extra={"count": reaped})  # fmt: skip
        except DB_UNAVAILABLE_ERRORS:
            healthy_since = None
        except Exception:  # never stop beating for good
            log.exception("heartbeat or reap failed")
        await asyncio.sleep(HEARTBEAT_S)
