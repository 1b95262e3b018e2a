"""Spend alerts' pure parts: the kinds, the webhook signature (Stripe's scheme) and the retry
backoff. The alerts are fired by the settlement's SQL (kaixu_fire_alerts, db/sql/ledger.sql)
and delivered by proxy/infra/alert_delivery.py."""

from __future__ import annotations

import hashlib
import hmac

KINDS = ("threshold", "credit_low")
DEFAULT_THRESHOLDS = (50, 80, 100)  # percent of the month's allowance (the column's default)
MAX_THRESHOLDS = 10
SIGNATURE_HEADER = "X-Kaixu-Signature"
MAX_RETRY_DELAY_S = 3600.0  # the backoff doubles up to an hour between attempts


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value: `t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(header: str, secret: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver checks: a v1 MAC of this body under the secret, signed recently (a
    replayed old delivery fails). docs/api.md shows the same few lines."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or abs(now - int(parts["t"])) > tolerance_s:
        return False
    expected = signature(secret, int(parts["t"]), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_delay_s(base_s: float, attempt: int) -> float:
    """The wait after failed attempt number `attempt` (1, 2, ...): base, 2 x base, 4 x base, ...
    at most MAX_RETRY_DELAY_S."""
    return min(base_s * 2 ** min(attempt - 1, 40), MAX_RETRY_DELAY_S)
