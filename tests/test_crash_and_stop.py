"""A process killed mid-stream holds nobody's headroom for long: another process settles its
reservations within seconds. A graceful stop lets running calls finish for SHUTDOWN_GRACE_S,
then ends them with an error event, billed (issue 12)."""

from __future__ import annotations

import asyncio
import json
import signal

import aiohttp
import asyncpg
import pytest

from tests.gateway_process import GatewayProcess
from tests.helpers import bearer
from tests.processes import (
    Stream,
    chat_json,
    gateway_env,
    new_key,
    own_postgres,
    poll,
    url_of,
)

# gpt-4o-mini: 15 uc per input token, 60 per output token. A call of max_tokens=50 reserves
# about 3,000 + 15 x its input estimate; a cap of 0.005 cents (5,000 uc) holds one at a time.
ONE_CALL_CAP_CENTS = 0.005


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def chat_status(http, base: str, key: str) -> int:
    async with http.post(f"{base}/v1/gateway/chat", json=chat_json("fake:usage=5,5"),
                         headers=bearer(key)) as response:  # fmt: skip
        return response.status


async def test_a_killed_processs_reservation_is_settled_by_another_within_seconds(
    database_url, fakes, tmp_path, http, db
) -> None:
    upstream = fakes["openai"].base_url
    victim = GatewayProcess(gateway_env(database_url, upstream, tmp_path / "victim"))
    survivor = GatewayProcess(gateway_env(database_url, upstream, tmp_path / "survivor"))
    await asyncio.gather(asyncio.to_thread(victim.start), asyncio.to_thread(survivor.start))
    _, key = await new_key(http, url_of(survivor), monthly_cap_cents=ONE_CALL_CAP_CENTS)

    stream = Stream(http, url_of(victim), key, "fake:usage=5,5 fake:stall=60")
    await stream.started.wait()
    victim.stop(signal.SIGKILL)
    with pytest.raises(aiohttp.ClientError):
        await stream.events()
    assert await chat_status(http, url_of(survivor), key) == 402  # held by the dead process

    async def admitted_again() -> bool:
        return await db.fetchval("SELECT count(*) FROM reservations") == 0

    # Without the reaper it would be held for UPSTREAM_TOTAL_TIMEOUT_S + 120 s (12 minutes).
    await poll(admitted_again, 15, "the dead process's reservation settled")
    row = await db.fetchrow("SELECT * FROM usage_events")
    assert (row["status"], row["cost_source"], row["reaped"]) == ("aborted", "estimated", True)
    assert row["output_tokens"] == 0 and row["input_tokens"] > 0
    assert row["cost_uc"] == row["input_tokens"] * 15  # the input estimate, at list price
    assert await db.fetchval("SELECT spent_uc FROM customer_months") == row["cost_uc"]
    assert await chat_status(http, url_of(survivor), key) == 200
    survivor.stop()


async def test_a_graceful_stop_finishes_short_calls_and_ends_long_ones_billed(
    database_url, fakes, tmp_path, http, db
) -> None:
    env = gateway_env(database_url, fakes["openai"].base_url, tmp_path, SHUTDOWN_GRACE_S="2")
    process = GatewayProcess(env)
    await asyncio.to_thread(process.start)
    _, key = await new_key(http, url_of(process))
    short = Stream(http, url_of(process), key, "fake:usage=5,5 fake:stall=0.5")
    long = Stream(http, url_of(process), key, "fake:usage=5,5 fake:stall=60")
    await asyncio.gather(short.started.wait(), long.started.wait())

    stopping = asyncio.create_task(asyncio.to_thread(process.stop, signal.SIGTERM))
    assert [name for name, _ in await short.events()][-1] == "done"
    events = await long.events()
    assert events[-1][0] == "error"
    ended = json.loads(events[-1][1])
    assert ended["error"]["type"] == "unavailable"
    assert ended["usage"]["output_tokens"] > 0 and ended["month"]["spent_cents"] > 0
    assert await stopping == 0

    rows = await db.fetch("SELECT status FROM usage_events ORDER BY id")
    assert sorted(r["status"] for r in rows) == ["error", "ok"]
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0
    assert await db.fetchval("SELECT count(*) FROM gateway_processes") == 0  # it said goodbye
    assert not list((tmp_path / "journal").glob("*.jsonl"))


async def test_usage_kept_at_a_stop_during_an_outage_is_written_at_the_next_start(
    fakes, tmp_path, http
) -> None:
    with own_postgres() as pg:
        env = gateway_env(pg.dsn, fakes["openai"].base_url, tmp_path)
        process = GatewayProcess(env)
        await asyncio.to_thread(process.start)
        _, key = await new_key(http, url_of(process))
        stream = Stream(http, url_of(process), key, "fake:usage=7,3 fake:stall=2")
        await stream.started.wait()
        await asyncio.to_thread(pg.halt)
        assert [name for name, _ in await stream.events()][-1] == "done"
        assert process.stop(signal.SIGTERM) == 0
        [kept] = (tmp_path / "journal").glob("*.jsonl")
        assert json.loads(kept.read_text())["input_tokens"] == 7

        await asyncio.to_thread(pg.ensure_running)
        again = GatewayProcess(env)
        await asyncio.to_thread(again.start)
        conn = await asyncpg.connect(pg.dsn)
        try:

            async def written() -> bool:
                return await conn.fetchval("SELECT count(*) FROM usage_events") == 1

            await poll(written, 10, "the kept settlement written")
            row = await conn.fetchrow("SELECT * FROM usage_events")
            assert (row["input_tokens"], row["output_tokens"], row["status"]) == (7, 3, "ok")
            assert await conn.fetchval("SELECT count(*) FROM reservations") == 0
            assert await conn.fetchval("SELECT spent_uc FROM customer_months") == row["cost_uc"]
        finally:
            await conn.close()
            again.stop()
        assert not list((tmp_path / "journal").glob("*.jsonl"))


async def test_a_call_answered_before_its_settlement_committed_is_billed_after_a_kill_9(
    database_url, fakes, tmp_path, http, db
) -> None:
    """Requests are answered before their settlement commits (proxy/ledger/outbox.py): a
    process killed in between loses nothing; a sibling sharing DATA_DIR replays its outbox."""
    upstream, shared = fakes["openai"].base_url, tmp_path / "shared"
    victim = GatewayProcess(gateway_env(database_url, upstream, shared))
    sibling = GatewayProcess(gateway_env(database_url, upstream, shared))
    await asyncio.gather(asyncio.to_thread(victim.start), asyncio.to_thread(sibling.start))
    customer_id, key = await new_key(http, url_of(sibling), monthly_cap_cents=100)
    blocker = await asyncpg.connect(database_url)  # holds what every settlement must lock
    try:
        async with blocker.transaction():
            await blocker.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", customer_id)
            async with http.post(f"{url_of(victim)}/v1/gateway/chat", headers=bearer(key),
                                 json=chat_json("fake:usage=7,3")) as response:  # fmt: skip
                assert response.status == 200  # answered while its settlement waits
                assert (await response.json())["usage"]["output_tokens"] == 3
            [segment] = [p for p in shared.joinpath("journal").glob("*outbox.jsonl")
                         if p.stat().st_size]  # fmt: skip
            assert json.loads(segment.read_text())["input_tokens"] == 7
            victim.stop(signal.SIGKILL)
    finally:
        await blocker.close()

    async def billed() -> bool:
        rows = await db.fetchval("SELECT count(*) FROM usage_events WHERE NOT reaped")
        return rows == 1 and await db.fetchval("SELECT count(*) FROM reservations") == 0

    await poll(billed, 15, "the dead process's answered call billed")
    [row] = await db.fetch("SELECT * FROM usage_events")
    assert (row["input_tokens"], row["output_tokens"], row["status"]) == (7, 3, "ok")
    assert row["cost_uc"] == 7 * 15 + 3 * 60  # the real figures, not an estimate
    assert await db.fetchval("SELECT spent_uc FROM customer_months") == row["cost_uc"]
    sibling.stop()


async def test_a_killed_process_spares_are_deleted_and_its_call_on_a_spare_billed_once(
    database_url, fakes, tmp_path, http, db
) -> None:
    """Spare reservations of a `kill -9`ed process (proxy/ledger/spares.py): the untaken ones
    are deleted by a sibling's reaper (no usage row), the one a running call took is billed
    once, at its input estimate, like any reservation of a dead process."""
    upstream = fakes["openai"].base_url
    victim = GatewayProcess(gateway_env(database_url, upstream, tmp_path / "victim"))
    sibling = GatewayProcess(gateway_env(database_url, upstream, tmp_path / "sibling"))
    await asyncio.gather(asyncio.to_thread(victim.start), asyncio.to_thread(sibling.start))
    _, key = await new_key(http, url_of(sibling), monthly_cap_cents=100)
    for _ in range(4):  # the second admission made 2 spares, the fourth 4
        assert await chat_status(http, url_of(victim), key) == 200
    stream = Stream(http, url_of(victim), key, "fake:usage=7,3 fake:stall=30")
    await stream.started.wait()

    async def claimed() -> bool:  # the stream's spare is marked taken moments after
        return await db.fetchval("SELECT count(*) FROM reservations WHERE NOT spare") == 1

    await poll(claimed, 5, "the running call's spare marked taken")
    victim.stop(signal.SIGKILL)
    assert await db.fetchval("SELECT count(*) FROM reservations WHERE spare") > 0  # untaken
    with pytest.raises(aiohttp.ClientError):
        await stream.events()

    async def reaped() -> bool:
        return await db.fetchval("SELECT count(*) FROM reservations") == 0

    await poll(reaped, 15, "the dead process's reservations settled or deleted")
    rows = await db.fetch("SELECT status, reaped, input_tokens FROM usage_events ORDER BY id")
    assert [(r["status"], r["reaped"]) for r in rows] == [("ok", False)] * 4 + [("aborted", True)]
    spent = await db.fetchval("SELECT spent_uc FROM customer_months")
    assert spent == await db.fetchval("SELECT sum(cost_uc) FROM usage_events")
    sibling.stop()
