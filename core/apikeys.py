"""API keys: random secrets with a recognisable prefix and a public id, stored as HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "kx"
_ID_BYTES = 8  # the public id: 16 hex characters
_SECRET_BYTES = 32  # 256 bits of randomness in the secret part
_HEX_ID = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, slots=True)
class NewKey:
    id: str
    plaintext: str  # shown to the operator once, never stored
    secret_hash: bytes
    last4: str


def hash_key(server_secret: str, plaintext: str) -> bytes:
    return hmac.new(server_secret.encode(), plaintext.encode(), hashlib.sha256).digest()


def generate_key(server_secret: str) -> NewKey:
    key_id = "key_" + secrets.token_hex(_ID_BYTES)
    plaintext = f"{PREFIX}_{key_id[4:]}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return NewKey(key_id, plaintext, hash_key(server_secret, plaintext), plaintext[-4:])


def parse_key_id(plaintext: str) -> str | None:
    """The public id inside a key (`kx_<id>_<secret>`), or None if it is not shaped like ours."""
    if not plaintext.isascii():
        return None
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != 2 * _ID_BYTES:
        return None
    if not _HEX_ID.fullmatch(parts[1]) or len(parts[2]) < 32:
        return None
    return "key_" + parts[1]


def key_matches(server_secret: str, plaintext: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_key(server_secret, plaintext), stored_hash)
