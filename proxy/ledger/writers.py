"""The hot path's database writers, batched (proxy.ledger.batching): admissions before the
upstream call, the claims of spare reservations beside it, settlements after it; and the
replay of settlements kept in the journal or left in a dead process's outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

import asyncpg

from db.gateway import (
    Admission,
    Claim,
    Settlement,
    admit_batch,
    apply_reaped,
    claim_spares,
    release,
    settle_batch,
)
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.ledger.batching import BatchCancelled, Batcher
from proxy.ledger.journal import Journal
from proxy.ledger.outbox import Outbox, Segment
from proxy.ledger.spares import Spares

log = logging.getLogger("kaixu.settlement")

ROLLBACK_ATTEMPTS = 5  # a deadlock or serialization failure rolled the batch back: retry
SETTLE_TIMEOUT_S = 10.0  # a write that hangs (database unreachable) goes to the journal
REPLAY_BATCH = 500
REPLAY_DELAYS_S = (0.5, 1.0, 2.0, 4.0)  # then every 4 s until the database is back
RESCAN_S = 2.0
MAX_PENDING = 512  # settlements not yet committed before answers wait for theirs
# How long the writers nobody waits for (settlements, claims) hold their first item for the
# next ones (batching.py): a settlement is in the outbox meanwhile and its reservation (never
# less than its cost) still held; a claim's call is in the outbox.
LINGER_S = 0.01


class Admitter(Batcher[Admission, asyncpg.Record]):
    """Never retried: an admission that may have reserved must not run twice (its request fails
    with 503 instead; a reservation left behind belongs to this process, which settles or
    releases it)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        ttl_s: int,
        ceiling_uc: int | None,
        owner: str,
        pending: Mapping[int, int],
        spares: Spares,
    ) -> None:
        """`pending`: the settler's settlements not yet committed (reservation id → cost),
        counted as booked so that answered calls never hold back the next admission; `spares`
        given back go with the next batch."""
        super().__init__(self._admit)
        self._pool, self._ttl_s, self._ceiling_uc, self._owner = pool, ttl_s, ceiling_uc, owner
        self._pending = pending
        self._spares = spares

    async def _admit(self, items: list[Admission]) -> list[asyncpg.Record]:
        released = self._spares.released()
        try:
            return await admit_batch(self._pool, items, self._ttl_s, self._ceiling_uc,
                                     self._owner, self._pending, released)  # fmt: skip
        except BaseException:
            self._spares.give_back(released)
            raise

    async def release(self, reservation_id: int) -> None:
        await release(self._pool, reservation_id)


class Claimer(Batcher[Claim, None]):
    """Marks spares taken, moments after the call went on (it never waits for this): from then
    on a reaper bills the call if this process dies. A claim the database cannot take now is
    covered by the call's outbox line."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(lambda claims: claim_spares(pool, claims), linger_s=LINGER_S)

    def claim_later(self, claim: Claim) -> None:
        def written(future: asyncio.Future[None]) -> None:
            if not future.cancelled() and future.exception() is not None:
                log.warning("spare claim not recorded; the outbox covers the call",
                            extra={"reservation_id": claim.reservation_id})  # fmt: skip

        self.enqueue(claim).add_done_callback(written)


async def _write(pool: asyncpg.Pool, items: list[Settlement]) -> list[asyncpg.Record]:
    """One batch, retried only when it rolled back; DB_UNAVAILABLE_ERRORS go to the caller."""
    for attempt in range(1, ROLLBACK_ATTEMPTS + 1):
        try:
            return await asyncio.wait_for(settle_batch(pool, items), SETTLE_TIMEOUT_S)
        except asyncpg.TransactionRollbackError:
            if attempt == ROLLBACK_ATTEMPTS:
                raise
            await asyncio.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


class Settler(Batcher[Settlement, asyncpg.Record | None]):
    """Settlements are committed in batches after their requests were answered: each waits in
    the outbox until its usage row is committed, or, while the database is unreachable, kept
    durably in the journal for the replayer."""

    def __init__(self, pool: asyncpg.Pool, journal: Journal, outbox: Outbox) -> None:
        super().__init__(self._settle, linger_s=LINGER_S)
        self._pool = pool
        self.journal = journal
        self.outbox = outbox
        self.kept = asyncio.Event()  # set when something was kept: wakes the replayer
        self.pending: dict[int, int] = {}  # reservation id → cost, until the write ended

    @property
    def backlogged(self) -> bool:
        """More settlements waiting than a few batches' worth: callers should wait for theirs
        (the database is slow; never let the backlog, or the admissions that carry it, grow)."""
        return len(self.pending) >= MAX_PENDING

    def hold(self, item: Settlement) -> Segment | None:
        """On disk in the outbox until `settle_later(..., held=)` committed the call's real
        settlement: what a replay bills if this process dies first (item.reaped)."""
        try:
            return self.outbox.add(item)
        except OSError:  # the claim written to the database still covers the call
            log.exception("outbox write failed", extra={"reservation_id": item.reservation_id})
            return None

    def settle_later(
        self, item: Settlement, held: Segment | None = None
    ) -> asyncio.Future[asyncpg.Record | None]:
        """On disk in the outbox now, committed with the next batch; the caller need not wait.
        A write the database refuses (never its being away) is logged with its figures."""
        segment = self.hold(item)  # a failed write: the reservation still stands for the call
        self.pending[item.reservation_id] = item.cost_uc

        def written(future: asyncio.Future[asyncpg.Record | None]) -> None:
            self.pending.pop(item.reservation_id, None)
            if not future.cancelled() and isinstance(future.exception(), BatchCancelled):
                return  # stopping before the write: its outbox lines stay for the next replay
            if segment is not None:
                self.outbox.settled(segment)
            if held is not None:
                self.outbox.settled(held)
            if not future.cancelled() and future.exception() is not None:
                log.error(
                    "settle failed; usage not recorded",
                    exc_info=future.exception(),
                    extra={"request_id": item.request_id, "cost_uc": item.cost_uc,
                           "reservation_id": item.reservation_id},
                )  # fmt: skip

        future = self.enqueue(item)
        future.add_done_callback(written)
        return future

    async def _settle(self, items: list[Settlement]) -> list[asyncpg.Record | None]:
        try:
            rows = await _write(self._pool, items)
        except DB_UNAVAILABLE_ERRORS:
            await asyncio.to_thread(self.journal.keep, items)
            self.kept.set()
            return [None] * len(items)
        by_reservation = {row["reservation_id"]: row for row in rows}
        return [by_reservation[item.reservation_id] for item in items]


class Replayer:
    """Writes what the journal holds, oldest first, retrying until the database takes it."""

    def __init__(self, pool: asyncpg.Pool, settler: Settler) -> None:
        self._pool = pool
        self._settler = settler
        self._journal = settler.journal

    async def run(self) -> None:
        failures = 0
        while True:
            self._settler.kept.clear()
            try:
                await self.replay_once()
                failures = 0
            except DB_UNAVAILABLE_ERRORS:
                await asyncio.sleep(REPLAY_DELAYS_S[min(failures, len(REPLAY_DELAYS_S) - 1)])
                failures += 1
                continue
            # Woken by a new keep; or, for segments a sibling process still holds, a rescan.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._settler.kept.wait(), RESCAN_S)

    async def replay_once(self) -> None:
        """Every segment nobody holds, including this process's own once closed."""
        self._journal.close_segment()
        for path in self._journal.pending():
            with self._journal.claim(path) as items:
                if items is None:
                    continue
                for start in range(0, len(items), REPLAY_BATCH):
                    await self._replay(items[start : start + REPLAY_BATCH])
                log.info("journal segment replayed", extra={"segment": path.name,
                                                            "count": len(items)})  # fmt: skip

    async def _replay(self, items: list[Settlement]) -> None:
        """Calls that may have died with their process first (a reaper's bill), then the
        settlements, which replace such bills with the real figures."""
        try:
            reaped = [item for item in items if item.reaped]
            if reaped:
                await apply_reaped(self._pool, reaped)
            settled = [item for item in items if not item.reaped]
            if settled:
                await _write(self._pool, settled)
        except DB_UNAVAILABLE_ERRORS:
            raise
        except Exception:
            if len(items) == 1:  # it can never be written: say so, keep the others going
                log.exception("journal settlement refused by the database",
                              extra={"reservation_id": items[0].reservation_id})  # fmt: skip
                return
            for item in items:
                await self._replay([item])
