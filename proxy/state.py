"""Typed keys for everything the application holds; app-wide state lives only here."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from proxy.cache import KeyCache, PriceBook
from proxy.gateway.ledger import Admitter, Settler
from proxy.metrics import Metrics
from proxy.providers.base import Provider
from proxy.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
METRICS = web.AppKey("metrics", Metrics)
KEY_CACHE = web.AppKey("key_cache", KeyCache)
PRICE_BOOK = web.AppKey("price_book", PriceBook)
PROVIDERS = web.AppKey("providers", dict[str, Provider])
ADMITTER = web.AppKey("admitter", Admitter)
SETTLER = web.AppKey("settler", Settler)
