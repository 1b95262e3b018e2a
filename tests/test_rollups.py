"""Usage rollups equal the sum of the usage rows, always: under concurrent settlements from two
processes, a reaper's estimate replaced, rows edited or removed by hand, rows written before
the rollups existed; the usage panel and invoices read them; `rollups check|rebuild`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
import psycopg
import pytest

from db import rollups as db_rollups
from db.migrate import apply_live_sql
from tests.conftest import ADMIN_HEADERS
from tests.processes import new_key, settled, two_gateways

MODELS = ("gpt-4o-mini", "gpt-4.1-nano")


@pytest.fixture
async def two(database_url, fakes, tmp_path):
    async with two_gateways(database_url, fakes["openai"].base_url, tmp_path) as both:
        yield both


async def test_rollups_equal_the_rows_after_concurrent_traffic_on_two_processes(
    two, db: asyncpg.Connection
) -> None:
    http, bases = two
    customer_id, key = await new_key(http, bases[0], monthly_cap_cents=100_000)

    async def call(i: int) -> int:
        path = "/v1/gateway/stream" if i % 3 == 0 else "/v1/gateway/chat"
        text = f"fake:usage={10 + i},{i % 7 + 1}"
        body = {"provider": "openai", "model": MODELS[i % 2], "max_tokens": 20,
                "messages": [{"role": "user", "content": text}]}  # fmt: skip
        async with http.post(bases[i % 2] + path, json=body,
                             headers={"Authorization": f"Bearer {key}"}) as response:  # fmt: skip
            await response.read()
            return response.status

    statuses = await asyncio.gather(*(call(i) for i in range(200)))
    assert statuses.count(200) == 200
    await settled(db)
    assert await db_rollups.differences(db) == []
    rows = await db.fetchrow("SELECT count(*) AS n, sum(cost_uc) AS cost, sum(input_tokens) AS"
                             " input FROM usage_events")  # fmt: skip
    async with http.get(f"{bases[1]}/admin/api/customers/{customer_id}/usage",
                        headers=ADMIN_HEADERS) as response:  # fmt: skip
        usage = await response.json()
    assert usage["requests"] == rows["n"] == 200
    assert usage["input_tokens"] == rows["input"]
    assert sum(m["requests"] for m in usage["by_model"]) == 200
    assert {m["model"] for m in usage["by_model"]} == set(MODELS)


async def insert_rows(db: asyncpg.Connection, customer_id: str, key_id: str, n: int) -> None:
    await db.execute(
        """INSERT INTO usage_events (created_at, month, customer_id, key_id, provider, model,
               input_tokens, output_tokens, cost_uc, status, cost_source)
           SELECT timestamptz '2026-01-05 10:00Z' + make_interval(hours => g * 7),
                  date '2026-01-01', $1, $2, 'openai', 'gpt-4o-mini', 10 * g, g, 100 * g, 'ok',
                  'reported'
           FROM generate_series(1, $3) AS g""",
        customer_id, key_id, n,
    )  # fmt: skip


async def a_key(client) -> tuple[str, str]:
    made = await client.post("/admin/api/customers", json={}, headers=ADMIN_HEADERS)
    body = await made.json()
    return body["customer"]["id"], body["key"]["id"]


async def test_edits_and_deletes_of_rows_keep_the_rollups_exact(client, db) -> None:
    customer_id, key_id = await a_key(client)
    await insert_rows(db, customer_id, key_id, 50)
    await db.execute("UPDATE usage_events SET cost_uc = cost_uc * 3, output_tokens = 0"
                     " WHERE id % 4 = 0")  # fmt: skip
    await db.execute(  # a row moved to another day, and another model
        "UPDATE usage_events SET created_at = created_at + interval '1 day', model = 'gpt-4o'"
        " WHERE id % 5 = 0"
    )
    await db.execute("DELETE FROM usage_events WHERE id % 6 = 0")
    assert await db_rollups.differences(db) == []
    await db.execute("TRUNCATE usage_events")
    assert await db.fetchval("SELECT count(*) FROM usage_rollups") == 0
    await insert_rows(db, customer_id, key_id, 5)
    assert await db_rollups.differences(db) == []
    by_day = await db.fetch("SELECT day, sum(requests) AS n FROM usage_rollups GROUP BY day"
                            " HAVING sum(requests) > 0 ORDER BY day")  # fmt: skip
    assert sum(r["n"] for r in by_day) == await db.fetchval("SELECT count(*) FROM usage_events")


async def test_rows_written_before_the_rollups_are_summed_in_once(database_url, db, client):
    customer_id, key_id = await a_key(client)
    await db.execute("ALTER TABLE usage_events DISABLE TRIGGER USER")  # rows of an older release
    await insert_rows(db, customer_id, key_id, 30)
    await db.execute("ALTER TABLE usage_events ENABLE TRIGGER USER")
    assert len(await db_rollups.differences(db)) > 0
    await db.execute("UPDATE usage_rollups_state SET backfilled = false")
    for _ in range(2):  # the live SQL of every migrate: the backfill happens the first time only
        with psycopg.connect(database_url) as conn:
            apply_live_sql(conn)
    assert await db_rollups.differences(db) == []


def command(database_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": str(tmp_path),
           "ADMIN_PASSWORD": "x" * 16, "KAIXU_SECRET": "s" * 40}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "proxy", "rollups", *args], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


async def test_the_check_command_finds_a_difference_and_rebuild_repairs_it(
    database_url, db, client, tmp_path
) -> None:
    customer_id, key_id = await a_key(client)
    await insert_rows(db, customer_id, key_id, 20)
    clean = await asyncio.to_thread(command, database_url, tmp_path, "check")
    assert clean.returncode == 0 and "0 differences" in clean.stdout
    await db.execute("UPDATE usage_rollups SET cost_uc = cost_uc + 1 WHERE day = '2026-01-06'")
    found = await asyncio.to_thread(command, database_url, tmp_path, "check", "--month", "2026-01")
    assert found.returncode == 1 and "cost_uc" in found.stdout and "1 differences" in found.stdout
    rebuilt = await asyncio.to_thread(command, database_url, tmp_path, "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert await db_rollups.differences(db) == []
    wrong = await asyncio.to_thread(command, database_url, tmp_path, "check", "--month", "Jan")
    assert wrong.returncode != 0 and "YYYY-MM" in wrong.stderr
