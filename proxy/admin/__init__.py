"""The admin JSON API, a sub-application mounted at /admin/api/ with its own auth middleware."""

from __future__ import annotations

from aiohttp import web

from proxy.admin import audit, auth, customers, devices, keys, pricing, topups, usage
from proxy.settings import Settings


def create_admin_app(settings: Settings) -> web.Application:
    """Every route but /login requires an admin token or the admin password (see auth)."""
    app = web.Application(middlewares=[auth.require_admin])
    for module in (auth, customers, keys, devices, pricing, usage, topups, audit):
        app.add_routes(module.routes)
    return app
