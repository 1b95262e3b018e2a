"""Per-process caches of keys and prices, kept true by PostgreSQL NOTIFY (proxy.infra.invalidation).

While the invalidation listener is disconnected the key cache is bypassed (every lookup goes
to the database), so a missed notification can never leave a stale policy in force.
"""

from __future__ import annotations

from collections.abc import Callable

from core.policy import KeyPolicy
from core.pricing import PriceTable

# Told of every eviction: ("key", id), ("customer", id) or ("all", ""). What else this process
# holds on a key's behalf (its spare reservations: proxy.ledger.spares) goes with it.
Evicted = Callable[[str, str], None]


class KeyCache:
    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: dict[str, KeyPolicy] = {}
        self._max_entries = max_entries
        self.generation = 0  # bumped by every invalidation: a fetch that raced one is dropped
        self.live = False
        self.on_evict: Evicted | None = None

    def get(self, key_id: str) -> KeyPolicy | None:
        return self._entries.get(key_id) if self.live else None

    def put(self, policy: KeyPolicy, fetched_at_generation: int) -> None:
        if not self.live or fetched_at_generation != self.generation:
            return
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[policy.key_id] = policy

    def evict_key(self, key_id: str) -> None:
        self.generation += 1
        self._entries.pop(key_id, None)
        self._evicted("key", key_id)

    def evict_customer(self, customer_id: str) -> None:
        self.generation += 1
        for key_id in [k for k, p in self._entries.items() if p.customer_id == customer_id]:
            del self._entries[key_id]
        self._evicted("customer", customer_id)

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._evicted("all", "")

    def _evicted(self, kind: str, ident: str) -> None:
        if self.on_evict is not None:
            self.on_evict(kind, ident)


class PriceBook:
    """The current price table; replaced whole when the table changes."""

    def __init__(self) -> None:
        self.table = PriceTable([])
