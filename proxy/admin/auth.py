"""Admin authentication: the sign-in route, the sub-app's auth middleware, the password throttle.

Passwords and tokens are never logged and never put in an error message.

The throttle counts failed passwords per scope: a device that signed in before (device.py) has
its own scope, everyone else is counted by client address. So wrong guesses from an address
lock out that address, never a device that knows the password.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

from aiohttp import web

from core.errors import InvalidRequest, RateLimited, Unauthorized
from core.settings import Settings
from core.text import clean_text, is_utf8
from db import admin_auth, admin_sessions
from proxy.admin import device, tokens
from proxy.admin.fields import STR, TIME, iso_from_unix, strict_object
from proxy.admin.routing import Api
from proxy.admin.validation import check_query, read_object
from proxy.http.client_address import client_address
from proxy.http.middleware import Handler
from proxy.http.responses import json_response
from proxy.state import ADMIN_ACTOR, ADMIN_SESSION, DB_POOL, SETTINGS

log = logging.getLogger("kaixu.admin")

MAX_FAILURES = 10
WINDOW_S = 15 * 60
LOGIN_ROUTE = "admin-login"
MAX_USER_AGENT_CHARS = 300

routes = Api()


def _password_matches(settings: Settings, password: str) -> bool:
    if not settings.admin_password or not is_utf8(password):
        return False  # a header's bytes that are not UTF-8 are no password, not a 500
    # Digests have one length, so the comparison time says nothing about the password's length.
    given = hashlib.sha256(password.encode()).digest()
    expected = hashlib.sha256(settings.admin_password.encode()).digest()
    return hmac.compare_digest(given, expected)


def throttle_scope(request: web.Request) -> str:
    device_id = device.presented(request)
    return f"device:{device_id}" if device_id else f"address:{client_address(request)}"


async def check_password(request: web.Request, password: str) -> None:
    """Accept the admin password, or raise 401 (and count it) or 429 (too many failures).

    A throttled scope is refused before the password is looked at, so even the right one gets
    429 until the window passes; refused attempts are not counted, which keeps the announced
    Retry-After true. Check and count happen under the scope's lock, so parallel guesses cannot
    slip past the limit.
    """
    scope = throttle_scope(request)
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        await admin_auth.lock_scope(conn, scope)
        wait_s = await admin_auth.blocked_for(
            conn, scope, window_s=WINDOW_S, max_failures=MAX_FAILURES
        )
        matches = wait_s is None and _password_matches(request.config_dict[SETTINGS], password)
        if wait_s is None and not matches:
            await admin_auth.record_failure(conn, scope, window_s=WINDOW_S)
    if wait_s is not None:
        where = "this device" if scope.startswith("device:") else "this address"
        raise RateLimited(
            f"Too many wrong admin passwords from {where}; try again in {wait_s} s.",
            retry_after_s=wait_s,
        )
    if not matches:
        log.warning("admin password rejected", extra={"scope": scope.partition(":")[0]})
        raise Unauthorized("Wrong admin password.")


async def check_token(request: web.Request, token: str) -> int:
    """The id of the live session `token` belongs to, or 401."""
    settings = request.config_dict[SETTINGS]
    try:
        tokens.verify(settings, token)
    except tokens.TokenError as exc:
        raise Unauthorized(str(exc)) from None
    async with request.config_dict[DB_POOL].acquire() as conn:
        session_id = await admin_sessions.live_session_id(conn, tokens.digest(settings, token))
    if session_id is None:
        raise Unauthorized("This admin session has ended; sign in again.")
    return session_id


async def authenticate(request: web.Request) -> None:
    """A bearer token of a live session or X-Admin-Password (throttled); nothing else passes."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send the admin token as 'Authorization: Bearer <token>'.")
        request[ADMIN_SESSION] = await check_token(request, token.strip())
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
    summary="Sign in: a session token (and, as a cookie, this device's token)",
    body=strict_object({"password": STR}),
    ok={"token": STR, "expires_at": TIME},
)
async def login(request: web.Request) -> web.Response:
    body = await read_object(request, allowed={"password"})
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidRequest("password is required.", param="password")
    await check_password(request, password)
    settings = request.config_dict[SETTINGS]
    token = tokens.issue(settings)
    async with request.config_dict[DB_POOL].acquire() as conn:
        await admin_sessions.create_session(
            conn,
            tokens.digest(settings, token.token),
            dt.datetime.fromtimestamp(token.expires_at, dt.UTC),
            client_address(request),
            clean_text(request.headers.get("User-Agent"), MAX_USER_AGENT_CHARS),
        )
    response = json_response({"token": token.token, "expires_at": iso_from_unix(token.expires_at)})
    device.remember(request, response, device.presented(request))
    return response
