"""Customers: list, read, create and change them; tell every process when one changes."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.alerts import DEFAULT_THRESHOLDS

# Columns an operator sets (proxy.admin.resources.CUSTOMER's writable fields but the id; a test
# holds them equal); INSERT_CUSTOMER and UPDATE_CUSTOMER are written from this list.
EDITABLE_COLUMNS = (
    "name",
    "plan",
    "monthly_cap_uc",
    "rpm_limit",
    "allowed_providers",
    "allowed_models",
    "active",
    "alert_thresholds",
    "credit_low_uc",
)

CUSTOMER_COLUMNS = """
    c.id, c.name, c.plan, c.monthly_cap_uc, c.rpm_limit, c.allowed_providers, c.allowed_models,
    c.active, c.alert_thresholds, c.credit_low_uc, c.extra_uc, c.created_at, c.updated_at,
    (SELECT count(*) FROM api_keys k
     WHERE k.customer_id = c.id AND k.revoked_at IS NULL) AS active_keys
"""
SELECT_CUSTOMERS = f"SELECT {CUSTOMER_COLUMNS} FROM customers c ORDER BY c.created_at, c.id"
SELECT_CUSTOMER = f"SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE c.id = $1"
CUSTOMER_EXISTS = "SELECT EXISTS (SELECT 1 FROM customers WHERE id = $1)"
# Only this row, and only for the read-modify-write of a PATCH: no lock-order risk with the
# hot path, which takes customer_months before customers.
LOCK_CUSTOMER = f"SELECT {', '.join(EDITABLE_COLUMNS)} FROM customers WHERE id = $1 FOR UPDATE"
INSERT_CUSTOMER = f"""
INSERT INTO customers (id, {", ".join(EDITABLE_COLUMNS)})
VALUES ($1, {", ".join(f"${n}" for n in range(2, len(EDITABLE_COLUMNS) + 2))})
ON CONFLICT (id) DO NOTHING
RETURNING id
"""
UPDATE_CUSTOMER = f"""
UPDATE customers
SET {", ".join(f"{column} = ${n}" for n, column in enumerate(EDITABLE_COLUMNS, start=2))},
    updated_at = now()
WHERE id = $1
"""
NOTIFY_CUSTOMER = "SELECT pg_notify('kaixu_invalidate', 'customer:' || $1)"

# The table's own defaults, for a customer created with only some fields given.
DEFAULTS: dict[str, Any] = {
    "name": "",
    "plan": "default",
    "monthly_cap_uc": 0,
    "rpm_limit": None,
    "allowed_providers": None,
    "allowed_models": None,
    "active": True,
    "alert_thresholds": DEFAULT_THRESHOLDS,
    "credit_low_uc": None,
}


async def list_customers(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_CUSTOMERS)


async def fetch_customer(conn: asyncpg.Connection, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_CUSTOMER, customer_id)


async def customer_exists(conn: asyncpg.Connection, customer_id: str) -> bool:
    return await conn.fetchval(CUSTOMER_EXISTS, customer_id)


async def insert_customer(
    conn: asyncpg.Connection, customer_id: str, values: dict[str, Any]
) -> bool:
    """Insert (missing columns take DEFAULTS); False if the id is taken."""
    merged = {**DEFAULTS, **values}
    inserted = await conn.fetchval(
        INSERT_CUSTOMER, customer_id, *(merged[c] for c in EDITABLE_COLUMNS)
    )
    return inserted is not None


async def lock_customer(conn: asyncpg.Connection, customer_id: str) -> dict[str, Any] | None:
    """The editable columns, locked until the caller's transaction ends."""
    row = await conn.fetchrow(LOCK_CUSTOMER, customer_id)
    return dict(row) if row is not None else None


async def update_customer(
    conn: asyncpg.Connection, customer_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(UPDATE_CUSTOMER, customer_id, *(values[c] for c in EDITABLE_COLUMNS))


async def notify_customer(conn: asyncpg.Connection, customer_id: str) -> None:
    """Sent at commit: every process drops what it cached about this customer."""
    await conn.execute(NOTIFY_CUSTOMER, customer_id)
