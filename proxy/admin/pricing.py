"""Admin routes for the price table: read it whole, replace it whole (USD per 1M tokens)."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
from aiohttp import web

from core.errors import InvalidRequest
from core.money import uc_to_usd_per_mtok
from core.pricing import Price
from db import prices as db_prices
from proxy.admin import audit
from proxy.admin.render import iso
from proxy.admin.validation import invalid, positive_int, read_object, text, usd_per_mtok
from proxy.http.responses import json_response
from proxy.state import DB_POOL

routes = web.RouteTableDef()

PROVIDER = re.compile(r"[a-z0-9_-]{1,32}")
MAX_ROWS = 10_000
# JSON fields are Price's attribute names; the columns add _uc_per_mtok.
REQUIRED_PRICES = ("input", "output")
OPTIONAL_PRICES = ("cached_input", "cache_write")
LONG_PRICES = ("long_input", "long_output", "long_cached_input", "long_cache_write")
PRICE_FIELDS = (*REQUIRED_PRICES, *OPTIONAL_PRICES, *LONG_PRICES)
ROW_FIELDS = frozenset({"provider", "model", "long_context_threshold", *PRICE_FIELDS})


def _usd(uc: int | None) -> float | None:
    return None if uc is None else uc_to_usd_per_mtok(uc)


def price_json(row: asyncpg.Record) -> dict[str, Any]:
    price = db_prices.price_from_row(row)
    return {
        "provider": price.provider,
        "model": price.model,
        "input": _usd(price.input),
        "output": _usd(price.output),
        "cached_input": _usd(price.cached_input),
        "cache_write": _usd(price.cache_write),
        "long_context_threshold": price.long_context_threshold,
        "long_input": _usd(price.long_input),
        "long_output": _usd(price.long_output),
        "long_cached_input": _usd(price.long_cached_input),
        "long_cache_write": _usd(price.long_cache_write),
        "updated_at": iso(row["updated_at"]),
    }


def parse_row(i: int, row: Any) -> Price:
    """One row of a PUT, every field checked; errors name the row and the field."""
    where = f"prices[{i}]"
    if not isinstance(row, dict):
        raise invalid(where, "must be an object")
    unknown = sorted(set(row) - ROW_FIELDS)
    if unknown:
        raise invalid(f"{where}.{unknown[0]}", "is not a known field")
    provider = row.get("provider")
    if not isinstance(provider, str) or not PROVIDER.fullmatch(provider):
        raise invalid(f"{where}.provider", "must be 1 to 32 of a-z, 0-9, '_' or '-'")
    model = text(128, min_chars=1)(f"{where}.model", row.get("model"))
    values: dict[str, int | None] = {}
    for field in PRICE_FIELDS:
        value = row.get(field)
        if value is None and field in REQUIRED_PRICES:
            raise invalid(f"{where}.{field}", "is required (USD per 1M tokens)")
        values[field] = None if value is None else usd_per_mtok(f"{where}.{field}", value)
    threshold = row.get("long_context_threshold")
    if threshold is not None:
        threshold = positive_int(f"{where}.long_context_threshold", threshold)
        for field in ("long_input", "long_output"):
            if values[field] is None:
                raise invalid(f"{where}.{field}", "is required with long_context_threshold")
    else:
        for field in LONG_PRICES:
            if values[field] is not None:
                raise invalid(f"{where}.{field}", "needs long_context_threshold")
    return Price(provider=provider, model=model, long_context_threshold=threshold, **values)


def parse_table(body: dict[str, Any]) -> list[Price]:
    rows = body.get("prices")
    if not isinstance(rows, list):
        raise invalid("prices", "must be a list of price rows")
    if len(rows) > MAX_ROWS:
        raise invalid("prices", f"must have at most {MAX_ROWS} rows")
    prices = [parse_row(i, row) for i, row in enumerate(rows)]
    seen: dict[tuple[str, str], int] = {}
    for i, price in enumerate(prices):
        first = seen.setdefault((price.provider, price.model), i)
        if first != i:
            raise InvalidRequest(
                f"prices[{i}] repeats {price.provider}/{price.model} of prices[{first}].",
                param=f"prices[{i}].model",
            )
    return prices


@routes.get("/pricing")
async def get_pricing(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_prices.fetch_prices(conn)
    return json_response({"prices": [price_json(row) for row in rows]})


@routes.put("/pricing")
async def put_pricing(request: web.Request) -> web.Response:
    prices = parse_table(await read_object(request, allowed={"prices"}))
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        before = [price_json(row) for row in await db_prices.fetch_prices(conn)]
        await db_prices.replace_prices(conn, prices)
        after = [price_json(row) for row in await db_prices.fetch_prices(conn)]
        await audit.record(
            conn, request, "pricing.replace", customer_id=None, target="prices",
            before={"prices": before}, after={"prices": after},
        )  # fmt: skip
    return json_response({"prices": after})
