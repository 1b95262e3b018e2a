"""API keys: list, create, change, rotate and revoke them; tell every process when one changes.

The secret hash is written here and never read back: no query returns it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from core.apikeys import NewKey

# Columns an operator sets (proxy.admin.resources.KEY's writable fields; a test holds them
# equal); INSERT_KEY and UPDATE_KEY are written from this list.
EDITABLE_COLUMNS = (
    "label",
    "cap_uc",
    "rpm_limit",
    "max_devices",
    "require_install",
    "allowed_providers",
    "allowed_models",
)

KEY_COLUMNS = """
    id, customer_id, kind, last4, label, cap_uc, rpm_limit, max_devices, require_install,
    allowed_providers, allowed_models, rotated_from, revoked_at, created_at
"""
SELECT_CUSTOMER_KEYS = (
    f"SELECT {KEY_COLUMNS} FROM api_keys WHERE customer_id = $1 ORDER BY created_at, id"
)
SELECT_KEY = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1"
# NO KEY UPDATE, not UPDATE: the hot path's foreign-key checks (FOR KEY SHARE on this row, when
# it writes usage rows) are never blocked by an operator editing the key.
LOCK_KEY = f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 FOR NO KEY UPDATE"
# The columns a new key gets besides the editable ones, in the $n order of insert_key.
NEW_KEY_COLUMNS = ("id", "customer_id", "kind", "secret_hash", "last4", "rotated_from")
INSERT_COLUMNS = (*NEW_KEY_COLUMNS, *EDITABLE_COLUMNS)
INSERT_KEY = f"""
INSERT INTO api_keys ({", ".join(INSERT_COLUMNS)})
VALUES ({", ".join(f"${n}" for n in range(1, len(INSERT_COLUMNS) + 1))})
RETURNING {KEY_COLUMNS}
"""
UPDATE_KEY = f"""
UPDATE api_keys
SET {", ".join(f"{column} = ${n}" for n, column in enumerate(EDITABLE_COLUMNS, start=2))}
WHERE id = $1
RETURNING {KEY_COLUMNS}
"""
# Revoking twice keeps the first moment: the audit trail shows when the cutoff really happened.
REVOKE_KEY = f"""
UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
WHERE id = $1
RETURNING {KEY_COLUMNS}
"""
NOTIFY_KEY = "SELECT pg_notify('kaixu_invalidate', 'key:' || $1)"
# A key still hashed under a previous KAIXU_SECRET moves to the current one (at most once).
REHASH_KEY = """
WITH moved AS (
    UPDATE api_keys SET secret_hash = $2 WHERE id = $1 AND secret_hash = $3 RETURNING id
)
SELECT pg_notify('kaixu_invalidate', 'key:' || id) FROM moved
"""

DEFAULTS: dict[str, Any] = {
    "label": "",
    "cap_uc": None,
    "rpm_limit": None,
    "max_devices": None,
    "require_install": False,
    "allowed_providers": None,
    "allowed_models": None,
}


async def customer_keys(conn: asyncpg.Connection, customer_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_CUSTOMER_KEYS, customer_id)


async def fetch_key(conn: asyncpg.Connection, key_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_KEY, key_id)


async def lock_key(conn: asyncpg.Connection, key_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_KEY, key_id)


async def insert_key(
    conn: asyncpg.Connection,
    new: NewKey,
    *,
    customer_id: str,
    kind: str,
    values: dict[str, Any],
    rotated_from: str | None = None,
) -> asyncpg.Record:
    """Insert a key with every editable column given (missing ones take DEFAULTS)."""
    merged = {**DEFAULTS, **values}
    return await conn.fetchrow(
        INSERT_KEY,
        new.id,
        customer_id,
        kind,
        new.secret_hash,
        new.last4,
        rotated_from,
        *(merged[c] for c in EDITABLE_COLUMNS),
    )


async def update_key(
    conn: asyncpg.Connection, key_id: str, values: dict[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(UPDATE_KEY, key_id, *(values[c] for c in EDITABLE_COLUMNS))


async def revoke_key(conn: asyncpg.Connection, key_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(REVOKE_KEY, key_id)


async def notify_keys(conn: asyncpg.Connection, *key_ids: str) -> None:
    """Sent at commit: every process drops what it cached about these keys."""
    for key_id in key_ids:
        await conn.execute(NOTIFY_KEY, key_id)


async def rehash_key(pool: asyncpg.Pool, key_id: str, new_hash: bytes, old_hash: bytes) -> None:
    await pool.execute(REHASH_KEY, key_id, new_hash, old_hash)
