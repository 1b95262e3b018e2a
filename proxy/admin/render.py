"""Database rows to the admin API's JSON: money in cents, timestamps as ISO 8601 UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from core.money import uc_to_cents


def iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def iso_from_unix(seconds: int) -> str:
    return iso(dt.datetime.fromtimestamp(seconds, dt.UTC)) or ""


def cents_or_none(uc: int | None) -> float | None:
    return None if uc is None else uc_to_cents(uc)


def customer(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "plan": row["plan"],
        "monthly_cap_cents": uc_to_cents(row["monthly_cap_uc"]),
        "rpm_limit": row["rpm_limit"],
        "allowed_providers": row["allowed_providers"],
        "allowed_models": row["allowed_models"],
        "active": row["active"],
        "active_keys": row["active_keys"],
        "extra_cents": uc_to_cents(row["extra_uc"]),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def key(row: asyncpg.Record, plaintext: str | None = None) -> dict[str, Any]:
    """A key as the operator sees it; `plaintext` only in the one response that creates it."""
    body: dict[str, Any] = {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "kind": row["kind"],
        "last4": row["last4"],
        "label": row["label"],
        "cap_cents": cents_or_none(row["cap_uc"]),
        "rpm_limit": row["rpm_limit"],
        "max_devices": row["max_devices"],
        "require_install": row["require_install"],
        "allowed_providers": row["allowed_providers"],
        "allowed_models": row["allowed_models"],
        "revoked_at": iso(row["revoked_at"]),
        "created_at": iso(row["created_at"]),
        "rotated_from": row["rotated_from"],
    }
    if plaintext is not None:
        body["key"] = plaintext
    return body


def device(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "key_id": row["key_id"],
        "customer_id": row["customer_id"],
        "install_id": row["install_id"],
        "user_agent": row["user_agent"],
        "first_seen": iso(row["first_seen"]),
        "last_seen": iso(row["last_seen"]),
        "revoked_at": iso(row["revoked_at"]),
    }
