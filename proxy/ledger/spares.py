"""Spare reservations: the next requests of a busy key admitted without a database round trip.

An admission that goes to the database may ask for spares: more reservations of the same
amount, owned by this process like any other (kaixu_reserve grants fewer near a limit, and
none unless 21 fit). A later request of the same key and device whose
estimate fits takes one and goes on at once: its reservation exists already, so the caps hold
exactly as they do for an admission, on any number of processes. How many are asked for
follows the pool's recent demand (none for a key seen once), up to MAX_SPARES. While one
admission asking for spares is on its way, the pool's next requests wait for it and take its
spares rather than each going to the database (under load, a busy key's requests would
otherwise all arrive while its pool is empty: each a full admission of its own).

What a spare skips is checked otherwise: the key and its customer come from the key cache
(every change to them evicts this key's or customer's spares, at once in this process and by
NOTIFY in the others; while the listener is deaf no spare is used), the device was checked by
the admission that made the spares (a device revoke evicts its key), and keys or customers
with a rate limit get none (their every request is counted in the database).

A taken spare is written to the outbox before the upstream call (a `reaped` line: a replay
bills the call as a reaper would, unless its real settlement follows) and marked taken in the
database moments later (`Claimer`); a reaper deletes a dead process's untaken spares and bills
the taken ones. Spares nobody took are given back after LIFETIME_S, when their key or customer
changes, or with the pool's next admission.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.month import MonthState
from db.pool import DB_UNAVAILABLE_ERRORS

log = logging.getLogger("kaixu.spares")

LIFETIME_S = 1.0  # a spare not taken by then is given back
MAX_SPARES = 64
RELEASE_EVERY_S = 0.25

PoolKey = tuple[str, str | None]  # key id, install id


@dataclass(eq=False, slots=True)
class Pool:
    """The spares one admission made for a key and device, and the month as this process
    knows it since: the admission's figures plus the costs of the calls settled from here."""

    key_id: str
    customer_id: str
    amount_uc: int
    month: MonthState
    ids: list[int]
    made_at: float

    def book(self, cost_uc: int) -> None:
        self.month = self.month.after(cost_uc)


@dataclass(slots=True)
class Demand:
    admitted_at: float  # the pool's last admission in the database
    taken: int = 0  # spares taken since, and the requests its refills left without one
    dry_until: float = 0.0  # a refill got none (near a limit): ask for none until then


@dataclass(slots=True)
class Refill:
    """An admission asking for spares of `amount_uc` each, on its way. `granted` resolves to
    how many spares it got (they are in the pool by then), or None if the database could not
    be reached."""

    key_id: str
    customer_id: str
    amount_uc: int
    granted: asyncio.Future[int | None]
    waiting: int = 0  # requests waiting for its spares
    # Its key or customer changed while it was on its way: what it got predates the change,
    # so its spares are given back, not pooled.
    forgotten: bool = False


@dataclass(eq=False)
class Spares:
    release: Callable[[list[int]], Awaitable[None]]
    _pools: dict[PoolKey, Pool] = field(default_factory=dict)
    _demand: dict[PoolKey, Demand] = field(default_factory=dict)
    _refills: dict[PoolKey, Refill] = field(default_factory=dict)
    _released: list[int] = field(default_factory=list)  # to delete with the next statement

    def take(
        self, key_id: str, install_id: str | None, estimate_uc: int
    ) -> tuple[int, Pool] | None:
        """A spare for this request, if one is held and big enough."""
        pool = self._pools.get((key_id, install_id))
        if pool is None or not pool.ids or estimate_uc > pool.amount_uc:
            return None
        if asyncio.get_running_loop().time() - pool.made_at > LIFETIME_S:
            return None  # the release task gives it back
        demand = self._demand.get((key_id, install_id))
        if demand is not None:
            demand.taken += 1
        return pool.ids.pop(), pool

    def refilling(self, key_id: str, install_id: str | None, estimate_uc: int) -> Refill | None:
        """The admission on its way that asks for spares this request could take, if any;
        the caller waits for it (counted in `waiting` until it gives up)."""
        refill = self._refills.get((key_id, install_id))
        if refill is None or refill.forgotten or estimate_uc > refill.amount_uc:
            return None
        refill.waiting += 1
        return refill

    def wanted(self, key_id: str, customer_id: str, install_id: str | None, amount_uc: int) -> int:
        """How many spares this pool's admission should ask for: twice what was taken since
        the last one (and what its waiters lacked), if that was recent; none while another
        admission is refilling it, or for a while after one got none. One that asks is the
        pool's refill (`refilling`) until `refilled`."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        pool_key = (key_id, install_id)
        demand = self._demand.get(pool_key)
        if demand is None or now - demand.admitted_at > LIFETIME_S:
            self._demand[pool_key] = Demand(admitted_at=now)
            return 0
        if pool_key in self._refills or now < demand.dry_until:
            return 0
        wanted = min(MAX_SPARES, 2 * (demand.taken + 1))
        demand.admitted_at, demand.taken = now, 0
        self._refills[pool_key] = Refill(key_id, customer_id, amount_uc, loop.create_future())
        return wanted

    def refilled(
        self, key_id: str, install_id: str | None, granted: int | None, unreachable: bool
    ) -> None:
        """The pool's refill is over: it got `granted` spares (None: it failed or was cancelled
        before the database answered; `unreachable`: because the database could not be
        reached). Its waiters go on; those of a forgotten one find nothing and admit
        themselves."""
        pool_key = (key_id, install_id)
        refill = self._refills.pop(pool_key, None)
        if refill is None:
            return
        if refill.forgotten and granted:  # given back (adopt): its waiters got none
            granted = None
        refill.granted.set_result(None if unreachable else granted or 0)
        demand = self._demand.get(pool_key)
        if demand is None:
            return
        if granted == 0:
            demand.dry_until = asyncio.get_running_loop().time() + LIFETIME_S
        # Waiters it cannot serve are demand the next refill must meet (the first of them
        # makes it, the others wait for it).
        demand.taken += max(refill.waiting - (granted or 0), 0)

    def leftovers(self, key_id: str, install_id: str | None) -> None:
        """The pool is going to the database anyway: its untaken spares go back with it."""
        pool = self._pools.pop((key_id, install_id), None)
        if pool is not None:
            self._released.extend(pool.ids)

    def adopt(
        self, key_id: str, customer_id: str, install_id: str | None, amount_uc: int,
        month: MonthState, ids: list[int],
    ) -> Pool:  # fmt: skip
        """The pool the admission just made (its own call books into it too)."""
        refill = self._refills.get((key_id, install_id))
        if refill is not None and refill.forgotten:  # made before its key or customer changed
            self._released.extend(ids)
            ids = []
        pool = Pool(key_id, customer_id, amount_uc, month, ids,
                    asyncio.get_running_loop().time())  # fmt: skip
        old = self._pools.get((key_id, install_id))
        if ids:
            if old is not None:
                self._released.extend(old.ids)
            self._pools[(key_id, install_id)] = pool
        return pool

    def released(self) -> list[int]:
        """The spares given back since the last call, for the caller's statement to delete
        (`give_back` them if that statement fails)."""
        ids, self._released = self._released, []
        return ids

    def give_back(self, ids: list[int]) -> None:
        self._released.extend(ids)

    def forget(self, kind: str, ident: str) -> None:
        """A key (`key`), a customer (`customer`) or everything (`all`) changed: no spare made
        before may be taken."""

        def changed(key_id: str, customer_id: str) -> bool:
            return (
                kind == "all"
                or (kind == "key" and key_id == ident)
                or (kind == "customer" and customer_id == ident)
            )

        for pool_key, pool in list(self._pools.items()):
            if changed(pool.key_id, pool.customer_id):
                del self._pools[pool_key]
                self._released.extend(pool.ids)
        for refill in self._refills.values():  # what they bring back predates the change
            if changed(refill.key_id, refill.customer_id):
                refill.forgotten = True

    def _expire(self) -> None:
        now = asyncio.get_running_loop().time()
        for pool_key, pool in list(self._pools.items()):
            if now - pool.made_at > LIFETIME_S:
                del self._pools[pool_key]
                self._released.extend(pool.ids)
        for pool_key, demand in list(self._demand.items()):
            if now - demand.admitted_at > 10 * LIFETIME_S:
                del self._demand[pool_key]

    async def flush(self) -> None:
        ids = self.released()
        if not ids:
            return
        try:
            await self.release(ids)
        except BaseException:
            self.give_back(ids)
            raise

    async def run(self) -> None:
        """Give back what expired or was forgotten, every RELEASE_EVERY_S."""
        while True:
            await asyncio.sleep(RELEASE_EVERY_S)
            self._expire()
            try:
                await self.flush()
            except DB_UNAVAILABLE_ERRORS:
                pass  # kept for the next round
            except Exception:
                log.exception("spares release failed")

    async def close(self) -> None:
        """On a clean stop: every untaken spare goes back."""
        self.forget("all", "")
        await self.flush()
