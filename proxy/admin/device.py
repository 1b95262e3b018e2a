"""Device tokens: a long-lived signed id for a browser (or script) that has signed in before.

Its failed password attempts are throttled in a scope of its own (`device:<id>`), so wrong
guesses from an address (anyone behind the same reverse proxy, say) cannot lock out a device
that knows the password. Only a successful sign-in hands one out. A token is
`kxd1.<id>.<signature>`, signed with a key derived from the server secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from aiohttp import web

from core.settings import Settings
from proxy.state import SETTINGS

COOKIE = "kaixu_admin_device"
HEADER = "X-Kaixu-Admin-Device"
MAX_AGE_S = 365 * 24 * 3600
VERSION = "kxd1"
_SHAPE = re.compile(rf"{VERSION}\.([A-Za-z0-9_-]{{22}})\.([A-Za-z0-9_-]{{43}})")


def _signature(settings: Settings, device_id: str) -> str:
    key = hmac.new((settings.secret or "").encode(), b"admin-device", hashlib.sha256).digest()
    digest = hmac.new(key, device_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(settings: Settings) -> str:
    device_id = secrets.token_urlsafe(16)
    return f"{VERSION}.{device_id}.{_signature(settings, device_id)}"


def verify(settings: Settings, token: str) -> str | None:
    """The device id of a genuine token, else None (a forged one is just no device)."""
    match = _SHAPE.fullmatch(token) if settings.secret else None
    if match is None:
        return None
    device_id, signature = match.groups()
    if not hmac.compare_digest(_signature(settings, device_id), signature):
        return None
    return device_id


def presented(request: web.Request) -> str | None:
    """The device id the request proves, from the cookie or (for scripts) the header."""
    settings = request.config_dict[SETTINGS]
    for token in (request.cookies.get(COOKIE), request.headers.get(HEADER)):
        if token and (device_id := verify(settings, token.strip())):
            return device_id
    return None


def remember(request: web.Request, response: web.StreamResponse, device_id: str | None) -> None:
    """Give the browser its device token (a new one unless it presented a genuine one)."""
    settings = request.config_dict[SETTINGS]
    token = (
        f"{VERSION}.{device_id}.{_signature(settings, device_id)}" if device_id else issue(settings)
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE_S,
        path="/admin/api/",
        httponly=True,
        samesite="Strict",
        secure=request.secure or (settings.public_url or "").startswith("https://"),
    )
