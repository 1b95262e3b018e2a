"""Natural batching: whatever is submitted while the previous batch is in flight goes next.

At low load a batch holds one item and nothing waits; under load, every request arriving at
the same moment shares one database round trip (and one transaction, one WAL flush).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_BATCH = 500


class Batcher(Generic[Item, Result]):
    """`apply(items)` answers one result per item, in the same order."""

    def __init__(self, apply: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._apply = apply
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """The item's result. The batch goes on even if the caller is cancelled meanwhile."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())
        return await asyncio.shield(future)

    async def _work(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                results = await self._apply([item for item, _ in batch])
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def drain(self) -> None:
        """Wait until everything submitted so far is applied (on shutdown)."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)
