"""kaixu_reap settles the reservations of processes that stopped heart-beating, once, and a
late real settlement (its process was only cut off) replaces the reaper's estimate."""

from __future__ import annotations

import datetime

import asyncpg
import pytest

from db import processes
from db import rollups as db_rollups
from db.gateway import Settlement, settle_batch


@pytest.fixture
async def pool(database_url, db):
    """A pool on a database with one customer and key (made in SQL: no gateway process runs
    here, whose own reaper would race the test's)."""
    await db.execute("INSERT INTO customers (id, monthly_cap_uc) VALUES ('acme', 10000000)")
    await db.execute(
        "INSERT INTO api_keys (id, customer_id, kind, secret_hash, last4)"
        " VALUES ('key_1', 'acme', 'master', '\\x01', '0001')"
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def reserve(db, owner: str, input_cost_uc: int = 300) -> int:
    key = await db.fetchrow("SELECT id, customer_id FROM api_keys LIMIT 1")
    return await db.fetchval(
        "INSERT INTO reservations (customer_id, key_id, lineage_id, month, amount_uc,"
        " expires_at, owner, provider, model, request_id, input_tokens, input_cost_uc)"
        " VALUES ($1, $2, $2, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 9000,"
        " now() + interval '1 hour', $3, 'openai', 'gpt-4o-mini', 'req-1', 20, $4)"
        " RETURNING id",
        key["customer_id"], key["id"], owner, input_cost_uc,
    )  # fmt: skip


async def test_only_stale_owners_are_reaped_never_the_live_or_oneself(db, pool):
    await processes.heartbeat(pool, "alive")
    await processes.heartbeat(pool, "me")
    await processes.heartbeat(pool, "dead")
    await db.execute(
        "UPDATE gateway_processes SET heartbeat_at = now() - interval '1 minute'"
        " WHERE id IN ('dead', 'me')"
    )
    dead, alive, mine, vanished = [
        await reserve(db, owner) for owner in ("dead", "alive", "me", "never-registered")
    ]
    assert await processes.reap(pool, "me", 5.0) == 2
    assert await processes.reap(pool, "me", 5.0) == 0  # once
    left = {r["id"] for r in await db.fetch("SELECT id FROM reservations")}
    assert left == {alive, mine}
    rows = await db.fetch("SELECT * FROM usage_events ORDER BY reservation_id")
    assert [r["reservation_id"] for r in rows] == sorted([dead, vanished])
    for row in rows:
        assert (row["status"], row["reaped"], row["input_tokens"], row["cost_uc"]) == (
            "aborted", True, 20, 300,
        )  # fmt: skip
        assert row["provider"] == "openai" and row["request_id"] == "req-1"
    assert await db.fetchval("SELECT spent_uc FROM customer_months") == 600


async def test_a_late_real_settlement_replaces_the_reapers_estimate(db, pool):
    reservation = await reserve(db, "gone")
    assert await processes.reap(pool, "me", 5.0) == 1
    row = await db.fetchrow("SELECT * FROM usage_events")
    late = Settlement(
        reservation_id=reservation, customer_id=row["customer_id"], key_id=row["key_id"],
        month=row["month"], install_id=None, provider="openai", model="gpt-4o-mini",
        upstream_model="gpt-4o-mini-2024-07-18", input_tokens=20, cached_input_tokens=0,
        cache_write_tokens=0, output_tokens=40, cost_uc=2700, status="ok",
        cost_source="reported", latency_ms=900, request_id="req-1", error=None,
    )  # fmt: skip
    for _ in range(2):  # and a replay of it changes nothing
        [answer] = await settle_batch(pool, [late])
        assert answer["spent_uc"] == 2700 and answer["key_spent_uc"] == 2700
    [replaced] = await db.fetch("SELECT * FROM usage_events")
    assert (replaced["status"], replaced["reaped"], replaced["cost_uc"]) == ("ok", False, 2700)
    for table in ("customer_months", "key_months", "gateway_months"):
        assert await db.fetchval(f"SELECT sum(spent_uc) FROM {table}") == 2700, table
    assert await db_rollups.differences(db) == []  # the replaced estimate left the rollups too
    # A reaper never replaces a real settlement.
    assert await processes.reap(pool, "me", 5.0) == 0
    assert isinstance(replaced["created_at"], datetime.datetime)
