"""GET /v1/key: the caller's own key, its limits and this month's figures, so an app can show
its user what is left. Not billed, not rate limited, no device seat: nothing is admitted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from core import errors
from core.money import uc_to_cents
from core.month import MonthState
from db.key_summary import key_summary
from proxy.http.responses import json_response
from proxy.routes.client_auth import authenticate
from proxy.state import DB_POOL, GATE


def _cents_or_none(uc: int | None) -> int | float | None:
    return None if uc is None else uc_to_cents(uc)


def available_uc(row: Mapping[str, Any]) -> int:
    """What one more request may still reserve, as admission counts it (docs/api.md §7.1): the
    customer's allowance, and the key's own cap's room when it has one."""
    room = max(row["month_cap_uc"] - row["spent_uc"], 0) + row["extra_uc"] - row["reserved_uc"]
    if row["cap_uc"] is not None:
        room = min(room, row["cap_uc"] - row["key_spent_uc"] - row["key_reserved_uc"])
    return max(room, 0)


def render(key_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    month = MonthState(row["month"], row["month_cap_uc"], row["extra_uc"], row["spent_uc"],
                       row["cap_uc"], row["key_spent_uc"])  # fmt: skip
    return {
        "key": {
            "id": key_id,
            "kind": row["kind"],
            "last4": row["last4"],
            "label": row["label"],
            "cap_cents": _cents_or_none(row["cap_uc"]),
            "rpm_limit": row["rpm_limit"],
            "max_devices": row["max_devices"],
            "require_install": row["require_install"],
            "allowed_providers": row["allowed_providers"],
            "allowed_models": row["allowed_models"],
        },
        # The customer's limits apply to every key of it, this one too.
        "customer": {
            "monthly_cap_cents": uc_to_cents(row["customer_cap_uc"]),
            "rpm_limit": row["customer_rpm_limit"],
            "allowed_providers": row["customer_allowed_providers"],
            "allowed_models": row["customer_allowed_models"],
        },
        "month": month.to_json(),
        "reserved_cents": uc_to_cents(row["reserved_uc"]),
        "key_reserved_cents": uc_to_cents(row["key_reserved_uc"]),
        "available_cents": uc_to_cents(available_uc(row)),
    }


async def get_key(request: web.Request) -> web.Response:
    policy = await authenticate(request)
    pending = request.app[GATE].settler.pending
    row = await key_summary(request.app[DB_POOL], policy.key_id, pending)
    # Revoked or deactivated since the cache last heard of it: the database has the last word.
    if row is None or row["revoked"]:
        raise errors.Unauthorized("This API key has been revoked.")
    if not row["customer_active"]:
        raise errors.Unauthorized("This customer account is inactive.")
    return json_response(render(policy.key_id, row))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v1/key", get_key)
