"""The calls this process is serving right now, by key and customer: what a revocation cuts off
(proxy.ledger.cutoff) and what a graceful stop waits for, then ends."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from core import errors

if TYPE_CHECKING:
    from proxy.ledger.call import Call


class RunningCalls:
    def __init__(self) -> None:
        self._calls: set[Call] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, call: Call) -> None:
        self._calls.add(call)
        self._idle.clear()

    def discard(self, call: Call) -> None:
        self._calls.discard(call)
        if not self._calls:
            self._idle.set()

    def key_ids(self, *, key_id: str | None = None, customer_id: str | None = None) -> set[str]:
        """The keys of the running calls, of one key or customer if given."""
        return {
            c.policy.key_id
            for c in self._calls
            if (key_id is None or c.policy.key_id == key_id)
            and (customer_id is None or c.policy.customer_id == customer_id)
        }

    def cut_key(self, key_id: str, reason: errors.GatewayError) -> int:
        return self._cut([c for c in self._calls if c.policy.key_id == key_id], reason)

    def cut_all(self, reason: errors.GatewayError) -> int:
        return self._cut(list(self._calls), reason)

    @staticmethod
    def _cut(calls: list[Call], reason: errors.GatewayError) -> int:
        for call in calls:
            call.cut(reason)
        return len(calls)

    async def wait_idle(self, timeout_s: float) -> bool:
        """True once no call is running, False if `timeout_s` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True
