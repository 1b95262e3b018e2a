"""Secrets at rest (upstream keys and headers): AES-256-GCM under a key derived from KAIXU_SECRET.

A sealed value is `version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag`.
The key id names the KAIXU_SECRET it was sealed under, so after a rotation the previous
secrets (KAIXU_SECRET_PREVIOUS) still open what they sealed, and `python -m proxy upstreams
reencrypt` seals it again under the current one (docs/upstreams.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
_INFO = b"kaixu upstream secrets v1"
_HEADER = 1 + 4 + 12


class SecretBoxError(ValueError):
    """A sealed value none of the configured secrets can open (or not sealed by us)."""


def _derive(secret: str) -> tuple[bytes, AESGCM]:
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    # The id is a MAC of a constant, not a piece of the key: it says which secret, nothing more.
    key_id = hmac.new(key, b"key id", hashlib.sha256).digest()[:4]
    return key_id, AESGCM(key)


class SecretBox:
    """Seals under the current secret; opens under it or any previous one."""

    def __init__(self, secret: str, previous: tuple[str, ...] = ()) -> None:
        if not secret:
            raise ValueError("a SecretBox needs a non-empty secret")
        self._current = _derive(secret)
        self._keys = dict([self._current, *(_derive(s) for s in previous if s)])

    @property
    def key_id(self) -> bytes:
        return self._current[0]

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """`context` (the upstream's id) is bound to the ciphertext: a value copied onto
        another row does not open there."""
        key_id, aead = self._current
        nonce = os.urandom(12)
        return bytes([VERSION]) + key_id + nonce + aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if len(sealed) <= _HEADER or sealed[0] != VERSION:
            raise SecretBoxError("not a sealed value of this version")
        aead = self._keys.get(bytes(sealed[1:5]))
        if aead is None:
            raise SecretBoxError(
                "sealed under a KAIXU_SECRET that is neither the current one nor in"
                " KAIXU_SECRET_PREVIOUS"
            )
        try:
            return aead.decrypt(bytes(sealed[5:_HEADER]), bytes(sealed[_HEADER:]), context)
        except Exception:  # InvalidTag: altered, or sealed for another row
            raise SecretBoxError("a sealed value failed its integrity check") from None

    def is_current(self, sealed: bytes) -> bool:
        return bytes(sealed[1:5]) == self.key_id
