"""The database goes away for 30 s while calls are in flight on two processes, one of which is
restarted during the outage: every call is answered in full, leaves exactly one usage row, and
the books equal the rows once the database is back (issue 12)."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import asyncpg
import pytest

from tests.gateway_process import GatewayProcess
from tests.helpers import bearer
from tests.processes import Stream, chat_json, gateway_env, new_key, own_postgres, poll, url_of

OUTAGE_S = 30
CALLS_PER_PROCESS = 3  # streams, and as many chats


@pytest.fixture
def pg():
    with own_postgres() as server:
        yield server


async def chat(http, base: str, key: str, text: str) -> tuple[int, dict]:
    async with http.post(f"{base}/v1/gateway/chat", json=chat_json(text),
                         headers=bearer(key)) as response:  # fmt: skip
        return response.status, await response.json()


async def test_a_30s_outage_loses_no_usage_on_two_processes(pg, fakes, tmp_path) -> None:
    upstream = fakes["openai"]
    env = [gateway_env(pg.dsn, upstream.base_url, tmp_path / name) for name in ("a", "b")]
    a, b = (GatewayProcess(e) for e in env)
    await asyncio.gather(asyncio.to_thread(a.start), asyncio.to_thread(b.start))
    bases = [url_of(a), url_of(b)]
    async with aiohttp.ClientSession() as http:
        _, key = await new_key(http, bases[0])
        # Calls that outlive the start of the outage: streams pause after their first delta,
        # chats before the provider answers.
        streams = [Stream(http, base, key, "fake:usage=30,4 fake:stall=6")
                   for base in bases for _ in range(CALLS_PER_PROCESS)]  # fmt: skip
        chats = [asyncio.create_task(chat(http, base, key, "fake:usage=20,3 fake:slow=6"))
                 for base in bases for _ in range(CALLS_PER_PROCESS)]  # fmt: skip
        await asyncio.gather(*(s.started.wait() for s in streams))
        await poll(lambda: _count(upstream, 4 * CALLS_PER_PROCESS), 10, "calls upstream")

        await asyncio.to_thread(pg.halt)
        outage = asyncio.get_running_loop().time()
        # The provider answered: every client gets its answer in full.
        for stream in streams:
            names = await stream.names()
            assert names[0] == "meta" and names[-1] == "done", names
        for status, answer in await asyncio.gather(*chats):
            assert status == 200 and answer["text"], answer
            assert answer["usage"]["input_tokens"] == 20
        # New admissions fail closed.
        status, refused = await chat(http, bases[0], key, "fake:usage=1,1")
        assert (status, refused["error"]["type"]) == (503, "unavailable")
        # Process b is restarted during the outage: what it kept is on disk, and the new
        # process waits for the database.
        assert b.stop(signal.SIGTERM) == 0
        assert list((tmp_path / "b" / "journal").glob("*.jsonl"))
        restarted = asyncio.create_task(asyncio.to_thread(GatewayProcess(env[1]).start))
        remaining = OUTAGE_S - (asyncio.get_running_loop().time() - outage)
        await asyncio.sleep(max(remaining, 0))  # the outage itself: its length is the test
        await asyncio.to_thread(pg.ensure_running)
        b2 = await restarted

        conn = await asyncpg.connect(pg.dsn)
        try:
            calls = 4 * CALLS_PER_PROCESS
            await poll(lambda: _settled(conn, calls), 30, "every call settled")
            rows = await conn.fetch("SELECT * FROM usage_events ORDER BY id")
            assert len({r["reservation_id"] for r in rows}) == len(rows) == calls
            assert sorted((r["input_tokens"], r["output_tokens"]) for r in rows) == sorted(
                [(30, 4)] * (2 * CALLS_PER_PROCESS) + [(20, 3)] * (2 * CALLS_PER_PROCESS)
            )
            assert {r["status"] for r in rows} == {"ok"} and not any(r["reaped"] for r in rows)
            await _assert_books_equal_rows(conn)
            # Nothing left to replay: a living process's open outbox segment is empty.
            for process in ("a", "b"):
                segments = (tmp_path / process / "journal").glob("*.jsonl")
                assert [p.name for p in segments if p.stat().st_size] == []
        finally:
            await conn.close()
            for process in (a, b2):
                process.stop()


async def _count(upstream, n: int) -> bool:
    return len(upstream.requests) >= n


async def _settled(conn: asyncpg.Connection, calls: int) -> bool:
    rows = await conn.fetchval("SELECT count(*) FROM usage_events WHERE NOT reaped")
    return rows == calls and await conn.fetchval("SELECT count(*) FROM reservations") == 0


async def _assert_books_equal_rows(conn: asyncpg.Connection) -> None:
    billed = await conn.fetchval("SELECT sum(cost_uc) FROM usage_events")
    for table in ("customer_months", "key_months", "gateway_months"):
        assert await conn.fetchval(f"SELECT sum(spent_uc) FROM {table}") == billed, table
    assert billed > 0
