"""Settlements in batches: while one batch is being written, the next one gathers.

At low load a batch holds one request and nothing waits; under load, every request settling
at the same moment shares one transaction and one WAL flush. Each request still gets its
answer only after its own usage row is committed.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from db.gateway import Settlement, settle_batch
from db.pool import DB_UNAVAILABLE_ERRORS

log = logging.getLogger("kaixu.settler")

ATTEMPTS = 5
MAX_BATCH = 500

Waiting = tuple[Settlement, "asyncio.Future[asyncpg.Record]"]


class Settler:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._queue: list[Waiting] = []
        self._writer: asyncio.Task[None] | None = None

    async def settle(self, item: Settlement) -> asyncpg.Record:
        """The customer's month after this settlement. Survives the caller's cancellation."""
        future: asyncio.Future[asyncpg.Record] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await asyncio.shield(future)

    async def _write_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._write(batch)

    async def _write(self, batch: list[Waiting]) -> None:
        try:
            rows = await self._write_with_retries([item for item, _ in batch])
        except Exception as exc:
            # The reservations stay held until they expire; the log keeps the figures.
            for item, future in batch:
                log.error(
                    "settle failed; usage not recorded",
                    extra={"request_id": item.request_id, "cost_uc": item.cost_uc,
                           "reservation_id": item.reservation_id},
                )  # fmt: skip
                if not future.done():
                    future.set_exception(exc)
            return
        by_reservation = {row["reservation_id"]: row for row in rows}
        for item, future in batch:
            if not future.done():
                future.set_result(by_reservation[item.reservation_id])

    async def _write_with_retries(self, items: list[Settlement]) -> list[asyncpg.Record]:
        # kaixu_settle_batch is idempotent per reservation: a retry after a lost reply is safe.
        delay = 0.1
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await settle_batch(self._pool, items)
            except DB_UNAVAILABLE_ERRORS:
                if attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(delay)
                delay *= 3
        raise AssertionError("unreachable")

    async def drain(self) -> None:
        """Wait for every queued settlement (on shutdown, after the last request)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)
