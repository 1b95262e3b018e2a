"""Serves the static admin single-page app at /admin/ with a strict Content-Security-Policy."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from core.errors import NotFound

ADMIN_UI_DIR = Path(__file__).resolve().parents[2] / "admin-ui"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(ADMIN_UI_DIR / "index.html", headers={"Cache-Control": "no-cache"})


async def static_file(request: web.Request) -> web.FileResponse:
    """A file of the app; anything else (missing, a folder, outside it) is the contract's 404.

    aiohttp's own static route answers a missing file with an empty-bodied 404."""
    root = ADMIN_UI_DIR.resolve()
    wanted = (root / request.match_info["path"]).resolve()
    if not wanted.is_relative_to(root) or not wanted.is_file():
        raise NotFound("No such file.")
    return web.FileResponse(wanted)


async def redirect_to_index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect("/admin/")


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    path = request.path
    if path.startswith("/admin") and not path.startswith("/admin/api/"):
        response.headers.update(SECURITY_HEADERS)


def add_routes(app: web.Application) -> None:
    """Register after the admin API sub-app, so /admin/api/ is matched first."""
    app.router.add_get("/admin", redirect_to_index)
    app.router.add_get("/admin/", index)
    app.router.add_get("/admin/{path:.+}", static_file)
    app.on_response_prepare.append(_add_security_headers)
