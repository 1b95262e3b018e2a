"""Cross-process cache invalidation: LISTEN on `kaixu_invalidate`, evict what a payload names.

Payloads: `key:<id>`, `customer:<id>`, `prices`, `upstreams`. After every (re)connection
everything is reloaded, since notifications sent while this process was not listening are lost.
The same connection LISTENs on `kaixu_alerts` (a settlement fired an alert: wake the delivery
worker; its own poll covers what is missed), a channel of its own so that older processes,
which evict everything on a payload they do not know, never hear it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import asyncpg

from core.pricing import PriceTable
from db.pool import DB_UNAVAILABLE_ERRORS
from db.prices import alias_map, fetch_prices, price_from_row
from proxy.infra.cache import KeyCache, PriceBook

# Told of every key/customer notification (kind, id), and ("all", "") after a (re)connect:
# the cutoff of running calls (proxy.ledger.cutoff).
ChangeListener = Callable[[str, str], None]

log = logging.getLogger("kaixu.invalidation")

CHANNEL = "kaixu_invalidate"
ALERTS_CHANNEL = "kaixu_alerts"
LISTENER_NAME = "kaixu-invalidation"  # application_name of the LISTEN connection
HEALTH_CHECK_S = 2.0  # how often a quiet listener connection proves it is still alive
RECONNECT_DELAY_S = 0.5


async def reload_prices(pool: asyncpg.Pool, book: PriceBook) -> None:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        rows = await fetch_prices(conn)  # the prices and the aliases of one moment
        aliases = await alias_map(conn)
    book.table = PriceTable([price_from_row(row) for row in rows], aliases)


class Invalidator:
    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        keys: KeyCache,
        prices: PriceBook,
        on_change: ChangeListener | None = None,
        reload_upstreams: Callable[[asyncpg.Pool], Awaitable[None]] | None = None,
        on_alerts: Callable[[], None] | None = None,
    ) -> None:
        self.dsn, self.pool, self.keys, self.prices = dsn, pool, keys, prices
        self.on_alerts = on_alerts
        self.on_change = on_change
        self.reload_upstreams = reload_upstreams
        self.connected = asyncio.Event()
        self._reloads: set[asyncio.Task[None]] = set()

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        kind, _, ident = payload.partition(":")
        if kind == "key":
            self.keys.evict_key(ident)
        elif kind == "customer":
            self.keys.evict_customer(ident)
        if kind in ("key", "customer") and self.on_change is not None:
            self.on_change(kind, ident)
        elif kind == "prices":
            self._reload(self._reload_prices())
        elif kind == "upstreams":
            self._reload(self._reload_upstreams())
        elif kind not in ("key", "customer"):
            self.keys.clear()

    def _on_alerts(self, *_: object) -> None:
        if self.on_alerts is not None:
            self.on_alerts()

    def _reload(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._reloads.add(task)  # keep a reference until it is done
        task.add_done_callback(self._reloads.discard)

    async def _reload_prices(self) -> None:
        try:
            await reload_prices(self.pool, self.prices)
        except Exception:
            log.exception("price reload failed; will retry on reconnect")

    async def _reload_upstreams(self) -> None:
        if self.reload_upstreams is None:
            return
        try:
            await self.reload_upstreams(self.pool)
        except Exception:
            log.exception("upstream reload failed; will retry on reconnect")

    async def run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    self.dsn, timeout=5, server_settings={"application_name": LISTENER_NAME}
                )
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notify)
                if self.on_alerts is not None:
                    await conn.add_listener(ALERTS_CHANNEL, self._on_alerts)
                # Listening from here on; what changed before is picked up by a full reload.
                self.keys.clear()
                await reload_prices(self.pool, self.prices)
                if self.reload_upstreams is not None:
                    await self.reload_upstreams(self.pool)
                self.keys.live = True
                self.connected.set()
                if self.on_change is not None:
                    self.on_change("all", "")
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), HEALTH_CHECK_S)
                        break
                    await conn.fetchval("SELECT 1", timeout=HEALTH_CHECK_S)
            except DB_UNAVAILABLE_ERRORS:
                pass
            except Exception:  # e.g. too many connections: never stop listening for good
                log.exception("invalidation listener failed")
            finally:
                self.keys.live = False  # deaf: bypass the cache until listening again
                self.keys.clear()
                self.connected.clear()
                if conn is not None:
                    conn.terminate()
            log.warning("invalidation listener disconnected; reconnecting")
            await asyncio.sleep(RECONNECT_DELAY_S)
