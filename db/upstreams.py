"""Upstreams the operator added: list, read, create, change, remove; tell every process. Keys
and headers arrive here sealed (proxy/infra/secretbox.py) and leave sealed."""

from __future__ import annotations

from typing import Any

import asyncpg

# The columns an operator sets (the sealed key and headers stand for api_key and headers).
EDITABLE_COLUMNS = (
    "provider",
    "api",
    "label",
    "base_url",
    "key_enc",
    "key_last4",
    "headers_enc",
    "header_names",
    "models",
    "priority",
    "weight",
    "enabled",
)
UPSTREAM_COLUMNS = ("id", *EDITABLE_COLUMNS, "created_at", "updated_at")
SELECT_UPSTREAMS = f"SELECT {', '.join(UPSTREAM_COLUMNS)} FROM upstreams ORDER BY created_at, id"
SELECT_UPSTREAM = f"SELECT {', '.join(UPSTREAM_COLUMNS)} FROM upstreams WHERE id = $1"
LOCK_UPSTREAM = f"{SELECT_UPSTREAM} FOR UPDATE"
INSERT_UPSTREAM = f"""
INSERT INTO upstreams (id, {", ".join(EDITABLE_COLUMNS)})
VALUES ($1, {", ".join(f"${n}" for n in range(2, len(EDITABLE_COLUMNS) + 2))})
RETURNING {", ".join(UPSTREAM_COLUMNS)}
"""
UPDATE_UPSTREAM = f"""
UPDATE upstreams
SET {", ".join(f"{column} = ${n}" for n, column in enumerate(EDITABLE_COLUMNS, start=2))},
    updated_at = now()
WHERE id = $1
RETURNING {", ".join(UPSTREAM_COLUMNS)}
"""
DELETE_UPSTREAM = "DELETE FROM upstreams WHERE id = $1 RETURNING id"
RESEAL = "UPDATE upstreams SET key_enc = $2, headers_enc = $3 WHERE id = $1"
NOTIFY_UPSTREAMS = "SELECT pg_notify('kaixu_invalidate', 'upstreams')"
# The upstreams' health as each other live process last saw it (written with its heartbeat).
SELECT_HEALTH = """
SELECT upstream_health FROM gateway_processes
WHERE upstream_health IS NOT NULL AND heartbeat_at > now() - interval '10 seconds' AND id <> $1
"""
# Serialises the changes that could give one provider two wire formats (the caller's transaction).
LOCK_PROVIDER = "SELECT pg_advisory_xact_lock(hashtextextended('upstreams:' || $1, 0))"
# Another provider name's upstreams that speak a different wire format (one per provider).
SELECT_OTHER_API = """
SELECT api FROM upstreams WHERE provider = $1 AND api <> $2 AND id <> $3 LIMIT 1
"""


async def list_upstreams(
    conn: asyncpg.Connection | asyncpg.Pool, *, for_update: bool = False
) -> list[asyncpg.Record]:
    return await conn.fetch(SELECT_UPSTREAMS + (" FOR UPDATE" if for_update else ""))


async def fetch_upstream(conn: asyncpg.Connection, uid: str) -> asyncpg.Record | None:
    return await conn.fetchrow(SELECT_UPSTREAM, uid)


async def lock_upstream(conn: asyncpg.Connection, uid: str) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_UPSTREAM, uid)


async def other_api(conn: asyncpg.Connection, provider: str, api: str, uid: str) -> str | None:
    """The wire format another upstream of `provider` speaks, if not `api`; holds the
    provider's lock until the caller's transaction ends, so two changes cannot both pass."""
    await conn.execute(LOCK_PROVIDER, provider)
    return await conn.fetchval(SELECT_OTHER_API, provider, api, uid)


async def insert_upstream(
    conn: asyncpg.Connection, uid: str, values: dict[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(INSERT_UPSTREAM, uid, *(values[c] for c in EDITABLE_COLUMNS))


async def update_upstream(
    conn: asyncpg.Connection, uid: str, values: dict[str, Any]
) -> asyncpg.Record:
    return await conn.fetchrow(UPDATE_UPSTREAM, uid, *(values[c] for c in EDITABLE_COLUMNS))


async def delete_upstream(conn: asyncpg.Connection, uid: str) -> bool:
    return await conn.fetchval(DELETE_UPSTREAM, uid) is not None


async def reseal(
    conn: asyncpg.Connection, uid: str, key_enc: bytes, headers_enc: bytes | None
) -> None:
    await conn.execute(RESEAL, uid, key_enc, headers_enc)


async def notify_upstreams(conn: asyncpg.Connection) -> None:
    """Every process reloads its upstreams when the caller's transaction commits."""
    await conn.execute(NOTIFY_UPSTREAMS)


async def others_health(
    conn: asyncpg.Connection | asyncpg.Pool, process_id: str
) -> list[dict[str, Any]]:
    """The other live processes' views of the upstreams' health (the caller knows its own)."""
    return [row["upstream_health"] for row in await conn.fetch(SELECT_HEALTH, process_id)]
