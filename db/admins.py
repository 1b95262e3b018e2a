"""Named admin accounts: email, role, an argon2id password hash, an optional TOTP secret."""

from __future__ import annotations

from typing import Any

import asyncpg

ADMIN_COLUMNS = "id, email, role, totp_enabled, disabled_at, last_login_at, created_at, updated_at"
SELECT_ALL = f"SELECT {ADMIN_COLUMNS} FROM admins ORDER BY id"
SELECT_ONE = f"SELECT {ADMIN_COLUMNS} FROM admins WHERE id = $1"
# Sign-in needs the secrets too; by email, as typed (emails compare without case).
SELECT_FOR_LOGIN = f"""
SELECT {ADMIN_COLUMNS}, password_hash, totp_sealed, totp_last_step
FROM admins WHERE lower(email) = lower($1)
"""
SELECT_SECRETS = f"""
SELECT {ADMIN_COLUMNS}, password_hash, totp_sealed, totp_last_step
FROM admins WHERE id = $1 FOR UPDATE
"""
INSERT = f"""
INSERT INTO admins (email, role, password_hash) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING
RETURNING {ADMIN_COLUMNS}
"""
DELETE = "DELETE FROM admins WHERE id = $1 RETURNING id"
# Owner changes are serialised by locking every owner's row: two owners demoting each other at
# once cannot leave no owner behind.
LOCK_OWNERS = (
    "SELECT id FROM admins WHERE role = 'owner' AND disabled_at IS NULL ORDER BY id FOR UPDATE"
)
TOUCH_LOGIN = "UPDATE admins SET last_login_at = now() WHERE id = $1"
# A code's step is used at most once: the update succeeds only for a later step than the last.
USE_TOTP_STEP = """
UPDATE admins SET totp_last_step = $2
WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)
RETURNING id
"""
EDITABLE_COLUMNS = (
    "role", "password_hash", "disabled_at", "totp_sealed", "totp_enabled", "totp_last_step",
)  # fmt: skip
UPDATE = f"""
UPDATE admins SET {", ".join(f"{c} = ${n}" for n, c in enumerate(EDITABLE_COLUMNS, start=2))},
    updated_at = now()
WHERE id = $1
RETURNING {ADMIN_COLUMNS}
"""


async def admins(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_ALL)


async def admin(conn: asyncpg.Connection, admin_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_ONE, admin_id)


async def for_login(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_FOR_LOGIN, email)


async def locked_with_secrets(conn: asyncpg.Connection, admin_id: int) -> asyncpg.Record | None:
    """The account's row, secrets included, locked until the transaction ends."""
    return await conn.fetchrow(SELECT_SECRETS, admin_id)


async def insert_admin(
    conn: asyncpg.Connection, email: str, role: str, password_hash: str
) -> asyncpg.Record | None:
    """The new account, or None when that email (in any case) already has one."""
    return await conn.fetchrow(INSERT, email, role, password_hash)


async def update_admin(
    conn: asyncpg.Connection, current: asyncpg.Record, changes: dict[str, Any]
) -> asyncpg.Record:
    """The account's row (as locked_with_secrets read it) with `changes` applied."""
    merged = {**dict(current), **changes}
    return await conn.fetchrow(UPDATE, current["id"], *(merged[c] for c in EDITABLE_COLUMNS))


async def delete_admin(conn: asyncpg.Connection, admin_id: int) -> bool:
    return await conn.fetchval(DELETE, admin_id) is not None


async def lock_owners(conn: asyncpg.Connection) -> set[int]:
    """The ids of the enabled owners, locked until the transaction ends."""
    return {row["id"] for row in await conn.fetch(LOCK_OWNERS)}


async def touch_login(conn: asyncpg.Connection, admin_id: int) -> None:
    await conn.execute(TOUCH_LOGIN, admin_id)


async def use_totp_step(conn: asyncpg.Connection, admin_id: int, step: int) -> bool:
    """Record `step` as used; False when it (or a later one) was used already: a replay."""
    return await conn.fetchval(USE_TOTP_STEP, admin_id, step) is not None
