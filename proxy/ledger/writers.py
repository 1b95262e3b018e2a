"""The hot path's two database writers, batched (proxy.ledger.batching): admissions before the
upstream call and settlements after it."""

from __future__ import annotations

import asyncio

import asyncpg

from db.gateway import Admission, Settlement, admit_batch, settle_batch
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.ledger.batching import Batcher

SETTLE_ATTEMPTS = 5


class Admitter(Batcher[Admission, asyncpg.Record]):
    """Never retried: an admission that may have reserved must not run twice (its request fails
    with 503 instead, and a reservation left behind expires unused)."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: int, ceiling_uc: int | None) -> None:
        super().__init__(self._admit)
        self._pool, self._ttl_s, self._ceiling_uc = pool, ttl_s, ceiling_uc

    async def _admit(self, items: list[Admission]) -> list[asyncpg.Record]:
        return await admit_batch(self._pool, items, self._ttl_s, self._ceiling_uc)


class Settler(Batcher[Settlement, asyncpg.Record]):
    """Retried (settling is idempotent per reservation); each request is answered only after
    its own usage row is committed."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(self._settle)
        self._pool = pool

    async def _settle(self, items: list[Settlement]) -> list[asyncpg.Record]:
        rows = await self._settle_with_retries(items)
        by_reservation = {row["reservation_id"]: row for row in rows}
        return [by_reservation[item.reservation_id] for item in items]

    async def _settle_with_retries(self, items: list[Settlement]) -> list[asyncpg.Record]:
        delay = 0.1
        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            try:
                return await settle_batch(self._pool, items)
            except (*DB_UNAVAILABLE_ERRORS, asyncpg.TransactionRollbackError):
                # Also deadlocks and serialization failures: the batch rolled back, retry it.
                if attempt == SETTLE_ATTEMPTS:
                    raise
                await asyncio.sleep(delay)
                delay *= 3
        raise AssertionError("unreachable")
