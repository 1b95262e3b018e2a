"""Credit top-ups: each one is a row and an increment of the customer's credit, in one statement."""

from __future__ import annotations

import asyncpg

TOPUP_COLUMNS = "id, customer_id, amount_uc, source, note, actor, stripe_session_id, created_at"

# The top-up row and the credit move together; a Stripe session already credited inserts
# nothing (and credits nothing), however often its event is delivered.
INSERT_TOPUP = f"""
WITH topup AS (
    INSERT INTO topups (customer_id, amount_uc, source, note, actor, stripe_session_id)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (stripe_session_id) DO NOTHING
    RETURNING {TOPUP_COLUMNS}
), credited AS (
    UPDATE customers SET extra_uc = extra_uc + (SELECT amount_uc FROM topup), updated_at = now()
    WHERE id = $1 AND EXISTS (SELECT 1 FROM topup)
    RETURNING extra_uc
)
SELECT topup.*, credited.extra_uc FROM topup, credited
"""

# The customer's row is locked until the transaction ends: the room read is still true when
# the credit is added.
LOCK_CREDIT = "SELECT extra_uc FROM customers WHERE id = $1 FOR NO KEY UPDATE"

SELECT_TOPUPS = f"""
SELECT {TOPUP_COLUMNS} FROM topups WHERE customer_id = $1 ORDER BY id DESC LIMIT $2
"""


async def insert_topup(
    conn: asyncpg.Connection,
    *,
    customer_id: str,
    amount_uc: int,
    source: str,
    note: str,
    actor: str,
    stripe_session_id: str | None = None,
) -> asyncpg.Record | None:
    """The new top-up with the customer's credit after it, or None if that Stripe session
    was credited before. The caller checks the customer exists (and holds the transaction)."""
    return await conn.fetchrow(
        INSERT_TOPUP, customer_id, amount_uc, source, note, actor, stripe_session_id
    )


async def credit_room(conn: asyncpg.Connection, customer_id: str, max_credit_uc: int) -> int:
    """How much more credit the customer can take (0 if none); locks the balance for the
    caller's transaction."""
    extra_uc = await conn.fetchval(LOCK_CREDIT, customer_id)
    return max(max_credit_uc - (extra_uc or 0), 0)


async def customer_topups(
    conn: asyncpg.Connection, customer_id: str, limit: int = 500
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_TOPUPS, customer_id, limit)
