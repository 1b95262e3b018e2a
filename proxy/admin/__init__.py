"""The admin JSON API, a sub-application mounted at /admin/api/ with its own auth middleware."""

from __future__ import annotations

from aiohttp import web

from core.settings import Settings
from proxy.admin import (
    accounts,
    alerts,
    audit,
    auth,
    checkout,
    customers,
    devices,
    exports,
    invoices,
    keys,
    openapi,
    overview,
    price_import,
    pricing,
    sessions,
    topups,
    upstreams,
    usage,
)
from proxy.admin.fields import Schema
from proxy.admin.routing import Api

ROUTE_MODULES = (
    auth, sessions, customers, keys, devices, pricing, usage, topups, checkout, invoices, exports,
    audit, upstreams, accounts, overview, alerts, price_import,
)  # fmt: skip


def route_tables() -> list[Api]:
    """Every admin route, the OpenAPI document's own last (it documents all the others)."""
    apis = [module.routes for module in ROUTE_MODULES]
    return [*apis, openapi.serving(apis)]


def document() -> Schema:
    """The OpenAPI document the admin app serves (tests validate answers against it)."""
    return openapi.document(route_tables())


def create_admin_app(settings: Settings) -> web.Application:
    """Every route but /login requires an admin token or the admin password, and the route's
    role (see auth and roles)."""
    app = web.Application(middlewares=[auth.require_admin])
    app[auth.ROUTE_ROLES] = {}
    for api in route_tables():
        app.add_routes(api)
        app[auth.ROUTE_ROLES].update(api.roles)
    return app
