"""The audit log of admin actions (and Stripe credits): who, from where, what, before and after."""

from __future__ import annotations

from typing import Any

import asyncpg

INSERT_AUDIT = """
INSERT INTO audit_log (actor, address, action, customer_id, target, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
SELECT_AUDIT = """
SELECT id, at, actor, address, action, customer_id, target, before, after FROM audit_log
WHERE ($1::text IS NULL OR customer_id = $1) AND ($2::bigint IS NULL OR id < $2)
ORDER BY id DESC LIMIT $3
"""


async def insert_audit(
    conn: asyncpg.Connection,
    *,
    actor: str,
    address: str | None,
    action: str,
    customer_id: str | None,
    target: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await conn.execute(INSERT_AUDIT, actor, address, action, customer_id, target, before, after)


async def audit_entries(
    conn: asyncpg.Connection, customer_id: str | None, before_id: int | None, limit: int
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_AUDIT, customer_id, before_id, limit)
