"""The application factory: builds the aiohttp app from settings. Every resource the app holds
is opened and closed by a cleanup context registered here, in the order they depend on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from core.settings import Settings
from db.pool import DB_UNAVAILABLE_ERRORS, create_pool
from proxy.admin import create_admin_app
from proxy.http.body_deadline import body_deadline
from proxy.http.middleware import observe
from proxy.infra.background import running
from proxy.infra.cache import KeyCache, PriceBook
from proxy.infra.invalidation import Invalidator, reload_prices
from proxy.infra.metrics import Metrics
from proxy.infra.stripe_client import stripe_checkout
from proxy.ledger.admission import Gate
from proxy.ledger.sweeper import sweep_forever
from proxy.ledger.writers import Admitter, Settler
from proxy.providers.registry import build_providers
from proxy.routes import admin_ui, health, native, openai_compat, stripe_webhook
from proxy.state import (
    DB_POOL,
    GATE,
    KEY_CACHE,
    METRICS,
    PRICE_BOOK,
    PROVIDERS,
    SETTINGS,
    STRIPE_CHECKOUT,
)

log = logging.getLogger("kaixu.app")

POOL_CONNECT_ATTEMPTS = 30  # one a second: rides out a database that is still starting
LISTENER_FIRST_CONNECT_S = 5


async def _db_pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    assert settings.database_url, "create_app needs a resolved DATABASE_URL"
    for attempt in range(1, POOL_CONNECT_ATTEMPTS + 1):
        try:
            pool = await create_pool(
                settings.database_url,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                command_timeout=settings.db_command_timeout_s,
            )
            break
        except DB_UNAVAILABLE_ERRORS:
            if attempt == POOL_CONNECT_ATTEMPTS:
                raise
            log.warning("database not reachable yet, retrying", extra={"attempt": attempt})
            await asyncio.sleep(1)
    app[DB_POOL] = pool
    try:
        yield
    finally:
        await pool.close()


async def _caches(app: web.Application) -> AsyncIterator[None]:
    """Load prices, then keep the key and price caches in step with the database (NOTIFY)."""
    pool = app[DB_POOL]
    app[KEY_CACHE] = KeyCache()
    app[PRICE_BOOK] = PriceBook()
    await reload_prices(pool, app[PRICE_BOOK])
    invalidator = Invalidator(
        app[SETTINGS].database_url or "", pool, app[KEY_CACHE], app[PRICE_BOOK]
    )
    async with running(invalidator.run()):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(invalidator.connected.wait(), LISTENER_FIRST_CONNECT_S)
        yield


async def _ledger(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    pool = app[DB_POOL]
    settler = Settler(pool)
    app[GATE] = Gate(
        admitter=Admitter(pool, settings.reservation_ttl_s, settings.gateway_monthly_ceiling_uc),
        settler=settler,
        prices=app[PRICE_BOOK],
        total_timeout_s=settings.upstream_total_timeout_s,
    )
    try:
        async with running(sweep_forever(pool)):
            yield
    finally:
        await settler.drain()  # every answered request's usage is written before exit


async def _providers(app: web.Application) -> AsyncIterator[None]:
    app[PROVIDERS] = build_providers(app[SETTINGS])
    try:
        yield
    finally:
        for provider in app[PROVIDERS].values():
            await provider.close()


async def _stripe(app: web.Application) -> AsyncIterator[None]:
    async with stripe_checkout(app[SETTINGS]) as checkout:
        if checkout is not None:
            app[STRIPE_CHECKOUT] = checkout
        yield


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[observe, body_deadline], client_max_size=settings.max_body_bytes
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    for context in (_db_pool, _caches, _ledger, _providers, _stripe):
        app.cleanup_ctx.append(context)
    health.add_routes(app)
    native.add_routes(app)
    openai_compat.add_routes(app)
    stripe_webhook.add_routes(app)
    app.add_subapp("/admin/api/", create_admin_app(settings))
    admin_ui.add_routes(app)  # after the API, so /admin/api/ is matched first
    return app
