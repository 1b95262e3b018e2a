"""Immediate cutoff: when a key is revoked (or rotated) or a customer deactivated, every call
of theirs still running on this process ends within a second, billed for what was produced.

Every process hears of the change through the invalidation channel (proxy.infra.invalidation)
and asks the database whether the change is one that cuts: the notification says only that
something about the key or customer changed. After the listener (re)connects, notifications
may have been missed, so every running call's key is checked once.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from core import errors
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.ledger.running import RunningCalls

log = logging.getLogger("kaixu.cutoff")

# The keys (of those given) that may no longer be used: revoked, or their customer inactive.
SELECT_DEAD_KEYS = """
SELECT k.id FROM api_keys k JOIN customers c ON c.id = k.customer_id
WHERE k.id = ANY($1::text[]) AND (k.revoked_at IS NOT NULL OR NOT c.active)
"""

REVOKED = "This API key was revoked (or rotated) or its customer deactivated; the call was cut off."


class Cutoff:
    def __init__(self, pool: asyncpg.Pool, running: RunningCalls) -> None:
        self._pool = pool
        self._running = running
        self._checks: set[asyncio.Task[None]] = set()

    def changed(self, kind: str, ident: str) -> None:
        """A notification: `key` or `customer` (anything else: check every running call)."""
        if kind == "key":
            keys = self._running.key_ids(key_id=ident)
        elif kind == "customer":
            keys = self._running.key_ids(customer_id=ident)
        else:
            keys = self._running.key_ids()
        if keys:
            task = asyncio.get_running_loop().create_task(self._check(keys))
            self._checks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._checks.discard)

    async def _check(self, key_ids: set[str]) -> None:
        try:
            rows = await self._pool.fetch(SELECT_DEAD_KEYS, list(key_ids))
        except DB_UNAVAILABLE_ERRORS:
            return  # the reconnect that follows checks again
        for row in rows:
            cut = self._running.cut_key(row["id"], errors.Unauthorized(REVOKED))
            log.info("running calls cut off", extra={"key_id": row["id"], "calls": cut})

    async def close(self) -> None:
        for task in list(self._checks):
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)
