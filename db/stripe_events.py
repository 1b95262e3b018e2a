"""Stripe webhook events as received: one row per event id, with what was done about it."""

from __future__ import annotations

from typing import Any

import asyncpg

# A redelivered event id inserts nothing: the caller then changes nothing else either.
INSERT_EVENT = """
INSERT INTO stripe_events (event_id, type, session_id, customer_id, amount_uc, outcome, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""
SET_OUTCOME = "UPDATE stripe_events SET outcome = $2 WHERE event_id = $1"


async def insert_event(
    conn: asyncpg.Connection,
    *,
    event_id: str,
    type: str,
    session_id: str | None,
    customer_id: str | None,
    amount_uc: int | None,
    outcome: str,
    payload: dict[str, Any],
) -> bool:
    """True if the event is new; False for a delivery of an event already recorded."""
    recorded = await conn.fetchval(
        INSERT_EVENT, event_id, type, session_id, customer_id, amount_uc, outcome, payload
    )
    return recorded is not None


async def set_outcome(conn: asyncpg.Connection, event_id: str, outcome: str) -> None:
    await conn.execute(SET_OUTCOME, event_id, outcome)
