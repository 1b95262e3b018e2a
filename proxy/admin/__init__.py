"""The admin JSON API, a sub-application mounted at /admin/api/ with its own auth middleware."""

from __future__ import annotations

from aiohttp import web

from proxy.settings import Settings


def create_admin_app(settings: Settings) -> web.Application:
    return web.Application()
