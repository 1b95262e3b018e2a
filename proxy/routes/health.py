"""Liveness, readiness (database reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web

from core import errors
from db.pool import DB_UNAVAILABLE_ERRORS
from proxy.http.responses import json_response
from proxy.state import DB_POOL, METRICS

READY_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    pool = request.app[DB_POOL]
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            await pool.fetchval("SELECT 1")
    except DB_UNAVAILABLE_ERRORS:
        raise errors.Unavailable("The database is unreachable.") from None
    return json_response({"status": "ready"})


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[METRICS]
    return web.Response(body=registry.render(), headers={"Content-Type": registry.content_type})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
