"""Regression tests from the review: batches that must not deadlock or fail as a whole,
malformed input from outside, and failures that must neither bill nor hang."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import socket

import asyncpg
import orjson
import pytest
from aiohttp import web

from db import rollups as db_rollups
from db.gateway import SETTLEMENT_FIELDS, Admission, Settlement, settle_batch
from proxy.app import create_app
from proxy.ledger.batching import Batcher
from proxy.state import GATE
from tests.helpers import bearer, chat_body, create_customer, parse_sse

JAN, FEB = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
_reservation_ids = itertools.count(10_000_000)


def settlement(cid: str, kid: str, month: dt.date, cost_uc: int = 1000, error=None) -> Settlement:
    return Settlement(next(_reservation_ids), cid, kid, month, None, "openai", "gpt-4o-mini",
                      None, 10, 0, 0, 10, cost_uc, "ok", "reported", 5, "req", error)  # fmt: skip


async def test_settlements_across_a_month_boundary_do_not_deadlock(gateway, db, database_url):
    # A prepaid customer (cap 0): every settlement draws credit, locking the customer's row.
    await create_customer(gateway, id="prepaid", monthly_cap_cents=0)
    await db.execute("UPDATE customers SET extra_uc = 1000000000000 WHERE id = 'prepaid'")
    kid = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'prepaid'")
    pool = await asyncpg.create_pool(database_url, min_size=4, max_size=4)
    try:
        for _ in range(60):

            def both() -> list[Settlement]:  # admitted in January and in February
                return [settlement("prepaid", kid, JAN), settlement("prepaid", kid, FEB)]

            def only_feb() -> list[Settlement]:
                return [settlement("prepaid", kid, FEB)]

            await asyncio.gather(
                settle_batch(pool, both()), settle_batch(pool, only_feb()),
                settle_batch(pool, only_feb()), settle_batch(pool, both()),
            )  # fmt: skip
    finally:
        await pool.close()
    spent = await db.fetchval("SELECT sum(spent_uc)::bigint FROM customer_months")
    assert spent == await db.fetchval("SELECT sum(cost_uc)::bigint FROM usage_events") == 360_000
    assert await db.fetchval("SELECT sum(credit_used_uc)::bigint FROM customer_months") == spent
    assert await db.fetchval("SELECT extra_uc FROM customers") == 1_000_000_000_000 - spent


async def test_one_bad_settlement_fails_alone(gateway, db) -> None:
    await create_customer(gateway, id="victim")
    await create_customer(gateway, id="other")
    kv = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'victim'")
    ko = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'other'")
    month = dt.datetime.now(dt.UTC).date().replace(day=1)
    settler = gateway.server.app[GATE].settler
    good, bad = await asyncio.gather(
        settler.submit(settlement("victim", kv, month, cost_uc=5_000_000)),
        settler.submit(settlement("other", ko, month, error="nul \x00 byte")),
        return_exceptions=True,
    )
    assert not isinstance(good, Exception) and good["spent_uc"] == 5_000_000
    assert isinstance(bad, Exception)
    assert await db.fetchval("SELECT customer_id FROM usage_events") == "victim"


async def test_one_bad_admission_fails_alone(gateway, db) -> None:
    await create_customer(gateway, id="victim", monthly_cap_cents=1000)
    kv = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'victim'")
    admitter = gateway.server.app[GATE].admitter
    good, bad = await asyncio.gather(
        admitter.submit(Admission(kv, 100, None, "curl/8", "openai", "gpt-4o-mini", "r1", 4, 1)),
        admitter.submit(  # not encodable
            Admission(kv, 100, None, "Mozilla\udcff", "openai", "gpt-4o-mini", "r2", 4, 1)
        ),
        return_exceptions=True,
    )
    assert not isinstance(good, Exception) and good["outcome"] == "ok"
    assert isinstance(bad, Exception)


async def raw_post(port: int, key: str, user_agent: bytes) -> bytes:
    body = orjson.dumps(chat_body("openai", "gpt-4o-mini", "hi"))
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /v1/gateway/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode()
        + b"\r\nUser-Agent: " + user_agent + b"\r\nContent-Type: application/json\r\n"
        + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )  # fmt: skip
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_a_user_agent_that_is_not_utf8_is_stored_safely(gateway, db) -> None:
    _, key = await create_customer(gateway)
    headers = b"Mozilla\xff\r\nX-Kaixu-Install-Id: dev-1"
    answer = await raw_post(gateway.server.port, key, headers)
    assert answer.startswith(b"HTTP/1.1 200")
    assert await db.fetchval("SELECT user_agent FROM devices") == "Mozilla?"


async def test_a_non_ascii_key_is_401_not_500(gateway) -> None:
    response = await gateway.post(
        "/v1/gateway/chat", json=chat_body("openai", "gpt-4o-mini", "hi"),
        headers={"Authorization": "Bearer kx_ünïcode"},
    )  # fmt: skip
    assert response.status == 401


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_provider_that_cannot_be_reached_is_not_billed(
    gateway_settings, db, aiohttp_client
):
    base = f"http://127.0.0.1:{closed_port()}/v1"
    client = await aiohttp_client(
        create_app(dataclasses.replace(gateway_settings, openai_base_url=base))
    )
    _, key = await create_customer(client)
    body = chat_body("openai", "gpt-4o-mini", "x" * 4000)
    response = await client.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 502
    row = await db.fetchrow("SELECT status, cost_uc, cost_source FROM usage_events")
    assert tuple(row) == ("error", 0, "none")


async def test_a_malformed_chunk_mid_stream_ends_with_an_error_event(
    gateway_settings, db, aiohttp_client, aiohttp_server
) -> None:
    async def upstream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices":[{"delta":{"content":"Hello "}}]}\n\n')
        await response.write(b'data: {"choices":[{"delta":"oops"}]}\n\n')
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", upstream)
    server = await aiohttp_server(app)
    settings = dataclasses.replace(gateway_settings, openai_base_url=str(server.make_url("/v1")))
    client = await aiohttp_client(create_app(settings))
    _, key = await create_customer(client)
    body = chat_body("openai", "gpt-4o-mini", "hi")
    response = await client.post("/v1/gateway/stream", json=body, headers=bearer(key))
    events = parse_sse(await response.read())
    assert [name for name, _ in events] == ["meta", "delta", "error"]
    assert "unexpected shape" in orjson.loads(events[-1][1])["error"]["message"]
    row = await db.fetchrow("SELECT status, cost_source FROM usage_events")
    assert tuple(row) == ("error", "estimated")


async def test_openai_compat_role_of_the_wrong_type_is_400(gateway) -> None:
    _, key = await create_customer(gateway)
    body = {"model": "gpt-4o-mini", "messages": [{"role": ["user"], "content": "x"}]}
    response = await gateway.post("/v1/chat/completions", json=body, headers=bearer(key))
    assert response.status == 400


async def test_the_previous_release_s_settlement_call_still_settles(gateway, db) -> None:
    """During a rolling upgrade a process of the release before upstreams calls
    kaixu_settle_batch without the upstream arrays: its usage is written, booked, rolled up."""
    await create_customer(gateway, id="rolling")
    kid = await db.fetchval("SELECT id FROM api_keys WHERE customer_id = 'rolling'")
    item = settlement("rolling", kid, JAN)
    old = [f for f in SETTLEMENT_FIELDS if f not in ("upstream_id", "attempts", "reaped")]
    placeholders = ", ".join(f"${n}" for n in range(1, len(old) + 1))
    [booked] = await db.fetch(f"SELECT * FROM kaixu_settle_batch({placeholders})",
                              *([getattr(item, f)] for f in old))  # fmt: skip
    assert booked["spent_uc"] == 1000
    row = await db.fetchrow("SELECT upstream_id, attempts FROM usage_events")
    assert (row["upstream_id"], row["attempts"]) == (None, None)
    assert await db_rollups.differences(db) == []


async def test_caught_up_waits_for_what_was_submitted_not_for_a_steady_stream() -> None:
    """Admin reads wait for this process's pending settlements (proxy/admin/usage.py): only
    those submitted before the read, so a steady load can never starve it."""
    gates = {1: asyncio.Event(), 3: asyncio.Event()}
    started = asyncio.Event()

    async def apply(items: list[int]) -> list[int]:
        started.set()
        await gates[items[0]].wait()
        return items

    batcher: Batcher[int, int] = Batcher(apply)
    first = [batcher.enqueue(n) for n in (1, 2)]
    await started.wait()  # the batch [1, 2] is in flight
    read = asyncio.create_task(batcher.caught_up())
    later = batcher.enqueue(3)  # submitted after the read began: its batch never ends here
    gates[1].set()
    await asyncio.wait_for(read, 5)
    assert all(f.done() for f in first) and not later.done()
    gates[3].set()
    assert await later == 3


async def test_a_lingering_writer_puts_requests_a_moment_apart_into_one_batch() -> None:
    """Settlements (and claims) nobody waits for linger: at low load too, the next requests'
    items share the first one's round trip instead of one round trip each."""
    batches: list[list[int]] = []

    async def apply(items: list[int]) -> list[int]:
        batches.append(items)
        return items

    batcher: Batcher[int, int] = Batcher(apply, linger_s=0.05)
    first = batcher.enqueue(1)
    await asyncio.sleep(0)  # the worker started and lingers
    others = [batcher.enqueue(n) for n in (2, 3)]
    assert await asyncio.gather(first, *others) == [1, 2, 3]
    assert batches == [[1, 2, 3]]
    assert await batcher.submit(4) == 4  # a later item gets a batch of its own
    assert batches == [[1, 2, 3], [4]]


async def test_a_lingering_writer_cancelled_fails_what_it_held() -> None:
    """A writer cancelled while it lingers (shutdown) leaves no caller waiting forever."""

    async def apply(items: list[int]) -> list[int]:
        return items

    batcher: Batcher[int, int] = Batcher(apply, linger_s=30)
    held = batcher.enqueue(1)
    await asyncio.sleep(0)
    assert batcher._worker is not None
    batcher._worker.cancel()
    with pytest.raises(RuntimeError, match="batch cancelled"):
        await asyncio.wait_for(held, 5)
