"""The operator's alert webhooks: list, read, create, change, remove. Secrets arrive sealed
(proxy/infra/secretbox.py) and leave sealed; only the delivery worker opens them."""

from __future__ import annotations

from typing import Any

import asyncpg

EDITABLE_COLUMNS = ("url", "events", "active")
WEBHOOK_COLUMNS = ("id", *EDITABLE_COLUMNS, "created_at", "updated_at")
SELECT_WEBHOOKS = f"SELECT {', '.join(WEBHOOK_COLUMNS)} FROM alert_webhooks ORDER BY created_at, id"
SELECT_WEBHOOK = f"SELECT {', '.join(WEBHOOK_COLUMNS)} FROM alert_webhooks WHERE id = $1"
LOCK_WEBHOOK = f"{SELECT_WEBHOOK} FOR UPDATE"
INSERT_WEBHOOK = f"""
INSERT INTO alert_webhooks (id, url, events, active, secret_enc)
VALUES ($1, $2, $3, $4, $5)
RETURNING {", ".join(WEBHOOK_COLUMNS)}
"""
UPDATE_WEBHOOK = f"""
UPDATE alert_webhooks SET url = $2, events = $3, active = $4, updated_at = now()
WHERE id = $1
RETURNING {", ".join(WEBHOOK_COLUMNS)}
"""
UPDATE_SECRET = "UPDATE alert_webhooks SET secret_enc = $2, updated_at = now() WHERE id = $1"
DELETE_WEBHOOK = "DELETE FROM alert_webhooks WHERE id = $1 RETURNING id"


async def list_webhooks(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_WEBHOOKS)


async def fetch_webhook(conn: asyncpg.Connection, wid: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_WEBHOOK, wid)


async def lock_webhook(conn: asyncpg.Connection, wid: str) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_WEBHOOK, wid)


async def insert_webhook(
    conn: asyncpg.Connection, wid: str, values: dict[str, Any], secret_enc: bytes
) -> asyncpg.Record:
    return await conn.fetchrow(
        INSERT_WEBHOOK, wid, values["url"], values["events"], values["active"], secret_enc
    )


async def update_webhook(
    conn: asyncpg.Connection, wid: str, values: dict[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(UPDATE_WEBHOOK, wid, values["url"], values["events"],
                               values["active"])  # fmt: skip


async def delete_webhook(conn: asyncpg.Connection, wid: str) -> bool:
    """Its pending deliveries go with it (ON DELETE CASCADE)."""
    return await conn.fetchval(DELETE_WEBHOOK, wid) is not None


async def update_secret(conn: asyncpg.Connection, wid: str, secret_enc: bytes) -> None:
    await conn.execute(UPDATE_SECRET, wid, secret_enc)
