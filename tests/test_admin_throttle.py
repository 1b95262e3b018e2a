"""The admin password throttle: atomic under concurrency, scoped by device token or client
address, and the address read from X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections import Counter

import pytest

from core.settings import Settings
from proxy.admin import device
from proxy.app import create_app
from proxy.http.client_address import forwarded_client
from tests.conftest import ADMIN_PASSWORD

LOGIN = "/admin/api/login"
CUSTOMERS = "/admin/api/customers"


async def login(client, password: str, headers: dict[str, str] | None = None) -> int:
    response = await client.post(LOGIN, json={"password": password}, headers=headers or {})
    await response.read()
    client.session.cookie_jar.clear()  # the test says when a device shows its token
    return response.status


async def test_parallel_wrong_guesses_are_counted_exactly(client, db) -> None:
    statuses = await asyncio.gather(*(login(client, f"guess-{i}") for i in range(200)))
    assert Counter(statuses) == {401: 10, 429: 190}
    assert await db.fetchval("SELECT count(*) FROM admin_login_failures") == 10


async def device_token(client) -> str:
    """Sign in once and keep the device token the answer sets as a cookie."""
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    assert response.status == 200
    cookie = response.cookies[device.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    assert cookie["path"] == "/admin/api/" and int(cookie["max-age"]) > 30 * 24 * 3600
    client.session.cookie_jar.clear()
    return cookie.value


async def test_a_known_device_signs_in_while_its_address_is_throttled(client) -> None:
    token = await device_token(client)
    for _ in range(10):
        assert await login(client, "attacker-guess") == 401
    assert await login(client, ADMIN_PASSWORD) == 429  # the address is locked out...
    # ...but the device that signed in before is not, by cookie or by header.
    assert await login(client, ADMIN_PASSWORD, {"Cookie": f"{device.COOKIE}={token}"}) == 200
    assert await login(client, ADMIN_PASSWORD, {device.HEADER: token}) == 200
    response = await client.get(
        CUSTOMERS, headers={"X-Admin-Password": ADMIN_PASSWORD, device.HEADER: token}
    )
    assert response.status == 200
    # A forged or stale device token is no device: the address's count applies.
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert await login(client, ADMIN_PASSWORD, {device.HEADER: forged}) == 429


async def test_a_device_has_a_throttle_of_its_own(client) -> None:
    token = await device_token(client)
    headers = {device.HEADER: token}
    for _ in range(10):
        assert await login(client, "wrong", headers) == 401
    assert await login(client, ADMIN_PASSWORD, headers) == 429
    assert await login(client, ADMIN_PASSWORD) == 200  # the address was not charged


async def test_a_signed_in_device_keeps_its_token(client) -> None:
    token = await device_token(client)
    response = await client.post(
        LOGIN, json={"password": ADMIN_PASSWORD}, headers={device.HEADER: token}
    )
    assert response.cookies[device.COOKIE].value == token


async def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(client, db) -> None:
    for i in range(10):
        assert await login(client, "guess", {"X-Forwarded-For": f"198.51.100.{i}"}) == 401
    assert await login(client, ADMIN_PASSWORD, {"X-Forwarded-For": "198.51.100.77"}) == 429
    scopes = {r["scope"] for r in await db.fetch("SELECT scope FROM admin_login_failures")}
    assert scopes == {"address:127.0.0.1"}


@pytest.fixture
async def behind_proxy(settings: Settings, aiohttp_client):
    """The app with the test client's address (127.0.0.1) as a trusted reverse proxy."""
    trusted = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8"))
    return await aiohttp_client(create_app(dataclasses.replace(settings, trusted_proxies=trusted)))


async def test_x_forwarded_for_is_honoured_from_a_trusted_proxy(behind_proxy, db) -> None:
    attacker = {"X-Forwarded-For": "6.6.6.6, 198.51.100.5, 10.1.2.3"}
    for _ in range(10):
        assert await login(behind_proxy, "guess", attacker) == 401
    assert await login(behind_proxy, ADMIN_PASSWORD, attacker) == 429
    # Another client behind the same proxy is not locked out.
    assert await login(behind_proxy, ADMIN_PASSWORD, {"X-Forwarded-For": "198.51.100.6"}) == 200
    scopes = {r["scope"] for r in await db.fetch("SELECT scope FROM admin_login_failures")}
    assert scopes == {"address:198.51.100.5"}  # the rightmost hop that is not a trusted proxy
    entry = await db.fetchrow("SELECT address FROM audit_log LIMIT 1")
    assert entry is None  # sign-ins are not admin writes


TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.1", ["1.2.3.4"], "203.0.113.1"),  # untrusted peer: its header is ignored
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["1.2.3.4"], "1.2.3.4"),
        ("10.0.0.1", ["9.9.9.9, 1.2.3.4"], "1.2.3.4"),  # the client wrote the left part
        ("10.0.0.1", ["9.9.9.9", "1.2.3.4, 10.0.0.2"], "1.2.3.4"),  # two headers, two proxies
        ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], "10.0.0.3"),  # only proxies: the farthest
        ("10.0.0.1", ["1.2.3.4, garbage"], "10.0.0.1"),  # malformed: stop at the last proxy
        ("10.0.0.1", [" 2001:db8::5 , 2001:db9::1 "], "2001:db9::1"),
        (None, ["1.2.3.4"], "unknown"),
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(peer, forwarded, client) -> None:
    assert forwarded_client(peer, forwarded, TRUSTED) == client
