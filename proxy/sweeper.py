"""Deletes expired reservations: requests that never settled (their process died).

Expired reservations already count for nothing (admission sums only live ones); this only keeps
the table small. Several processes may run it at once: deleting twice is harmless.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.background import running
from proxy.state import DB_POOL

log = logging.getLogger("kaixu.sweeper")

SWEEP_INTERVAL_S = 60.0
SWEEP_EXPIRED = "DELETE FROM reservations WHERE expires_at < now()"


async def _sweep_forever(app: web.Application) -> None:
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_S)
        try:
            await app[DB_POOL].execute(SWEEP_EXPIRED)
        except DB_UNAVAILABLE_ERRORS:
            log.warning("reservation sweep skipped: database unavailable")


async def sweeper_ctx(app: web.Application) -> AsyncIterator[None]:
    async with running(_sweep_forever(app)):
        yield
