"""Natural batching: whatever is submitted while the previous batch is in flight goes next.

At low load a batch holds one item and nothing waits; under load, every request arriving at
the same moment shares one database round trip (and one transaction, one WAL flush). A writer
nobody waits for (settlements, claims) may also *linger*: hold its first item a few
milliseconds so that the items of the next requests share its round trip even at low load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from db.pool import DB_UNAVAILABLE_ERRORS

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 500


class BatchCancelled(RuntimeError):
    """The writer was cancelled (the process is stopping) before the item was applied: its
    outcome is unknown, so whatever keeps it on disk must keep it there."""


async def _all_done(futures: list[asyncio.Future[Result]]) -> None:
    if futures:
        await asyncio.wait(futures)


class Batcher(Generic[Item, Result]):
    """`apply(items)` answers one result per item, in the same order, in one transaction."""

    def __init__(
        self, apply: Callable[[list[Item]], Awaitable[list[Result]]], linger_s: float = 0.0
    ) -> None:
        self._apply = apply
        self._linger_s = linger_s
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._in_flight: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The item's result. The batch goes on even if the caller is cancelled meanwhile."""
        # A caller cancelled meanwhile cancels only its wait: the worker still applies the item
        # (and skips the result of a cancelled future).
        return await self.enqueue(item)

    def enqueue(self, item: Item) -> asyncio.Future[Result]:
        """Queue the item for the next batch; its result, for whoever wants to wait."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        return future

    async def _work(self) -> None:
        while True:
            if self._linger_s and len(self._queue) < MAX_BATCH:
                try:
                    await asyncio.sleep(self._linger_s)  # before each batch: at c=1 too
                except BaseException as exc:
                    self._fail(self._queue, exc)
                    self._queue = []
                    raise
            if not self._queue:
                return
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._in_flight = batch
            try:
                await self._run(batch)
            except BaseException as exc:
                self._fail(batch, exc)
                raise

    @staticmethod
    def _fail(batch: list[tuple[Item, asyncio.Future[Result]]], exc: BaseException) -> None:
        """Cancelled (shutdown): nobody may wait forever."""
        for _, future in batch:
            if not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else
                                     BatchCancelled("batch cancelled"))  # fmt: skip

    async def _run(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._apply([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError("a batch answered the wrong number of results")
        except DB_UNAVAILABLE_ERRORS as exc:  # failed whole: one by one would fail again
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
            # The transaction rolled back whole: run the items one by one, so a single bad
            # item fails alone instead of taking the others down with it.
            for one in batch:
                await self._run([one])
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    def caught_up(self) -> Awaitable[None]:
        """Until every item submitted before this call is applied, not those submitted later
        (a steady load cannot starve the caller); cancelling the wait cancels nothing else."""
        waiting = [future for _, future in (*self._in_flight, *self._queue) if not future.done()]
        return _all_done(waiting)

    async def drain(self) -> None:
        """Wait until everything submitted so far is applied (on shutdown)."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)
