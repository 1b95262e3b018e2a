"""Admin authentication: the sign-in route, the sub-app's auth middleware, the password throttle.

Passwords and tokens are never logged and never put in an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from aiohttp import web

from core.errors import InvalidRequest, RateLimited, Unauthorized
from core.settings import Settings
from core.text import is_utf8
from db import admin_auth
from proxy.admin import tokens
from proxy.admin.fields import STR, TIME, iso_from_unix, strict_object
from proxy.admin.routing import Api
from proxy.admin.validation import check_query, read_object
from proxy.http.middleware import Handler
from proxy.http.responses import json_response
from proxy.state import ADMIN_ACTOR, DB_POOL, SETTINGS

log = logging.getLogger("kaixu.admin")

MAX_FAILURES = 10
WINDOW_S = 15 * 60
LOGIN_ROUTE = "admin-login"

routes = Api()


def _password_matches(settings: Settings, password: str) -> bool:
    if not settings.admin_password or not is_utf8(password):
        return False  # a header's bytes that are not UTF-8 are no password, not a 500
    # Digests have one length, so the comparison time says nothing about the password's length.
    given = hashlib.sha256(password.encode()).digest()
    expected = hashlib.sha256(settings.admin_password.encode()).digest()
    return hmac.compare_digest(given, expected)


async def check_password(request: web.Request, password: str) -> None:
    """Accept the admin password, or raise 401 (and count it) or 429 (too many failures).

    A throttled address is refused before the password is looked at, so even the right one
    gets 429 until the window passes; refused attempts are not counted, which keeps the
    announced Retry-After true.
    """
    address = request.remote or "unknown"
    async with request.config_dict[DB_POOL].acquire() as conn:
        wait_s = await admin_auth.blocked_for(
            conn, address, window_s=WINDOW_S, max_failures=MAX_FAILURES
        )
        if wait_s is not None:
            raise RateLimited(
                f"Too many wrong admin passwords from this address; try again in {wait_s} s.",
                retry_after_s=wait_s,
            )
        if _password_matches(request.config_dict[SETTINGS], password):
            return
        await admin_auth.record_failure(conn, address, window_s=WINDOW_S)
    log.warning("admin password rejected", extra={"address": address})
    raise Unauthorized("Wrong admin password.")


def check_token(settings: Settings, token: str) -> None:
    try:
        tokens.verify(settings, token)
    except tokens.TokenError as exc:
        raise Unauthorized(str(exc)) from None


async def authenticate(request: web.Request) -> None:
    """A bearer token (no database) or X-Admin-Password (throttled); nothing else passes."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send the admin token as 'Authorization: Bearer <token>'.")
        check_token(request.config_dict[SETTINGS], token.strip())
        request[ADMIN_ACTOR] = "admin:token"
        return
    password = request.headers.get("X-Admin-Password")
    if password is not None:
        await check_password(request, password)
        request[ADMIN_ACTOR] = "admin:password"
        return
    raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>' or X-Admin-Password.")


@web.middleware
async def require_admin(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.name != LOGIN_ROUTE:
        await authenticate(request)
    check_query(request)
    return await handler(request)


@routes.post(
    "/login",
    name=LOGIN_ROUTE,
    summary="Sign in: a session token",
    body=strict_object({"password": STR}),
    ok={"token": STR, "expires_at": TIME},
)
async def login(request: web.Request) -> web.Response:
    body = await read_object(request, allowed={"password"})
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidRequest("password is required.", param="password")
    await check_password(request, password)
    token = tokens.issue(request.config_dict[SETTINGS])
    return json_response({"token": token.token, "expires_at": iso_from_unix(token.expires_at)})
