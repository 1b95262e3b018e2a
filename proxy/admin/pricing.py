"""Admin routes for the price table: read it whole, replace it whole (USD per 1M tokens)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.errors import InvalidRequest
from core.pricing import LONG_PRICES, Price
from db import prices as db_prices
from proxy.admin import audit
from proxy.admin.fields import array, strict_object
from proxy.admin.resources import PRICE, REQUIRED_PRICES
from proxy.admin.routing import Api
from proxy.admin.validation import invalid, read_object
from proxy.http.responses import json_response
from proxy.infra.invalidation import reload_prices
from proxy.state import DB_POOL, PRICE_BOOK

routes = Api()

MAX_ROWS = 10_000
# The prices (USD per 1M tokens) among a row's fields; their names are Price's attributes.
PRICE_FIELDS = tuple(f.name for f in PRICE.fields if f.source.endswith("_uc_per_mtok"))
ROW_FIELDS = frozenset(PRICE.writable())
# A row of a PUT: the row as GET shows it, less what the server sets.
PRICE_ROW = PRICE.input_schema(required=("provider", "model", *REQUIRED_PRICES))


def parse_row(i: int, row: Any) -> Price:
    """One row of a PUT, every field checked; errors name the row and the field."""
    where = f"prices[{i}]"
    if not isinstance(row, dict):
        raise invalid(where, "must be an object")
    unknown = sorted(set(row) - ROW_FIELDS)
    if unknown:
        raise invalid(f"{where}.{unknown[0]}", "is not a known field")

    def parse(name: str) -> Any:
        return PRICE.parse_field(name, row.get(name), label=f"{where}.{name}")

    provider, model = parse("provider"), parse("model")
    values: dict[str, int | None] = {}
    for field in PRICE_FIELDS:
        if row.get(field) is None and field in REQUIRED_PRICES:
            raise invalid(f"{where}.{field}", "is required (USD per 1M tokens)")
        values[field] = None if row.get(field) is None else parse(field)
    threshold = row.get("long_context_threshold")
    if threshold is not None:
        threshold = parse("long_context_threshold")
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


@routes.get(
    "/pricing",
    summary="The price table (USD per 1M tokens)",
    ok={"prices": array(PRICE)},
    role="viewer",
)
async def get_pricing(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_prices.fetch_prices(conn)
    return json_response({"prices": PRICE.render_all(rows)})


@routes.put(
    "/pricing",
    summary="Replace the price table",
    body=strict_object({"prices": array(PRICE_ROW)}),
    ok={"prices": array(PRICE)},
    role="owner",
)
async def put_pricing(request: web.Request) -> web.Response:
    prices = parse_table(await read_object(request, allowed={"prices"}))
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        await db_prices.lock_prices(conn)
        before = PRICE.render_all(await db_prices.fetch_prices(conn))
        await db_prices.replace_prices(conn, prices)
        after = PRICE.render_all(await db_prices.fetch_prices(conn))
        await audit.record(
            conn, request, "pricing.replace", customer_id=None, target="prices",
            before={"prices": before}, after={"prices": after},
        )  # fmt: skip
    # This process prices by the new table at once (the NOTIFY tells the others, and this one
    # again a moment later): a call made right after the PUT is priced by it.
    await reload_prices(request.config_dict[DB_POOL], request.config_dict[PRICE_BOOK])
    return json_response({"prices": after})
