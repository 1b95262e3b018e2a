"""Spare claims and settlements are written by two batchers at once, and under load a claim
batch and a settlement batch often hold the same calls (a call's spare is claimed moments after
it is taken, its settlement follows as soon as it ends). Both lock their reservations by id, so
they cannot deadlock; before, they did under load, and PostgreSQL broke each deadlock only
after `deadlock_timeout` (1 s), stalling every answer that waited for either batch.

Each case: another transaction holds the lower of two reservations; the batch, given both in
descending order, must wait for it holding neither, so that the other transaction can still
lock the higher one (as the other batch would) without a deadlock."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from db.gateway import Claim, Settlement, claim_spares, settle_batch
from tests.helpers import create_customer
from tests.processes import poll


def settlement(row: asyncpg.Record) -> Settlement:
    return Settlement(
        reservation_id=row["id"], customer_id=row["customer_id"], key_id=row["key_id"],
        month=row["month"], install_id=None, provider="openai", model="gpt-4o-mini",
        upstream_model=None, input_tokens=10, cached_input_tokens=0, cache_write_tokens=0,
        output_tokens=10, cost_uc=750, status="ok", cost_source="reported", latency_ms=1,
        request_id=f"req-{row['id']}", error=None,
    )  # fmt: skip


def claim(row: asyncpg.Record) -> Claim:
    return Claim(row["id"], f"req-{row['id']}", "openai", "gpt-4o-mini", 10, 100)


async def two_spares(client, db) -> list[asyncpg.Record]:
    customer, _ = await create_customer(client, monthly_cap_cents=1000)
    key = await db.fetchrow("SELECT id, lineage_id FROM api_keys WHERE customer_id = $1",
                            customer["id"])  # fmt: skip
    return await db.fetch(
        """INSERT INTO reservations (customer_id, key_id, lineage_id, month, amount_uc,
               expires_at, owner, provider, model, spare)
           SELECT $1, $2, $3, $4, 6120, now() + interval '5 min', 'test', 'openai',
                  'gpt-4o-mini', true
           FROM generate_series(1, 2) RETURNING *""",
        customer["id"], key["id"], key["lineage_id"], dt.date.today().replace(day=1),
    )  # fmt: skip


@pytest.mark.parametrize("batch", ["claims", "settlements"])
async def test_a_batch_locks_its_reservations_by_id(client, db, database_url, batch) -> None:
    low, high = sorted(await two_spares(client, db), key=lambda r: r["id"])
    # The lower one's row now lies after the higher one's: a scan meets them out of id order.
    await db.execute("UPDATE reservations SET amount_uc = amount_uc WHERE id = $1", low["id"])
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    other = await asyncpg.connect(database_url)
    try:
        holding = other.transaction()
        await holding.start()
        await other.execute("SELECT 1 FROM reservations WHERE id = $1 FOR UPDATE", low["id"])
        if batch == "claims":
            write = claim_spares(pool, [claim(high), claim(low)])
        else:
            write = settle_batch(pool, [settlement(high), settlement(low)])
        writing = asyncio.ensure_future(write)

        async def waiting() -> bool:
            return await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted") > 0

        await poll(waiting, 10, "the batch waiting for the lower reservation")
        try:  # the higher one is free: the batch did not take it out of order
            await asyncio.wait_for(
                other.execute("SELECT 1 FROM reservations WHERE id = $1 FOR UPDATE", high["id"]),
                0.5,
            )
        except (TimeoutError, asyncpg.DeadlockDetectedError) as exc:
            raise AssertionError(f"the {batch} locked reservations out of id order") from exc
        await holding.commit()
        await asyncio.wait_for(writing, 10)
    finally:
        await other.close()
        await pool.close()
    if batch == "settlements":
        assert await db.fetchval("SELECT count(*) FROM usage_events") == 2
        assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    else:
        assert await db.fetchval("SELECT count(*) FROM reservations WHERE spare") == 0
