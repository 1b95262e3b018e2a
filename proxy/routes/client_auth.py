"""Authenticating a client key: parse its public id, find its policy, compare in constant time."""

from __future__ import annotations

from aiohttp import web

from core import errors
from core.apikeys import key_matches, parse_key_id
from core.policy import KeyPolicy
from db.gateway import fetch_key_for_auth
from proxy.state import DB_POOL, KEY_CACHE, SETTINGS

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
    if not key_matches(app[SETTINGS].secret or "", token, policy.secret_hash):
        raise errors.Unauthorized(_INVALID)
    if policy.revoked:
        raise errors.Unauthorized("This API key has been revoked.")
    if not policy.customer_active:
        raise errors.Unauthorized("This customer account is inactive.")
    return policy
