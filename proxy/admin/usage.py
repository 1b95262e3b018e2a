"""Admin route for a customer's month of usage: counters, totals, paged events, breakdowns."""

from __future__ import annotations

import datetime as dt
import re

from aiohttp import web

from core.errors import NotFound
from db import usage as db_usage
from proxy.admin.fields import INT, MONTH, STR
from proxy.admin.keys import no_customer
from proxy.admin.resources import KEY_USAGE_FIELDS, USAGE
from proxy.admin.routing import Api
from proxy.admin.validation import PATH_ID, invalid, path_id, query_int
from proxy.http.responses import json_response
from proxy.state import GATE, READ_POOL

routes = Api()

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


async def settled_here(request: web.Request) -> None:
    """What this process answered is in what it reads next: its settlements still pending (a few
    milliseconds after their answers) are committed first. Other processes' are not awaited."""
    gate = request.config_dict.get(GATE)
    if gate is not None:
        await gate.settler.caught_up()


@routes.get(
    "/customers/{cid}/usage",
    summary="A month's usage",
    ok=USAGE,
    query={"month": MONTH, "key_id": STR, "limit": INT, "cursor": INT},
    role="viewer",
)
async def get_usage(request: web.Request) -> web.Response:
    cid = path_id(request, "cid", "customer")
    month = parse_month(request.query.get("month"))
    key_id = request.query.get("key_id") or None
    if key_id is not None and not PATH_ID.fullmatch(key_id):
        raise NotFound(f"Customer {cid!r} has no such key.")
    limit = query_int(request, "limit", lo=1, hi=MAX_LIMIT) or DEFAULT_LIMIT
    await settled_here(request)
    cursor = query_int(request, "cursor", lo=1, hi=MAX_EVENT_ID)
    pool = request.config_dict[READ_POOL]
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
    body = USAGE.render(
        {
            **counters,
            **totals,
            "month": month,
            "customer_id": cid,
            "key_id": key_id,
            "events": page,
            "next_cursor": page[-1]["id"] if len(events) > limit else None,
            "by_day": days,
            "by_model": models,
        }
    )
    if key_counters is not None:
        body |= USAGE.render(key_counters, fields=KEY_USAGE_FIELDS)
    return json_response(body)
