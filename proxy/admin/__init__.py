"""The admin JSON API, a sub-application mounted at /admin/api/ with its own auth middleware."""

from __future__ import annotations

from aiohttp import web

from core.settings import Settings
from proxy.admin import (
    audit,
    auth,
    checkout,
    customers,
    devices,
    exports,
    invoices,
    keys,
    openapi,
    pricing,
    topups,
    usage,
)

ROUTE_MODULES = (
    auth, customers, keys, devices, pricing, usage, topups, checkout, invoices, exports, audit,
    openapi,
)  # fmt: skip


def create_admin_app(settings: Settings) -> web.Application:
    """Every route but /login requires an admin token or the admin password (see auth)."""
    app = web.Application(middlewares=[auth.require_admin])
    for module in ROUTE_MODULES:
        app.add_routes(module.routes)
    return app
