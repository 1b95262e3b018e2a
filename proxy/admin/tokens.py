"""Admin session tokens: HMAC-signed, bound to the admin password, with an expiry; each is also
a row of admin_sessions (db/admin_sessions.py), which makes signing out final.

A token is `kxa1.<expiry unix seconds>.<nonce>.<signature>`. The signing key is derived from the
server secret and a hash of the admin password, so changing either ends every session; a forged
or stale token is refused before the database is asked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from core.settings import Settings

VERSION = "kxa1"
TOKEN_TTL_S = 12 * 3600
_EXPIRY = re.compile(r"[0-9]{1,12}")


class TokenError(ValueError):
    """The token is not valid; `expired` tells a stale session from a forged or broken token."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    expires_at: int  # unix seconds


def _signing_key(settings: Settings) -> bytes:
    if not settings.secret or not settings.admin_password:
        raise TokenError("Admin sign-in is not configured on this gateway.")
    password_digest = hashlib.sha256(settings.admin_password.encode()).hexdigest()
    return hmac.new(
        settings.secret.encode(), f"admin-token:{password_digest}".encode(), hashlib.sha256
    ).digest()


def _signature(key: bytes, payload: str) -> str:
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(settings: Settings, *, now: float | None = None, ttl_s: int = TOKEN_TTL_S) -> Token:
    """A new token valid for `ttl_s` from `now` (tests pass a past `now` to get a stale one)."""
    expires_at = int(now if now is not None else time.time()) + ttl_s
    payload = f"{VERSION}.{expires_at}.{secrets.token_urlsafe(9)}"
    return Token(f"{payload}.{_signature(_signing_key(settings), payload)}", expires_at)


def verify(settings: Settings, token: str, *, now: float | None = None) -> int:
    """The token's expiry if it is genuine and current; otherwise TokenError."""
    if not token.isascii():  # ours are; and a header's non-UTF-8 bytes could not be hashed
        raise TokenError("The admin token is malformed; sign in again.")
    payload, _, signature = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 3 or parts[0] != VERSION or not _EXPIRY.fullmatch(parts[1]):
        raise TokenError("The admin token is malformed; sign in again.")
    expected = _signature(_signing_key(settings), payload)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise TokenError("The admin token is not valid; sign in again.")
    expires_at = int(parts[1])
    if expires_at <= (now if now is not None else time.time()):
        raise TokenError("Your admin session expired; sign in again.", expired=True)
    return expires_at


def digest(settings: Settings, token: str) -> bytes:
    """What the sessions table stores of a token: its HMAC-SHA256 under a key of the server's
    secret, so a copy of the table opens nothing."""
    key = hmac.new((settings.secret or "").encode(), b"admin-session", hashlib.sha256).digest()
    return hmac.new(key, token.encode(), hashlib.sha256).digest()
