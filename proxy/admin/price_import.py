"""Importing a price file (the project's CSV or LiteLLM's price map): a preview of what would
be added and changed, then, confirmed with the preview's digest, the change itself, audited and
effective on every process within a second. Also the model aliases.

The file is the request body itself (up to 16 MiB: the community map is ~2 MiB, more than the
client routes' body limit), so the dashboard can send the file the operator picked as it is.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import orjson
from aiohttp import web

from core import price_import
from core.errors import Conflict, InvalidRequest, NotFound, PayloadTooLarge
from core.price_import import Diff, ImportProblem, Parsed
from core.pricing import Price
from db import prices as db_prices
from proxy.admin import audit
from proxy.admin.fields import INT, STR, array, enum, strict_object
from proxy.admin.resources import MODEL_ALIAS, PRICE
from proxy.admin.routing import Api
from proxy.admin.validation import path_id, read_object
from proxy.http.responses import json_response
from proxy.infra.invalidation import reload_prices
from proxy.state import DB_POOL, PRICE_BOOK

routes = Api()

MAX_FILE_BYTES = 16 * 1024 * 1024
ALIAS_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
# A row as a file gives it: the table's row less its updated_at.
FILE_ROW = PRICE.input_schema(required=PRICE.writable())
PRICE_CHANGE = strict_object({"before": FILE_ROW, "after": FILE_ROW})
IMPORT_ANSWER = {
    "format": enum("csv", "litellm"),
    "added": array(FILE_ROW),
    "changed": array(PRICE_CHANGE),
    "unchanged": INT,
    "skipped": {**INT, "description": "entries of other providers or kinds of model"},
    "warnings": array(STR),
    "digest": {**STR, "description": "send it back as ?confirm= to apply exactly this"},
    "applied": {"type": "boolean"},
}


def digest(plan: Diff) -> str:
    """Names exactly the rows a confirmation applies: any change in between is another digest."""
    rows = [(p.provider, p.model, p.long_context_threshold, *p.prices().values())
            for p in plan.to_apply]  # fmt: skip
    return hashlib.sha256(orjson.dumps(rows)).hexdigest()[:32]


def rendered(price: Price) -> dict[str, Any]:
    row = {"provider": price.provider, "model": price.model,
           "long_context_threshold": price.long_context_threshold}  # fmt: skip
    row.update({f"{name}_uc_per_mtok": value for name, value in price.prices().items()})
    return PRICE.render(row, fields=PRICE.writable())


async def read_file(request: web.Request) -> str:
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"A price file may have at most {MAX_FILE_BYTES // 2**20} MiB.")
        chunks.append(chunk)
    try:
        return b"".join(chunks).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRequest("The price file is not UTF-8 text.") from None


@routes.post(
    "/pricing/import",
    summary="Preview importing a price file (the body: our CSV or LiteLLM's JSON); with"
    " ?confirm=<digest of the preview>, apply it",
    ok=IMPORT_ANSWER,
    query={"format": enum("csv", "litellm"), "confirm": STR},
    errors=(409,),
    role="owner",
)
async def import_prices(request: web.Request) -> web.Response:
    fmt = request.query.get("format") or None
    if fmt not in (None, "csv", "litellm"):
        raise InvalidRequest("format must be csv or litellm.", param="format")
    text = await read_file(request)
    fmt = fmt or price_import.detect_format(text)
    pool = request.config_dict[DB_POOL]
    providers = await db_prices.known_providers(pool)
    try:  # in a thread: a file of megabytes must not stall the event loop's client traffic
        parsed: Parsed = await asyncio.to_thread(price_import.parse, text, providers, fmt)
    except ImportProblem as exc:
        raise InvalidRequest(f"The price file cannot be imported: {exc}.") from None
    wanted = request.query.get("confirm")
    applied = wanted is not None
    async with pool.acquire() as conn, conn.transaction():
        if applied:
            await db_prices.lock_prices(conn)
        current = [db_prices.price_from_row(r) for r in await db_prices.fetch_prices(conn)]
        plan = price_import.diff(current, parsed.prices)
        if applied:
            if wanted != digest(plan):
                raise Conflict("The price table or the file changed since the preview; preview"
                               " it again and confirm that.")  # fmt: skip
            await db_prices.upsert_prices(conn, plan.to_apply)
            await audit.record(
                conn, request, "pricing.import", customer_id=None, target="prices",
                after={"format": fmt, "added": [rendered(p) for p in plan.added],
                       "changed": [{"before": rendered(c.before), "after": rendered(c.after)}
                                   for c in plan.changed]},
            )  # fmt: skip
    if applied:
        await reload_prices(pool, request.config_dict[PRICE_BOOK])
    return json_response({
        "format": fmt,
        "added": [rendered(p) for p in plan.added],
        "changed": [{"before": rendered(c.before), "after": rendered(c.after)}
                    for c in plan.changed],
        "unchanged": len(plan.unchanged),
        "skipped": parsed.skipped,
        "warnings": parsed.warnings,
        "digest": digest(plan),
        "applied": applied,
    })  # fmt: skip


@routes.get(
    "/pricing/aliases",
    summary="Model names priced as another model (dated snapshots, -latest, an operator's own)",
    ok={"aliases": array(MODEL_ALIAS)},
    role="viewer",
)
async def list_aliases(request: web.Request) -> web.Response:
    rows = await db_prices.fetch_aliases(request.config_dict[DB_POOL])
    return json_response({"aliases": MODEL_ALIAS.render_all(rows)})


@routes.post(
    "/pricing/aliases",
    summary="Price a model name as another, priced model of the same provider",
    body=MODEL_ALIAS.input_schema(required=("provider", "alias", "model")),
    ok={"alias": MODEL_ALIAS},
    status=201,
    role="owner",
)
async def add_alias(request: web.Request) -> web.Response:
    body = await read_object(request)
    values = MODEL_ALIAS.parse(body, required=("provider", "alias", "model"))
    provider, alias, model = values["provider"], values["alias"], values["model"]
    if alias == model:
        raise InvalidRequest("An alias names another model than itself.", param="alias")
    book = request.config_dict[PRICE_BOOK]
    if book.table.lookup(provider, model) is None:
        raise InvalidRequest(f"{provider}/{model} has no price: an alias names a priced model.",
                             param="model")  # fmt: skip
    pool = request.config_dict[DB_POOL]
    async with pool.acquire() as conn, conn.transaction():
        row = await db_prices.set_alias(conn, provider, alias, model)
        await audit.record(conn, request, "pricing.alias", customer_id=None,
                           target=f"{provider}/{alias}", after={"model": model})  # fmt: skip
    await reload_prices(pool, book)
    return json_response({"alias": MODEL_ALIAS.render(row)}, status=201)


@routes.delete(
    "/pricing/aliases/{provider}/{alias}", summary="Remove an alias", status=204, role="owner"
)
async def delete_alias(request: web.Request) -> web.Response:
    provider = path_id(request, "provider", "alias")
    alias = request.match_info["alias"]
    if not ALIAS_NAME.fullmatch(alias):  # a name no alias can have (control characters…)
        raise NotFound(f"No alias {alias!r} of {provider}.")
    pool = request.config_dict[DB_POOL]
    async with pool.acquire() as conn, conn.transaction():
        model = await db_prices.delete_alias(conn, provider, alias)
        if model is None:
            raise NotFound(f"No alias {alias!r} of {provider}.")
        await audit.record(conn, request, "pricing.alias_delete", customer_id=None,
                           target=f"{provider}/{alias}", before={"model": model})  # fmt: skip
    await reload_prices(pool, request.config_dict[PRICE_BOOK])
    return web.Response(status=204)
