"""Typed keys for everything the application and a request hold; app-wide state lives only
here (filled in by the cleanup contexts of proxy.app)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from core.settings import Settings
from proxy.infra.alert_delivery import AlertDelivery
from proxy.infra.cache import KeyCache, PriceBook
from proxy.infra.metrics import Metrics
from proxy.infra.stripe_client import StripeCheckout
from proxy.ledger.admission import Gate
from proxy.ledger.running import RunningCalls
from proxy.providers.base import Provider
from proxy.providers.image_fetch import ImageFetcher
from proxy.upstreams.registry import Upstreams

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
READ_POOL = web.AppKey("read_pool", asyncpg.Pool)  # DATABASE_READ_URL's, else DB_POOL
METRICS = web.AppKey("metrics", Metrics)
KEY_CACHE = web.AppKey("key_cache", KeyCache)
PRICE_BOOK = web.AppKey("price_book", PriceBook)
PROVIDERS = web.AppKey("providers", dict[str, Provider])  # by provider name
UPSTREAMS = web.AppKey("upstreams", Upstreams)  # every upstream, live
GATE = web.AppKey("gate", Gate)
STRIPE_CHECKOUT = web.AppKey("stripe_checkout", StripeCheckout)
IMAGE_FETCHER = web.AppKey("image_fetcher", ImageFetcher)  # image URLs for Gemini
RUNNING = web.AppKey("running", RunningCalls)  # the calls this process is serving
PROCESS_ID = web.AppKey("process_id", str)  # owner of this process's reservations
ALERT_DELIVERY = web.AppKey("alert_delivery", AlertDelivery)  # the webhooks' worker

REQUEST_ID = web.RequestKey("request_id", str)  # set by the outermost middleware
ADMIN_ACTOR = web.RequestKey("admin_actor", str)  # set by the admin auth middleware
ADMIN_SESSION = web.RequestKey("admin_session", int)  # the id of the bearer token's session
