"""Limits that hold across two gateway processes sharing one PostgreSQL.

Each test starts two real `python -m proxy` processes on their own ports, pointed at the test's
database and at fake providers served from this test process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import ADMIN_HEADERS, ADMIN_PASSWORD, free_port
from tests.fakes import FakeUpstream
from tests.gateway_process import GatewayProcess
from tests.helpers import bearer
from tests.pgbouncer import needs_pgbouncer, pgbouncer
from tests.processes import settled

PROMPT = "fake:usage=10,10"
COST_UC, RESERVE_UC = 750, 6_120  # see test_limits.py
BODY = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 100,
        "messages": [{"role": "user", "content": PROMPT}]}  # fmt: skip


@pytest.fixture(params=["direct", pytest.param("pgbouncer", marks=needs_pgbouncer())])
async def two_gateways(
    request: pytest.FixtureRequest, database_url: str, fakes: dict[str, FakeUpstream], tmp_path
) -> AsyncIterator[list[str]]:
    """Both processes on the database itself, or through one PgBouncer in transaction pooling
    mode (LISTEN and migrations go direct: DATABASE_DIRECT_URL)."""
    with contextlib.ExitStack() as stack:
        if request.param == "pgbouncer":
            pooled = stack.enter_context(pgbouncer(database_url))
            urls = {"DATABASE_URL": pooled, "DATABASE_DIRECT_URL": database_url}
        else:
            urls = {"DATABASE_URL": database_url}
        async for bases in _start_two(urls, fakes, tmp_path):
            yield bases


async def _start_two(
    urls: dict[str, str], fakes: dict[str, FakeUpstream], tmp_path
) -> AsyncIterator[list[str]]:
    env = {
        **urls,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "KAIXU_SECRET": "shared-secret-of-both-processes-" + "x" * 16,
        "OPENAI_API_KEY": "sk-test-openai",
        "OPENAI_BASE_URL": fakes["openai"].base_url,
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    processes = [GatewayProcess({**env, "PORT": str(free_port())}) for _ in range(2)]
    await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
    yield [f"http://127.0.0.1:{p.env['PORT']}" for p in processes]
    for process in processes:
        await asyncio.to_thread(process.stop)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def admin(http, base: str, method: str, path: str, **json) -> dict:
    async with http.request(method, f"{base}/admin/api{path}", json=json or None,
                            headers=ADMIN_HEADERS) as response:  # fmt: skip
        assert response.status in (200, 201), await response.text()
        return await response.json()


async def chat(
    http, base: str, key: str, headers: dict | None = None, **changes
) -> tuple[int, dict]:
    async with http.post(f"{base}/v1/gateway/chat", json={**BODY, **changes},
                         headers={**bearer(key), **(headers or {})}) as response:  # fmt: skip
        return response.status, (await response.json()) | {"_headers": dict(response.headers)}


async def spread(http, bases: list[str], key: str, count: int, **kwargs) -> list[tuple[int, dict]]:
    """`count` requests at once, alternating between the processes."""
    return await asyncio.gather(
        *(chat(http, bases[i % len(bases)], key, **kwargs) for i in range(count))
    )


async def test_concurrent_requests_never_bill_past_the_allowance(two_gateways, http, db) -> None:
    allowance_uc = 50_000  # room for 8 reservations at a time, 66 requests' actual cost
    created = await admin(http, two_gateways[0], "POST", "/customers", monthly_cap_cents=0.03)
    await db.execute("UPDATE customers SET extra_uc = 20000")  # cap 30,000 + credit 20,000
    key = created["key"]["key"]
    results = await spread(http, two_gateways, key, 240)
    statuses = Counter(status for status, _ in results)
    assert set(statuses) <= {200, 402}, statuses
    assert statuses[200] >= 8 and statuses[402] >= 1

    await settled(db)
    rows = await db.fetchval("SELECT count(*) FROM usage_events")
    billed = await db.fetchval("SELECT sum(cost_uc) FROM usage_events")
    assert rows == statuses[200]
    assert billed == statuses[200] * COST_UC
    assert billed <= allowance_uc  # actual costs stay below reservations: no overshoot at all
    month = await db.fetchrow("SELECT spent_uc, credit_used_uc FROM customer_months")
    assert month["spent_uc"] == billed
    assert month["credit_used_uc"] == max(billed - 30_000, 0)
    assert await db.fetchval("SELECT extra_uc FROM customers") == 20_000 - month["credit_used_uc"]
    assert await db.fetchval("SELECT sum(spent_uc) FROM key_months") == billed
    assert await db.fetchval("SELECT sum(spent_uc) FROM gateway_months") == billed
    assert await db.fetchval("SELECT count(*) FROM reservations") == 0


async def test_rate_limit_is_shared_by_both_processes(two_gateways, http, db) -> None:
    created = await admin(http, two_gateways[0], "POST", "/customers", rpm_limit=30,
                          monthly_cap_cents=1000)  # fmt: skip
    key = created["key"]["key"]
    results = await spread(http, two_gateways, key, 90)  # a burst of 3x the limit
    admitted = sum(1 for status, _ in results if status == 200)
    assert 30 <= admitted <= 31, admitted  # GCRA: a burst of 30, then one every 2 s
    limited = [answer for status, answer in results if status == 429]
    assert len(limited) == 90 - admitted
    assert all(a["error"]["type"] == "rate_limited" for a in limited)
    wait = int(limited[-1]["_headers"]["Retry-After"])
    assert 1 <= wait <= 2
    status, _ = await chat(http, two_gateways[1], key)
    assert status == 429  # no room yet
    await asyncio.sleep(wait)  # the behaviour under test: Retry-After is truthful
    status, _ = await chat(http, two_gateways[1], key)
    assert status == 200
    await settled(db)
    assert await db.fetchval("SELECT count(*) FROM usage_events") == admitted + 1


async def test_concurrent_new_devices_never_exceed_the_seats(two_gateways, http, db) -> None:
    created = await admin(http, two_gateways[0], "POST", "/customers", monthly_cap_cents=100)
    sub = await admin(http, two_gateways[1], "POST", f"/customers/{created['customer']['id']}/keys",
                      max_devices=3)  # fmt: skip
    results = await asyncio.gather(
        *(
            chat(http, two_gateways[i % 2], sub["key"]["key"], {"X-Kaixu-Install-Id": f"dev-{i}"})
            for i in range(30)
        )
    )
    statuses = Counter(status for status, _ in results)
    assert statuses == {200: 3, 403: 27}
    assert {a["error"]["type"] for s, a in results if s == 403} == {"device_limit"}
    assert await db.fetchval("SELECT count(*) FROM devices") == 3


async def poll_until(check, deadline_s: float = 1.0) -> float:
    """Seconds until `check()` holds; fails past the deadline (the behaviour under test)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < deadline_s, "not in effect within the deadline"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_revoke_and_policy_changes_reach_every_process_at_once(two_gateways, http, db):
    first, second = two_gateways
    created = await admin(http, first, "POST", "/customers", monthly_cap_cents=100)
    cid, key, key_id = created["customer"]["id"], created["key"]["key"], created["key"]["id"]
    for base in two_gateways:  # both processes now hold the key in their caches
        assert (await chat(http, base, key))[0] == 200

    await admin(http, first, "PATCH", f"/customers/{cid}", allowed_models=["gpt-4.1*"])

    async def refused_on_second() -> bool:
        status, answer = await chat(http, second, key)
        return status == 403 and answer["error"]["type"] == "model_not_allowed"

    assert await poll_until(refused_on_second) < 1.0

    # The listener's database connection is lost; changes still apply within a second.
    await db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'kaixu-invalidation'"
    )
    await admin(http, first, "PATCH", f"/customers/{cid}", allowed_models=None)

    async def allowed_on_second() -> bool:
        return (await chat(http, second, key))[0] == 200

    assert await poll_until(allowed_on_second) < 1.0
    await admin(http, first, "PATCH", f"/customers/{cid}", allowed_providers=["anthropic"])

    async def provider_refused_on_second() -> bool:
        status, answer = await chat(http, second, key)
        return status == 403 and answer["error"]["type"] == "provider_not_allowed"

    assert await poll_until(provider_refused_on_second) < 1.0
    await admin(http, first, "PATCH", f"/customers/{cid}", allowed_providers=None)
    assert await poll_until(allowed_on_second) < 1.0

    # Busy again, both processes come to hold spare reservations for the key (requests
    # admitted without a round trip), once their listeners are back. Revoking is immediate on
    # the process that did it, and within a second on the other: the NOTIFY drops its spares
    # with its cached key.
    async def both_hold_spares() -> bool:
        for base in two_gateways:
            assert (await chat(http, base, key))[0] == 200
        spares = "SELECT count(DISTINCT owner) FROM reservations WHERE spare"
        return await db.fetchval(spares) == 2

    await poll_until(both_hold_spares, deadline_s=10)
    await admin(http, first, "POST", f"/keys/{key_id}/revoke")
    status, answer = await chat(http, first, key)
    assert (status, answer["error"]["type"]) == (401, "unauthorized")

    async def revoked_on_second() -> bool:
        status, answer = await chat(http, second, key)
        return (status, answer["error"]["type"]) == (401, "unauthorized")

    assert await poll_until(revoked_on_second) < 1.0
