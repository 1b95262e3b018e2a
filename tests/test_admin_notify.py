"""Every admin write to a customer, key or price tells every gateway process via NOTIFY."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.conftest import ADMIN_PASSWORD

HEADERS = {"X-Admin-Password": ADMIN_PASSWORD}
API = "/admin/api"
CHANNEL = "kaixu_invalidate"
WAIT_S = 5.0  # only reached when a notification is missing


class Listener:
    """Payloads on the invalidation channel, as a separate process would receive them."""

    def __init__(self) -> None:
        self.payloads: list[str] = []
        self._arrived = asyncio.Event()

    def on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.payloads.append(payload)
        self._arrived.set()

    async def expect(self, *expected: str) -> list[str]:
        """Wait until every expected payload has arrived; return and forget what arrived."""

        async def all_arrived() -> None:
            while not all(p in self.payloads for p in expected):
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(all_arrived(), WAIT_S)
        arrived, self.payloads = self.payloads, []
        return arrived


@pytest.fixture
async def listener(database_url: str) -> AsyncIterator[Listener]:
    conn = await asyncpg.connect(database_url)
    listener = Listener()
    await conn.add_listener(CHANNEL, listener.on_notify)
    yield listener
    await conn.close()


async def call(client, method: str, path: str, body: dict | None = None, status: int = 200):
    response = await client.request(method, API + path, json=body, headers=HEADERS)
    assert response.status == status, await response.text()
    return await response.json()


async def test_writes_notify_the_customer_or_key_they_change(client, listener) -> None:
    created = await call(client, "POST", "/customers", {"id": "acme"}, status=201)
    master = created["key"]["id"]
    assert sorted(await listener.expect("customer:acme", f"key:{master}")) == sorted(
        ["customer:acme", f"key:{master}"]
    )

    await call(client, "PATCH", "/customers/acme", {"rpm_limit": 5})
    assert await listener.expect("customer:acme") == ["customer:acme"]

    sub = (await call(client, "POST", "/customers/acme/keys", {}, status=201))["key"]["id"]
    assert await listener.expect(f"key:{sub}") == [f"key:{sub}"]

    await call(client, "PATCH", f"/keys/{sub}", {"label": "x"})
    assert await listener.expect(f"key:{sub}") == [f"key:{sub}"]

    rotated = await call(client, "POST", f"/keys/{sub}/rotate", status=201)
    new = rotated["key"]["id"]
    assert sorted(await listener.expect(f"key:{sub}", f"key:{new}")) == sorted(
        [f"key:{sub}", f"key:{new}"]
    )

    await call(client, "POST", f"/keys/{new}/revoke")
    assert await listener.expect(f"key:{new}") == [f"key:{new}"]


async def test_failed_writes_notify_nothing(client, listener) -> None:
    created = await call(client, "POST", "/customers", {"id": "acme"}, status=201)
    master = created["key"]["id"]
    await listener.expect("customer:acme", f"key:{master}")
    await call(client, "POST", "/customers", {"id": "acme"}, status=409)
    await call(client, "PATCH", "/customers/acme", {"rpm_limit": 0}, status=400)
    await call(client, "POST", f"/keys/{master}/revoke")
    await call(client, "POST", f"/keys/{master}/rotate", status=409)
    await call(client, "PATCH", "/customers/acme", {"plan": "p"})
    # Notifications arrive in commit order: had a failed write sent one, it would be here.
    assert await listener.expect("customer:acme") == [f"key:{master}", "customer:acme"]


async def test_a_price_table_change_notifies_prices(client, listener) -> None:
    table = {"prices": [{"provider": "openai", "model": "m", "input": 1, "output": 2}]}
    await call(client, "PUT", "/pricing", table)
    assert await listener.expect("prices") == ["prices"]
