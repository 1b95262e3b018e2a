"""The audit trail: every admin write records who, from where, what, before and after."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from db import audit as db_audit
from proxy.admin.fields import INT, STR, array, nullable_schema
from proxy.admin.resources import AUDIT_ENTRY
from proxy.admin.routing import Api
from proxy.admin.validation import query_int
from proxy.http.client_address import client_address
from proxy.http.responses import json_response
from proxy.state import ADMIN_ACTOR, DB_POOL

routes = Api()


async def record(
    conn: asyncpg.Connection,
    request: web.Request,
    action: str,
    *,
    customer_id: str | None,
    target: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Call inside the write's own transaction, so the action and its record stand or fall
    together."""
    await db_audit.insert_audit(
        conn,
        actor=request.get(ADMIN_ACTOR, "admin"),
        address=client_address(request),
        action=action,
        customer_id=customer_id,
        target=target,
        before=before,
        after=after,
    )


@routes.get(
    "/audit",
    summary="Who did what, newest first",
    ok={"entries": array(AUDIT_ENTRY), "next_cursor": nullable_schema(INT)},
    query={"customer_id": STR, "limit": INT, "cursor": INT},
    role="viewer",
)
async def list_audit(request: web.Request) -> web.Response:
    """Newest first; `customer_id` filters, `cursor` (the last id seen) pages."""
    customer_id = request.query.get("customer_id") or None
    cursor = query_int(request, "cursor", lo=1, hi=2**62)
    limit = query_int(request, "limit", lo=1, hi=500) or 100
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_audit.audit_entries(conn, customer_id, cursor, limit + 1)
    entries = AUDIT_ENTRY.render_all(rows[:limit])
    next_cursor = entries[-1]["id"] if len(rows) > limit else None
    return json_response({"entries": entries, "next_cursor": next_cursor})
