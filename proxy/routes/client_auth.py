"""Authenticating a client key: parse its public id, find its policy, compare in constant time."""

from __future__ import annotations

import logging

from aiohttp import web

from core import errors
from core.apikeys import hash_key, key_matches, parse_key_id
from core.policy import KeyPolicy
from db.gateway import fetch_key_for_auth
from db.keys import rehash_key
from proxy.state import DB_POOL, KEY_CACHE, SETTINGS

log = logging.getLogger("kaixu.auth")

_INVALID = "Invalid API key."


def bearer_token(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise errors.Unauthorized("Missing API key: send the header Authorization: Bearer <key>.")
    return token


async def authenticate(request: web.Request, token: str | None = None) -> KeyPolicy:
    """The caller's key policy, or 401. Costs a database round trip only on a cache miss.
    `token`: a key a provider-native route found elsewhere (x-api-key, ?key=)."""
    token = token or bearer_token(request)
    key_id = parse_key_id(token)
    if key_id is None:
        raise errors.Unauthorized(_INVALID)
    app = request.app
    cache = app[KEY_CACHE]
    policy = cache.get(key_id)
    if policy is None:
        generation = cache.generation
        row = await fetch_key_for_auth(app[DB_POOL], key_id)
        if row is None:
            raise errors.Unauthorized(_INVALID)
        policy = KeyPolicy.from_row(row)
        cache.put(policy, generation)
    settings = app[SETTINGS]
    if not key_matches(settings.secret or "", token, policy.secret_hash):
        if not any(key_matches(old, token, policy.secret_hash) for old in settings.secret_previous):
            raise errors.Unauthorized(_INVALID)
        await _rehash(request, policy, token)
    if policy.revoked:
        raise errors.Unauthorized("This API key has been revoked.")
    if not policy.customer_active:
        raise errors.Unauthorized("This customer account is inactive.")
    return policy


async def _rehash(request: web.Request, policy: KeyPolicy, token: str) -> None:
    """A key hashed under a previous KAIXU_SECRET (docs/upstreams.md, rotating the secret):
    its hash moves to the current secret on first use, so the previous one can be dropped once
    every key in use has been seen. A failure here only leaves it for the next use."""
    secret = request.app[SETTINGS].secret or ""
    try:
        await rehash_key(request.app[DB_POOL], policy.key_id, hash_key(secret, token),
                         policy.secret_hash)  # fmt: skip
    except Exception:
        log.exception("moving a key to the current KAIXU_SECRET failed; kept for its next use")
