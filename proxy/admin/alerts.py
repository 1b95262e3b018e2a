"""Admin routes for spend alerts: the alerts fired (fired by settlements: db/sql/ledger.sql)
and the webhooks they are delivered to (proxy/infra/alert_delivery.py)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from core.errors import Conflict, NotFound
from core.text import CUSTOMER_ID
from db import alert_webhooks as db_webhooks
from db import alerts as db_alerts
from proxy.admin import audit
from proxy.admin.alert_resources import ALERT, ALERT_DELIVERY, ALERT_WEBHOOK
from proxy.admin.fields import INT, MONTH, STR, array, nullable_schema
from proxy.admin.routing import Api
from proxy.admin.usage import parse_month, settled_here
from proxy.admin.validation import invalid, path_id, path_number, query_int, read_object
from proxy.http.responses import json_response
from proxy.infra.alert_delivery import secret_context
from proxy.infra.secretbox import SecretBox
from proxy.state import DB_POOL, READ_POOL, UPSTREAMS

routes = Api()

WEBHOOK_CREATE = ("url", "secret", "events", "active")
WEBHOOK_PATCH = WEBHOOK_CREATE
DEFAULTS: dict[str, Any] = {"events": None, "active": True}


def _no_webhook(wid: str) -> NotFound:
    return NotFound(f"No alert webhook with id {wid!r}.")


def _box(request: web.Request) -> SecretBox:
    box = request.config_dict[UPSTREAMS].box
    if box is None:  # settings resolution always sets KAIXU_SECRET
        raise Conflict("The gateway has no KAIXU_SECRET; webhook secrets cannot be stored.")
    return box


def audited(webhook: dict[str, Any]) -> dict[str, Any]:
    """What the audit log keeps of a webhook: its URL's origin only (viewers read the log, and
    a webhook's path is often a credential, as Slack's are)."""
    parts = urlsplit(webhook["url"])
    return {**webhook, "url": f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"}


@routes.get(
    "/alerts",
    summary="Alerts fired, newest first, with their delivery state",
    ok={"alerts": array(ALERT), "next_cursor": nullable_schema(INT)},
    query={"customer_id": STR, "month": MONTH, "limit": INT, "cursor": INT},
    role="viewer",
)
async def list_alerts(request: web.Request) -> web.Response:
    """`customer_id` and `month` (YYYY-MM) filter; `cursor` (the last id seen) pages."""
    customer_id = request.query.get("customer_id") or None
    if customer_id is not None and not CUSTOMER_ID.fullmatch(customer_id):
        raise invalid("customer_id", "is not a customer id")
    month = parse_month(request.query["month"]) if request.query.get("month") else None
    cursor = query_int(request, "cursor", lo=1, hi=2**62)
    limit = query_int(request, "limit", lo=1, hi=500) or 100
    await settled_here(request)
    rows = await db_alerts.list_alerts(
        request.config_dict[READ_POOL], customer_id, month, cursor, limit + 1
    )
    alerts = ALERT.render_all(rows[:limit])
    next_cursor = alerts[-1]["id"] if len(rows) > limit else None
    return json_response({"alerts": alerts, "next_cursor": next_cursor})


@routes.get(
    r"/alerts/{aid:\d+}/deliveries",
    summary="An alert's deliveries, one per webhook, with the last attempt",
    ok={"deliveries": array(ALERT_DELIVERY)},
    role="viewer",
)
async def list_deliveries(request: web.Request) -> web.Response:
    aid = path_number(request, "aid", "alert")
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_alerts.deliveries(conn, aid)
    return json_response({"deliveries": ALERT_DELIVERY.render_all(rows)})


@routes.get(
    "/alerts/webhooks",
    summary="List the alert webhooks (secrets are never shown again)",
    ok={"webhooks": array(ALERT_WEBHOOK)},
    role="owner",  # a webhook URL is often a credential itself (Slack's are)
)
async def list_webhooks(request: web.Request) -> web.Response:
    async with request.config_dict[DB_POOL].acquire() as conn:
        rows = await db_webhooks.list_webhooks(conn)
    return json_response({"webhooks": ALERT_WEBHOOK.render_all(rows)})


@routes.post(
    "/alerts/webhooks",
    summary="Add an alert webhook; its signing secret (generated unless given) is shown once",
    body=ALERT_WEBHOOK.input_schema(WEBHOOK_CREATE, required=("url",)),
    ok={"webhook": ALERT_WEBHOOK},
    status=201,
    role="owner",
)
async def create_webhook(request: web.Request) -> web.Response:
    values = {**DEFAULTS, **ALERT_WEBHOOK.parse(
        await read_object(request), fields=WEBHOOK_CREATE, required=("url",)
    )}  # fmt: skip
    secret = values.pop("secret", None) or f"whsec_{secrets.token_hex(24)}"
    wid = f"wh_{secrets.token_hex(6)}"
    sealed = _box(request).seal(secret.encode(), secret_context(wid))
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        row = await db_webhooks.insert_webhook(conn, wid, values, sealed)
        webhook = ALERT_WEBHOOK.render(row)
        await audit.record(
            conn,
            request,
            "alert_webhook.create",
            customer_id=None,
            target=wid,
            after=audited(webhook),
        )
    return json_response({"webhook": {**webhook, "secret": secret}}, status=201)


@routes.get(
    "/alerts/webhooks/{wid}",
    summary="Read an alert webhook",
    ok={"webhook": ALERT_WEBHOOK},
    role="owner",  # a webhook URL is often a credential itself (Slack's are)
)
async def get_webhook(request: web.Request) -> web.Response:
    wid = path_id(request, "wid", "alert webhook")
    async with request.config_dict[DB_POOL].acquire() as conn:
        row = await db_webhooks.fetch_webhook(conn, wid)
    if row is None:
        raise _no_webhook(wid)
    return json_response({"webhook": ALERT_WEBHOOK.render(row)})


@routes.patch(
    "/alerts/webhooks/{wid}",
    summary="Change an alert webhook (a new secret given here is not shown back)",
    body=ALERT_WEBHOOK.input_schema(WEBHOOK_PATCH),
    ok={"webhook": ALERT_WEBHOOK},
    role="owner",
)
async def patch_webhook(request: web.Request) -> web.Response:
    wid = path_id(request, "wid", "alert webhook")
    changes = ALERT_WEBHOOK.parse(await read_object(request), fields=WEBHOOK_PATCH)
    secret = changes.pop("secret", None)
    sealed = _box(request).seal(secret.encode(), secret_context(wid)) if secret else None
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        current = await db_webhooks.lock_webhook(conn, wid)
        if current is None:
            raise _no_webhook(wid)
        before = ALERT_WEBHOOK.render(current)
        row = await db_webhooks.update_webhook(conn, wid, {**dict(current), **changes})
        if sealed is not None:
            await db_webhooks.update_secret(conn, wid, sealed)
        after = ALERT_WEBHOOK.render(row)
        if changes or sealed is not None:
            await audit.record(
                conn, request, "alert_webhook.update", customer_id=None, target=wid,
                before=audited(before),
                after={**audited(after), "secret_changed": sealed is not None},
            )  # fmt: skip
    return json_response({"webhook": after})


@routes.delete(
    "/alerts/webhooks/{wid}",
    summary="Remove an alert webhook (its pending deliveries go with it)",
    status=204,
    role="owner",
)
async def delete_webhook(request: web.Request) -> web.Response:
    wid = path_id(request, "wid", "alert webhook")
    async with request.config_dict[DB_POOL].acquire() as conn, conn.transaction():
        current = await db_webhooks.lock_webhook(conn, wid)
        if current is None:
            raise _no_webhook(wid)
        await db_webhooks.delete_webhook(conn, wid)
        await audit.record(conn, request, "alert_webhook.delete", customer_id=None, target=wid,
                           before=audited(ALERT_WEBHOOK.render(current)))  # fmt: skip
    return web.Response(status=204)
