"""Background tasks that live exactly as long as the application (started and cancelled in a
cleanup_ctx)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any

CANCEL_AGAIN_S = 1.0


@contextlib.asynccontextmanager
async def running(work: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    """Run `work` in a task for the duration of the block; cancel it and wait on the way out."""
    task = asyncio.create_task(work)
    try:
        yield task
    finally:
        # Cancelled again until it ends: a cancellation that met a failure at the same moment
        # can be lost inside asyncio.wait_for (Python 3.11), and the loop would go on for good.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=CANCEL_AGAIN_S)
        with contextlib.suppress(asyncio.CancelledError):
            await task
