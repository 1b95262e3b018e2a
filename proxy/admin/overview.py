"""Admin route for the dashboard's landing page: spend across customers, recent traffic, errors
by provider, the top spenders and who is near their allowance, in one database snapshot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from core.money import uc_to_cents
from db import overview as db_overview
from proxy.admin.fields import (
    CENTS,
    DAY,
    INT,
    NUM,
    STR,
    TIME,
    array,
    iso,
    month_text,
    nullable_schema,
    strict_object,
)
from proxy.admin.routing import Api
from proxy.admin.usage import settled_here
from proxy.http.responses import json_response
from proxy.state import READ_POOL

routes = Api()

TOP = 10
NEAR_PERCENT = 80  # customers at or over this share of their allowance are listed

CUSTOMER_SPEND = strict_object(
    {
        "id": STR,
        "name": STR,
        "spent_cents": CENTS,
        "allowance_cents": CENTS,
        "percent": nullable_schema(NUM),
    }
)
OVERVIEW = {
    "at": TIME,
    "month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
    "day": DAY,
    "spend": strict_object(
        {
            "month_cents": CENTS,
            "today_cents": CENTS,
            "month_requests": INT,
            "today_requests": INT,
        }
    ),
    "requests_per_minute": strict_object({"last_minute": INT, "last_5_minutes": NUM}),
    "providers": array(
        strict_object({"provider": STR, "requests": INT, "errors": INT, "error_rate": NUM})
    ),
    "top_customers": array(CUSTOMER_SPEND),
    "over_80_percent": array(CUSTOMER_SPEND),
}


def allowance_uc(row: Mapping[str, Any]) -> int:
    """The month's whole allowance: the cap, and the credit, both what this month already drew
    (spend beyond the cap) and what is left. Spent reaches it exactly when the credit is gone."""
    return row["monthly_cap_uc"] + row["credit_used_uc"] + row["extra_uc"]


def customer_spend(row: Mapping[str, Any]) -> dict[str, Any]:
    allowance = allowance_uc(row)
    percent = round(row["spent_uc"] * 100 / allowance, 2) if allowance else None
    return {
        "id": row["id"],
        "name": row["name"],
        "spent_cents": uc_to_cents(row["spent_uc"]),
        "allowance_cents": uc_to_cents(allowance),
        "percent": percent,
    }


def near_allowance(row: Mapping[str, Any]) -> bool:
    """Spent at least NEAR_PERCENT of a non-zero allowance (integers: no rounding at the edge)."""
    allowance = allowance_uc(row)
    return allowance > 0 and row["spent_uc"] * 100 >= allowance * NEAR_PERCENT


def render(clock: Mapping[str, Any], customers: list[Any], recent: list[Any]) -> dict[str, Any]:
    spenders = sorted(
        (c for c in customers if c["spent_uc"] > 0), key=lambda c: (-c["spent_uc"], c["id"])
    )
    near = sorted(
        (c for c in customers if near_allowance(c)),
        key=lambda c: (-c["spent_uc"] * 10**6 // allowance_uc(c), c["id"]),
    )
    return {
        "at": iso(clock["at"]),
        "month": month_text(clock["today"]),
        "day": clock["today"].isoformat(),
        "spend": {
            "month_cents": uc_to_cents(sum(c["spent_uc"] for c in customers)),
            "today_cents": uc_to_cents(sum(c["today_uc"] for c in customers)),
            "month_requests": sum(c["month_requests"] for c in customers),
            "today_requests": sum(c["today_requests"] for c in customers),
        },
        "requests_per_minute": {
            "last_minute": sum(r["last_minute"] for r in recent),
            "last_5_minutes": round(sum(r["last_5_minutes"] for r in recent) / 5, 2),
        },
        "providers": [
            {
                "provider": r["provider"],
                "requests": r["requests"],
                "errors": r["errors"],
                "error_rate": round(r["errors"] / r["requests"], 4),
            }
            for r in recent
        ],
        "top_customers": [customer_spend(c) for c in spenders[:TOP]],
        "over_80_percent": [customer_spend(c) for c in near],
    }


@routes.get("/overview", summary="This month's and today's spend, recent traffic", ok=OVERVIEW,
            role="viewer")  # fmt: skip
async def get_overview(request: web.Request) -> web.Response:
    await settled_here(request)
    pool = request.config_dict[READ_POOL]
    # One snapshot (and one now()), so the figures agree with each other.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        clock = await db_overview.clock(conn)
        customers = await db_overview.customers(conn, clock["today"])
        recent = await db_overview.recent(conn)
    return json_response(render(clock, customers, recent))
