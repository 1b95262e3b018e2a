"""Upstreams across gateway processes: a change made through one reaches the others (NOTIFY),
and the health the admin shows is every live process's, merged."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import ADMIN_HEADERS
from tests.fakes import FakeUpstream
from tests.helpers import bearer
from tests.processes import new_key, poll, two_gateways
from tests.test_upstreams import new_key as new_upstream_key

MODEL = "llama-3.3-70b-versatile"
PRICE = {"provider": "groq", "model": MODEL, "input": 0.59, "output": 0.79}


@pytest.fixture
async def two(database_url, fakes, tmp_path):
    async with two_gateways(database_url, fakes["openai"].base_url, tmp_path) as both:
        yield both


async def admin(http: aiohttp.ClientSession, url: str, method: str, **body) -> dict:
    async with http.request(method, url, json=body or None, headers=ADMIN_HEADERS) as response:
        assert response.status < 300, await response.text()
        return await response.json() if response.status != 204 else {}


async def test_an_upstream_added_on_one_process_serves_on_the_other(two) -> None:
    http, (a, b) = two
    async with FakeUpstream("openai") as groq:
        prices = (await admin(http, f"{a}/admin/api/pricing", "GET"))["prices"]
        rows = [{k: v for k, v in p.items() if k != "updated_at"} for p in prices]
        await admin(http, f"{a}/admin/api/pricing", "PUT", prices=[*rows, PRICE])
        _, key = await new_key(http, a)

        async def b_lists_groq() -> bool:
            async with http.get(f"{b}/v1/models", headers=bearer(key)) as response:
                return f"groq/{MODEL}" in {m["id"] for m in (await response.json())["data"]}

        assert not await b_lists_groq()
        added = await admin(http, f"{a}/admin/api/upstreams", "POST", provider="groq",
                            base_url=groq.base_url, api_key=new_upstream_key())  # fmt: skip
        uid = added["upstream"]["id"]
        await poll(b_lists_groq, 3.0, "process b routes to the new upstream")
        body = {"provider": "groq", "model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        async with http.post(f"{b}/v1/gateway/chat", json=body, headers=bearer(key)) as response:
            assert response.status == 200, await response.text()
        assert len(groq.requests) == 1

        async def a_sees_b_health() -> bool:
            listed = await admin(http, f"{a}/admin/api/upstreams", "GET")
            health = next(u for u in listed["upstreams"] if u["id"] == uid)["health"]
            return health["requests"] == 1 and health["success_rate"] == 1.0

        await poll(a_sees_b_health, 3.0, "process a shows the attempt process b made")

        await admin(http, f"{a}/admin/api/upstreams/{uid}", "PATCH", enabled=False)

        async def b_stopped() -> bool:
            return not await b_lists_groq()

        await poll(b_stopped, 3.0, "process b stops routing to the disabled upstream")
        async with http.post(f"{b}/v1/gateway/chat", json=body, headers=bearer(key)) as response:
            assert response.status == 502  # every upstream of groq is disabled: nothing reserved
        assert len(groq.requests) == 1
