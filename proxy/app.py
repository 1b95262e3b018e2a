"""The application factory: builds the aiohttp app from settings. Every resource the app holds
is opened and closed by a cleanup context registered here, in the order they depend on."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from core.errors import Unavailable
from core.settings import Settings
from db import processes
from db.gateway import release_spares
from db.pool import DB_UNAVAILABLE_ERRORS, create_pool
from proxy.admin import create_admin_app
from proxy.http.body_deadline import body_deadline
from proxy.http.middleware import observe
from proxy.infra.alert_delivery import AlertDelivery
from proxy.infra.background import running
from proxy.infra.cache import KeyCache, PriceBook
from proxy.infra.invalidation import Invalidator, reload_prices
from proxy.infra.metrics import Metrics
from proxy.infra.stripe_client import stripe_checkout
from proxy.ledger.admission import Gate
from proxy.ledger.cutoff import Cutoff
from proxy.ledger.journal import Journal
from proxy.ledger.liveness import beat_and_reap
from proxy.ledger.outbox import Outbox
from proxy.ledger.running import RunningCalls
from proxy.ledger.spares import Spares
from proxy.ledger.sweeper import sweep_forever
from proxy.ledger.writers import Admitter, Claimer, Replayer, Settler
from proxy.providers.image_fetch import ImageFetcher
from proxy.routes import (
    admin_ui,
    anthropic_messages,
    gemini_native,
    health,
    key_info,
    native,
    openai_compat,
    openai_responses,
    stripe_webhook,
)
from proxy.state import (
    ALERT_DELIVERY,
    DB_POOL,
    GATE,
    IMAGE_FETCHER,
    KEY_CACHE,
    METRICS,
    PRICE_BOOK,
    PROCESS_ID,
    PROVIDERS,
    READ_POOL,
    RUNNING,
    SETTINGS,
    STRIPE_CHECKOUT,
    UPSTREAMS,
)
from proxy.upkeep.schedule import maintain_forever
from proxy.upstreams.registry import Upstreams

log = logging.getLogger("kaixu.app")

POOL_CONNECT_ATTEMPTS = 30  # one a second: rides out a database that is still starting
LISTENER_FIRST_CONNECT_S = 5
STOPPING = "The gateway is shutting down; the call was ended. Retry to reach another process."


async def _connect(settings: Settings, dsn: str, *, pooled: bool) -> asyncpg.Pool:
    for attempt in range(1, POOL_CONNECT_ATTEMPTS + 1):
        try:
            return await create_pool(
                dsn,
                min_size=settings.db_pool_min,
                max_size=settings.db_pool_max,
                command_timeout=settings.db_command_timeout_s,
                pooled=pooled,
            )
        except DB_UNAVAILABLE_ERRORS:
            if attempt == POOL_CONNECT_ATTEMPTS:
                raise
            log.warning("database not reachable yet, retrying", extra={"attempt": attempt})
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def _db_pool(app: web.Application) -> AsyncIterator[None]:
    """The pool of DATABASE_URL (the hot path, every write), and DATABASE_READ_URL's for the
    admin's heavy reads when it is set (else the same pool)."""
    settings = app[SETTINGS]
    assert settings.database_url, "create_app needs a resolved DATABASE_URL"
    pool = app[DB_POOL] = await _connect(
        settings, settings.database_url, pooled=settings.behind_pgbouncer
    )
    read_pool = pool
    if settings.database_read_url:  # a replica itself, not a pooler (docs/scaling.md)
        read_pool = await _connect(settings, settings.database_read_url, pooled=False)
    app[READ_POOL] = read_pool
    try:
        yield
    finally:
        if read_pool is not pool:
            await read_pool.close()
        await pool.close()


async def _alerts(app: web.Application) -> AsyncIterator[None]:
    """The alert webhooks' delivery worker (woken by _caches's listener): every process runs
    one, and their claims skip each other's rows."""
    settings = app[SETTINGS]
    delivery = app[ALERT_DELIVERY] = AlertDelivery(
        app[DB_POOL],
        app[UPSTREAMS].box,
        timeout_s=settings.alert_webhook_timeout_s,
        retry_base_s=settings.alert_retry_base_s,
        retry_for_s=settings.alert_retry_for_s,
    )
    async with running(delivery.run()):
        yield


async def _caches(app: web.Application) -> AsyncIterator[None]:
    """Load prices, then keep the key and price caches in step with the database (NOTIFY)."""
    pool = app[DB_POOL]
    app[KEY_CACHE] = KeyCache()
    app[PRICE_BOOK] = PriceBook()
    await reload_prices(pool, app[PRICE_BOOK])
    cutoff = Cutoff(pool, app[RUNNING])
    invalidator = Invalidator(
        app[SETTINGS].direct_database_url or "",  # LISTEN needs a session of its own
        pool,
        app[KEY_CACHE],
        app[PRICE_BOOK],
        cutoff.changed,
        reload_upstreams=app[UPSTREAMS].load,
        on_alerts=app[ALERT_DELIVERY].wake,
    )
    try:
        async with running(invalidator.run()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(invalidator.connected.wait(), LISTENER_FIRST_CONNECT_S)
            yield
    finally:
        await cutoff.close()


async def _ledger(app: web.Application) -> AsyncIterator[None]:
    """Admission and settlement; the journal of settlements kept while the database is away
    (replayed, its own and those orphaned by dead processes, from the start); this process's
    heartbeat, which must be in the database before its first reservation."""
    settings = app[SETTINGS]
    pool = app[DB_POOL]
    process_id = app[PROCESS_ID] = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
    journal_dir = settings.data_dir / "journal"
    outbox = Outbox(journal_dir, process_id)
    settler = Settler(pool, Journal(journal_dir, process_id), outbox)
    spares = Spares(release=functools.partial(release_spares, pool))
    claimer = Claimer(pool)
    app[KEY_CACHE].on_evict = spares.forget
    await processes.heartbeat(pool, process_id)
    app[GATE] = Gate(
        admitter=Admitter(
            pool,
            settings.reservation_ttl_s,
            settings.gateway_monthly_ceiling_uc,
            process_id,
            settler.pending,
            spares,
        ),
        settler=settler,
        prices=app[PRICE_BOOK],
        total_timeout_s=settings.upstream_total_timeout_s,
        running=app[RUNNING],
        keys=app[KEY_CACHE],
        spares=spares,
        claimer=claimer,
        metrics=app[METRICS],
    )
    replayer = Replayer(pool, settler)
    async with (
        running(sweep_forever(pool)),
        running(beat_and_reap(pool, process_id, app[UPSTREAMS].health_snapshot)),
        running(replayer.run()),
        running(maintain_forever(pool, settings)),
        running(spares.run()),
    ):
        try:
            yield
        finally:
            await settler.drain()  # every answered request's usage is written or kept
            with contextlib.suppress(*DB_UNAVAILABLE_ERRORS):
                await claimer.drain()
                await spares.close()
    outbox.close()
    settler.journal.close_segment()
    with contextlib.suppress(*DB_UNAVAILABLE_ERRORS):
        await replayer.replay_once()  # what is left stays on disk for the next start
        if not settler.journal.pending():
            await processes.leave(pool, process_id)


async def _stop_running_calls(app: web.Application) -> None:
    """A graceful stop (on_shutdown: the listening socket is closed already): running calls
    get SHUTDOWN_GRACE_S to finish; those still running then end with an `unavailable` error,
    billed for what was produced, and are given a moment to settle."""
    calls = app[RUNNING]
    if await calls.wait_idle(app[SETTINGS].shutdown_grace_s):
        return
    ended = calls.cut_all(Unavailable(STOPPING))
    log.warning("grace period over; running calls ended", extra={"calls": ended})
    await calls.wait_idle(10.0)


async def _providers(app: web.Application) -> AsyncIterator[None]:
    """The upstreams (the environment's and the stored ones: kept current by _caches's
    listener), one Provider per provider name in app[PROVIDERS]."""
    settings = app[SETTINGS]
    upstreams = app[UPSTREAMS] = Upstreams(settings, app[METRICS])
    app[PROVIDERS] = upstreams.providers
    app[IMAGE_FETCHER] = ImageFetcher(
        max_bytes=settings.image_fetch_max_bytes,
        timeout_s=settings.image_fetch_timeout_s,
        allow_http_hosts=settings.image_fetch_allow_hosts,
    )
    try:
        await upstreams.load(app[DB_POOL])
        yield
    finally:
        await upstreams.close()
        await app[IMAGE_FETCHER].close()


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
    app[RUNNING] = RunningCalls()
    app.on_shutdown.append(_stop_running_calls)
    for context in (_db_pool, _providers, _alerts, _caches, _ledger, _stripe):
        app.cleanup_ctx.append(context)
    health.add_routes(app)
    native.add_routes(app)
    openai_compat.add_routes(app)
    key_info.add_routes(app)
    openai_responses.add_routes(app)
    anthropic_messages.add_routes(app)
    gemini_native.add_routes(app)
    stripe_webhook.add_routes(app)
    app.add_subapp("/admin/api/", create_admin_app(settings))
    admin_ui.add_routes(app)  # after the API, so /admin/api/ is matched first
    return app
