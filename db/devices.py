"""Devices (install ids) seen per key: listing and revoking."""

from __future__ import annotations

import asyncpg

DEVICE_COLUMNS = (
    "id, key_id, customer_id, install_id, user_agent, first_seen, last_seen, revoked_at"
)
SELECT_CUSTOMER_DEVICES = f"""
SELECT {DEVICE_COLUMNS} FROM devices
WHERE customer_id = $1 AND ($2::text IS NULL OR key_id = $2)
ORDER BY last_seen DESC, id DESC
"""
# Revoking keeps the first revocation time; the seat is free at once (seats count
# non-revoked devices), and the hot path reads devices in its admission round trip. The key's
# NOTIFY makes every process drop the spare reservations it holds for the key's devices
# (proxy.ledger.spares), which skip that round trip.
REVOKE_DEVICE = f"""
UPDATE devices SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
RETURNING {DEVICE_COLUMNS}
"""
NOTIFY_KEY = "SELECT pg_notify('kaixu_invalidate', 'key:' || $1)"


async def customer_devices(
    conn: asyncpg.Connection, customer_id: str, key_id: str | None = None
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_CUSTOMER_DEVICES, customer_id, key_id)


async def revoke_device(conn: asyncpg.Connection, device_id: int) -> asyncpg.Record | None:
    """Call it in a transaction: the notification goes out at its commit."""
    row = await conn.fetchrow(REVOKE_DEVICE, device_id)
    if row is not None:
        await conn.execute(NOTIFY_KEY, row["key_id"])
    return row
