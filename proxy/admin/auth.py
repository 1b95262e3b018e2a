"""Admin authentication: the sign-in route, the sub-app's auth middleware (sign-in, then the
route's role), the password throttle.

Two kinds of caller: the bootstrap owner (ADMIN_PASSWORD, as a sign-in or the X-Admin-Password
header) and named accounts (email and password, optionally a TOTP code; proxy/admin/accounts.py).

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
from db import admin_auth, admin_sessions, admins
from proxy.admin import device, passwords, roles, tokens, totp
from proxy.admin.account_resources import ME
from proxy.admin.fields import STR, TIME, iso_from_unix, strict_object
from proxy.admin.roles import BOOTSTRAP_OWNER, CALLER, Caller
from proxy.admin.routing import Api, Role
from proxy.admin.validation import check_query, read_object
from proxy.http.client_address import client_address
from proxy.http.middleware import Handler
from proxy.http.responses import json_response
from proxy.state import ADMIN_ACTOR, ADMIN_SESSION, DB_POOL, SETTINGS, UPSTREAMS

log = logging.getLogger("kaixu.admin")

MAX_FAILURES = 10
WINDOW_S = 15 * 60
LOGIN_ROUTE = "admin-login"
MAX_USER_AGENT_CHARS = 300
MAX_EMAIL_CHARS = 254

routes = Api()
# The least role of each route's handler, filled by create_admin_app from the operations.
ROUTE_ROLES = web.AppKey("admin_route_roles", dict)


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


class TotpRequired(Unauthorized):
    """The password was right; the account's authenticator code is missing (not counted)."""


async def _account(request: web.Request, conn, email: str, password: str,
                   code: str | None, reauth: bool) -> Caller | None:  # fmt: skip
    """The account these credentials open, or None; TotpRequired when only the code is missing.
    Called under the scope's lock, inside its transaction. `reauth`: a signed-in account
    confirming its password (its session passed the second factor already)."""
    row = await admins.for_login(conn, email)
    matches = await passwords.verify(row["password_hash"] if row else None, password)
    if row is None or not matches or row["disabled_at"] is not None:
        return None
    if reauth:
        return Caller(row["role"], row["id"], row["email"])
    if row["totp_enabled"]:
        if not code:
            raise TotpRequired("This account also needs its authenticator code (totp).",
                               totp_required=True)  # fmt: skip
        secret = totp.unseal(request.config_dict[UPSTREAMS].box, row["id"], row["totp_sealed"])
        step = totp.matching_step(secret, code)
        if step is None or not await admins.use_totp_step(conn, row["id"], step):
            return None  # wrong, stale or replayed: counted like a wrong password
    await admins.touch_login(conn, row["id"])
    return Caller(row["role"], row["id"], row["email"], row["totp_enabled"])


async def check_credentials(
    request: web.Request,
    password: str,
    email: str | None = None,
    code: str | None = None,
    *,
    reauth: bool = False,
) -> Caller:
    """The caller these credentials prove (ADMIN_PASSWORD without email), or raise 401 (and
    count it) or 429 (too many failures).

    A throttled scope is refused before the password is looked at, so even the right one gets
    429 until the window passes; refused attempts are not counted, which keeps the announced
    Retry-After true. Check and count happen under the scope's lock, so parallel guesses cannot
    slip past the limit.
    """
    scope = throttle_scope(request)
    who: Caller | None = None
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        await admin_auth.lock_scope(conn, scope)
        wait_s = await admin_auth.blocked_for(
            conn, scope, window_s=WINDOW_S, max_failures=MAX_FAILURES
        )
        if wait_s is None:
            if email is None:
                bootstrap = _password_matches(request.config_dict[SETTINGS], password)
                who = BOOTSTRAP_OWNER if bootstrap else None
            else:
                who = await _account(request, conn, email, password, code, reauth)
            if who is None:
                await admin_auth.record_failure(conn, scope, window_s=WINDOW_S)
    if wait_s is not None:
        where = "this device" if scope.startswith("device:") else "this address"
        raise RateLimited(
            f"Too many wrong admin passwords from {where}; try again in {wait_s} s.",
            retry_after_s=wait_s,
        )
    if who is None:
        log.warning("admin password rejected", extra={"scope": scope.partition(":")[0]})
        raise Unauthorized("Wrong email or password." if email else "Wrong admin password.")
    return who


async def check_token(request: web.Request, token: str) -> tuple[int, Caller]:
    """The id of the live session `token` belongs to and who holds it, or 401."""
    settings = request.config_dict[SETTINGS]
    try:
        tokens.verify(settings, token)
    except tokens.TokenError as exc:
        raise Unauthorized(str(exc)) from None
    async with request.config_dict[DB_POOL].acquire() as conn:
        session = await admin_sessions.live_session(conn, tokens.digest(settings, token))
    if session is None:
        raise Unauthorized("This admin session has ended; sign in again.")
    return session["id"], Caller(session["role"], session["admin_id"], session["email"])


async def authenticate(request: web.Request) -> None:
    """A bearer token of a live session or X-Admin-Password (throttled); nothing else passes."""
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send the admin token as 'Authorization: Bearer <token>'.")
        request[ADMIN_SESSION], who = await check_token(request, token.strip())
        request[CALLER] = who
        # The audit log's actor: the account's email, or how the bootstrap owner signed in.
        request[ADMIN_ACTOR] = f"admin:{who.email}" if who.email else "admin:token"
        return
    password = request.headers.get("X-Admin-Password")
    if password is not None:
        request[CALLER] = await check_credentials(request, password)
        request[ADMIN_ACTOR] = "admin:password"
        return
    raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>' or X-Admin-Password.")


@web.middleware
async def require_admin(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.name != LOGIN_ROUTE:
        await authenticate(request)
        if request.match_info.http_exception is None:  # an unknown path stays a 404
            needed: Role = request.app[ROUTE_ROLES].get(request.match_info.handler, "owner")
            roles.require(request, needed)
    check_query(request)
    return await handler(request)


@routes.post(
    "/login",
    name=LOGIN_ROUTE,
    summary="Sign in (ADMIN_PASSWORD, or an account's email and password and TOTP code):"
    " a session token (and, as a cookie, this device's token)",
    body=strict_object({"password": STR, "email": STR, "totp": STR}, optional=("email", "totp")),
    ok={"token": STR, "expires_at": TIME, "admin": ME},
    role="viewer",
)
async def login(request: web.Request) -> web.Response:
    body = await read_object(request, allowed={"password", "email", "totp"})
    password, email, code = body.get("password"), body.get("email"), body.get("totp")
    if not isinstance(password, str) or not password:
        raise InvalidRequest("password is required.", param="password")
    if email is not None and (not isinstance(email, str) or not 0 < len(email) <= MAX_EMAIL_CHARS):
        raise InvalidRequest("email must be a non-empty string.", param="email")
    if code is not None and not isinstance(code, str):
        raise InvalidRequest("totp must be the 6-digit code, as a string.", param="totp")
    who = await check_credentials(request, password, email.strip() if email else None, code)
    settings = request.config_dict[SETTINGS]
    token = tokens.issue(settings)
    async with request.config_dict[DB_POOL].acquire() as conn:
        await admin_sessions.create_session(
            conn,
            tokens.digest(settings, token.token),
            dt.datetime.fromtimestamp(token.expires_at, dt.UTC),
            client_address(request),
            clean_text(request.headers.get("User-Agent"), MAX_USER_AGENT_CHARS),
            who.admin_id,
        )
    answer = {"token": token.token, "expires_at": iso_from_unix(token.expires_at),
              "admin": me(who, who.totp_enabled)}  # fmt: skip
    response = json_response(answer)
    device.remember(request, response, device.presented(request))
    return response


def me(who: Caller, totp_enabled: bool = False) -> dict[str, object]:
    return {"id": who.admin_id, "email": who.email, "role": who.role,
            "totp_enabled": totp_enabled}  # fmt: skip
