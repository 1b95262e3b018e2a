"""The application factory: builds the aiohttp app from settings; every resource in cleanup_ctx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from db.pool import DB_UNAVAILABLE_ERRORS, create_pool
from proxy import admin_ui, health, stripe_webhook
from proxy.admin import create_admin_app
from proxy.gateway import native, openai_compat
from proxy.gateway.ledger import Admitter, Settler
from proxy.invalidation import invalidation_ctx
from proxy.metrics import Metrics
from proxy.middleware import observe
from proxy.providers.registry import providers_ctx
from proxy.settings import Settings
from proxy.state import ADMITTER, DB_POOL, METRICS, SETTINGS, SETTLER
from proxy.sweeper import sweeper_ctx

log = logging.getLogger("kaixu.app")

POOL_CONNECT_ATTEMPTS = 30  # one a second: rides out a database that is still starting


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


async def _ledger(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[ADMITTER] = Admitter(
        app[DB_POOL], settings.reservation_ttl_s, settings.gateway_monthly_ceiling_uc
    )
    app[SETTLER] = Settler(app[DB_POOL])
    try:
        yield
    finally:
        await app[SETTLER].drain()  # every answered request's usage is written before exit


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[observe], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_db_pool)
    app.cleanup_ctx.append(_ledger)
    app.cleanup_ctx.append(invalidation_ctx)
    app.cleanup_ctx.append(providers_ctx)
    app.cleanup_ctx.append(sweeper_ctx)
    health.add_routes(app)
    native.add_routes(app)
    openai_compat.add_routes(app)
    stripe_webhook.add_routes(app)
    app.add_subapp("/admin/api/", create_admin_app(settings))
    admin_ui.add_routes(app)  # after the API, so /admin/api/ is matched first
    return app
