"""Optional second factor: RFC 6238 time-based codes (pyotp), 6 digits, 30 s steps.

The secret is sealed at rest like upstream keys (proxy/infra/secretbox.py), bound to the
account's id. A code is accepted for its own step or one step either side (clock drift), and
each step at most once per account (db/admins.py: use_totp_step), so an overheard code cannot
be replayed.
"""

from __future__ import annotations

import time

import pyotp

from proxy.infra.secretbox import SecretBox

ISSUER = "Kaixu Gateway"
STEP_S = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The otpauth:// URI an authenticator app reads (usually as a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step `code` is valid for, or None."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    at = time.time() if now is None else now
    for drift in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
        moment = at + drift * STEP_S
        if totp.verify(code, for_time=moment):
            return int(moment // STEP_S)
    return None


def _context(admin_id: int) -> bytes:
    return f"admin-totp:{admin_id}".encode()


def seal(box: SecretBox, admin_id: int, secret: str) -> bytes:
    return box.seal(secret.encode(), _context(admin_id))


def unseal(box: SecretBox, admin_id: int, sealed: bytes) -> str:
    return box.open(sealed, _context(admin_id)).decode()
