"""The usage table's upkeep while the gateway runs: monthly partitions made ahead, and
retention (when USAGE_RETENTION_MONTHS is set) once a day.

Every process runs it; the partitions' advisory lock and retention's make them take turns, so
several gateways on one database do each thing once.
"""

from __future__ import annotations

import asyncio
import logging
import time

import asyncpg

from core.settings import Settings
from db.partitioning import PARTITIONS_AHEAD
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.upkeep import retention

log = logging.getLogger("kaixu.maintenance")

INTERVAL_S = 3600.0
RETENTION_EVERY_S = 86400.0


async def ensure_partitions(pool: asyncpg.Pool) -> int:
    """This month's partition and the next PARTITIONS_AHEAD months'; how many were created.
    CREATE TABLE ... PARTITION OF locks usage_events for a moment: within a second or not now."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '1s'")
        return await conn.fetchval("SELECT kaixu_usage_partitions_ensure($1)", PARTITIONS_AHEAD)


async def maintain_forever(pool: asyncpg.Pool, settings: Settings) -> None:
    last_retention = time.monotonic()  # the first run a day after start, not during it
    while True:
        await asyncio.sleep(INTERVAL_S)
        try:
            if created := await ensure_partitions(pool):
                log.info("usage partitions created", extra={"partitions": created})
            if (
                settings.usage_retention_months
                and time.monotonic() - last_retention >= RETENTION_EVERY_S
            ):
                last_retention = time.monotonic()
                outcome = await retention.retire(
                    settings.direct_database_url or "",
                    settings.usage_retention_months,
                    settings.archive_dir,
                )
                for name, why in outcome.waiting.items():
                    log.warning("usage partition kept", extra={"partition": name, "why": why})
        except (*DB_UNAVAILABLE_ERRORS, asyncpg.LockNotAvailableError):
            log.warning("usage table upkeep skipped: database unavailable or busy")
        except Exception:  # never stop for good
            log.exception("usage table upkeep failed")
