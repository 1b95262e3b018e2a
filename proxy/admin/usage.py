"""Admin route for a customer's month of usage: counters, totals, paged events, breakdowns."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import asyncpg
from aiohttp import web

from core.errors import NotFound
from core.money import uc_to_cents
from db import usage as db_usage
from proxy.admin.keys import no_customer
from proxy.admin.render import cents_or_none, iso
from proxy.admin.validation import PATH_ID, invalid, path_id, query_int
from proxy.http.responses import json_response
from proxy.state import DB_POOL

routes = web.RouteTableDef()

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_EVENT_ID = 2**63 - 1
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_month(raw: str | None) -> dt.date:
    """`YYYY-MM` (UTC) as the month's first day; the current month when absent."""
    if not raw:
        return dt.datetime.now(dt.UTC).date().replace(day=1)
    match = _MONTH.fullmatch(raw)
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1:
        raise invalid("month", "must be YYYY-MM")
    return dt.date(int(match[1]), int(match[2]), 1)


def event_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"],
        "time": iso(row["created_at"]),
        "key_id": row["key_id"],
        "install_id": row["install_id"],
        "provider": row["provider"],
        "model": row["model"],
        "input_tokens": row["input_tokens"],
        "cached_input_tokens": row["cached_input_tokens"],
        "cache_write_tokens": row["cache_write_tokens"],
        "output_tokens": row["output_tokens"],
        "cost_cents": uc_to_cents(row["cost_uc"]),
        "status": row["status"],
        "cost_source": row["cost_source"],
        "latency_ms": row["latency_ms"],
        "request_id": row["request_id"],
        "error": row["error"],
    }


@routes.get("/customers/{cid}/usage")
async def get_usage(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    month = parse_month(request.query.get("month"))
    key_id = request.query.get("key_id") or None
    if key_id is not None and not PATH_ID.fullmatch(key_id):
        raise NotFound(f"Customer {cid!r} has no such key.")
    limit = query_int(request, "limit", lo=1, hi=MAX_LIMIT) or DEFAULT_LIMIT
    cursor = query_int(request, "cursor", lo=1, hi=MAX_EVENT_ID)
    pool = request.config_dict[DB_POOL]
    # One snapshot, so totals, events and breakdowns agree with each other.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        counters = await db_usage.month_counters(conn, cid, month)
        if counters is None:
            raise no_customer(cid)
        key_counters = None
        if key_id is not None:
            key_counters = await db_usage.key_month_counters(conn, cid, key_id, month)
            if key_counters is None:
                raise NotFound(f"Customer {cid!r} has no key {key_id!r}.")
        totals = await db_usage.totals(conn, cid, month, key_id)
        # One row past the page tells whether there is a next page.
        events = await db_usage.events(conn, cid, month, key_id, before_id=cursor, limit=limit + 1)
        days = await db_usage.by_day(conn, cid, month, key_id)
        models = await db_usage.by_model(conn, cid, month, key_id)
    page = events[:limit]
    body: dict[str, Any] = {
        "month": month.strftime("%Y-%m"),
        "customer_id": cid,
        "key_id": key_id,
        "cap_cents": uc_to_cents(counters["monthly_cap_uc"]),
        "extra_cents": uc_to_cents(counters["extra_uc"]),
        "spent_cents": uc_to_cents(counters["spent_uc"]),
        "reserved_cents": uc_to_cents(counters["reserved_uc"]),
        "requests": totals["requests"],
        "input_tokens": totals["input_tokens"],
        "cached_input_tokens": totals["cached_input_tokens"],
        "cache_write_tokens": totals["cache_write_tokens"],
        "output_tokens": totals["output_tokens"],
        "cost_cents": uc_to_cents(totals["cost_uc"]),
        "events": [event_json(row) for row in page],
        "next_cursor": page[-1]["id"] if len(events) > limit else None,
        "by_day": [
            {
                "day": row["day"].isoformat(),
                "cost_cents": uc_to_cents(row["cost_uc"]),
                "requests": row["requests"],
            }
            for row in days
        ],
        "by_model": [
            {
                "provider": row["provider"],
                "model": row["model"],
                "requests": row["requests"],
                "input_tokens": row["input_tokens"],
                "output_tokens": row["output_tokens"],
                "cost_cents": uc_to_cents(row["cost_uc"]),
            }
            for row in models
        ],
    }
    if key_counters is not None:
        body["key_cap_cents"] = cents_or_none(key_counters["cap_uc"])
        body["key_spent_cents"] = uc_to_cents(key_counters["spent_uc"])
        body["key_reserved_cents"] = uc_to_cents(key_counters["reserved_uc"])
    return json_response(body)
