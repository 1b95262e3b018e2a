"""Admin account passwords: argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).

Hashing costs ~50 ms of CPU and 64 MiB by design, so it runs in a worker thread (the library
releases the GIL) and never stalls the event loop that serves client traffic.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_CHARS = 12
MAX_CHARS = 256

_hasher = PasswordHasher()
# Verified against when the email is unknown, so an unknown email takes as long as a wrong
# password and the answer's timing does not tell which accounts exist.
_UNKNOWN = _hasher.hash("no account has this password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (unknown account) False, in the same time."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _UNKNOWN, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def problem(password: str) -> str | None:
    """Why this password cannot be an account's, or None."""
    if len(password) < MIN_CHARS:
        return f"must have at least {MIN_CHARS} characters"
    if len(password) > MAX_CHARS:
        return f"must have at most {MAX_CHARS} characters"
    if password.strip() != password:
        return "must not start or end with whitespace"
    return None
