"""Admin auth: sign-in tokens, X-Admin-Password, and the password throttle shared via PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time

import pytest

from core.settings import Settings
from proxy.admin import tokens
from tests.conftest import ADMIN_PASSWORD
from tests.helpers import bearer

LOGIN = "/admin/api/login"
CUSTOMERS = "/admin/api/customers"


async def error_of(response, status: int, error_type: str) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["type"] == error_type
    return body["error"]


async def test_login_returns_a_token_that_opens_the_admin_api(client) -> None:
    before = time.time()
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    assert response.status == 200
    body = await response.json()
    expires_at = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires_at.tzinfo is not None and expires_at.utcoffset() == dt.timedelta(0)
    assert abs(expires_at.timestamp() - (before + 12 * 3600)) < 5
    listing = await client.get(CUSTOMERS, headers=bearer(body["token"]))
    assert listing.status == 200
    assert await listing.json() == {"customers": []}


async def test_wrong_password_is_401(client) -> None:
    response = await client.post(LOGIN, json={"password": "not-it"})
    await error_of(response, 401, "unauthorized")


@pytest.mark.parametrize("data", [b"{not json", b'["x"]', b'{"password": 5}', b"{}"])
async def test_malformed_login_bodies_are_400(client, data: bytes) -> None:
    response = await client.post(LOGIN, data=data)
    await error_of(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YWRtaW46cGFzcw=="},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer garbage"},
        {"X-Admin-Password": "wrong"},
    ],
)
async def test_admin_routes_require_auth(client, headers: dict[str, str]) -> None:
    response = await client.get(CUSTOMERS, headers=headers)
    await error_of(response, 401, "unauthorized")


async def test_x_admin_password_works(client) -> None:
    response = await client.get(CUSTOMERS, headers={"X-Admin-Password": ADMIN_PASSWORD})
    assert response.status == 200


async def test_tampered_tokens_are_refused(client, settings: Settings) -> None:
    token = tokens.issue(settings).token
    version, expiry, nonce, signature = token.split(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    candidates = [
        f"{version}.{expiry}.{nonce}.{flipped}",
        f"{version}.{int(expiry) + 3600}.{nonce}.{signature}",  # a longer session, same signature
        f"{version}.{expiry}.{nonce}x.{signature}",
        f"kxa2.{expiry}.{nonce}.{signature}",
        token + ".",
    ]
    for candidate in candidates:
        response = await client.get(CUSTOMERS, headers=bearer(candidate))
        await error_of(response, 401, "unauthorized")


async def test_a_token_signed_for_another_password_or_secret_is_refused(
    client, settings: Settings
) -> None:
    for other in (
        dataclasses.replace(settings, admin_password="a-different-password"),
        dataclasses.replace(settings, secret="another-secret-" + "y" * 40),
    ):
        response = await client.get(CUSTOMERS, headers=bearer(tokens.issue(other).token))
        await error_of(response, 401, "unauthorized")


async def test_an_expired_token_says_the_session_expired(client, settings: Settings) -> None:
    stale = tokens.issue(settings, now=time.time() - 13 * 3600)
    assert stale.expires_at < time.time()
    response = await client.get(CUSTOMERS, headers=bearer(stale.token))
    error = await error_of(response, 401, "unauthorized")
    assert "expired" in error["message"]


async def test_eleventh_attempt_is_throttled_even_with_the_right_password(client) -> None:
    for _ in range(10):
        response = await client.post(LOGIN, json={"password": "guess"})
        await error_of(response, 401, "unauthorized")
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    error = await error_of(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 890 <= retry_after <= 900
    assert error["retry_after_s"] == retry_after
    # The right password by header is refused too; a token already issued keeps working.
    response = await client.get(CUSTOMERS, headers={"X-Admin-Password": ADMIN_PASSWORD})
    await error_of(response, 429, "rate_limited")


async def test_a_token_keeps_working_while_its_address_is_throttled(client) -> None:
    token = (await (await client.post(LOGIN, json={"password": ADMIN_PASSWORD})).json())["token"]
    for _ in range(10):
        await client.post(LOGIN, json={"password": "guess"})
    assert (await client.post(LOGIN, json={"password": ADMIN_PASSWORD})).status == 429
    assert (await client.get(CUSTOMERS, headers=bearer(token))).status == 200


async def test_wrong_x_admin_passwords_count_toward_the_throttle(client, db) -> None:
    for _ in range(10):
        response = await client.get(CUSTOMERS, headers={"X-Admin-Password": "guess"})
        await error_of(response, 401, "unauthorized")
    assert await db.fetchval("SELECT count(*) FROM admin_login_failures") == 10
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    await error_of(response, 429, "rate_limited")
    # Refused attempts are not counted: the announced wait stays true.
    assert await db.fetchval("SELECT count(*) FROM admin_login_failures") == 10


async def test_retry_after_is_the_time_until_the_window_passes(client, db) -> None:
    await db.execute(
        "INSERT INTO admin_login_failures (scope, failed_at)"
        " SELECT 'address:127.0.0.1', now() - interval '10 minutes' FROM generate_series(1, 10)"
    )
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    await error_of(response, 429, "rate_limited")
    assert 295 <= int(response.headers["Retry-After"]) <= 300

    # Once the window has passed, the address may sign in again.
    await db.execute("UPDATE admin_login_failures SET failed_at = now() - interval '16 minutes'")
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    assert response.status == 200


async def test_the_throttle_is_per_address(client, db) -> None:
    await db.execute(
        "INSERT INTO admin_login_failures (scope)"
        " SELECT 'address:203.0.113.9' FROM generate_series(1, 50)"
    )
    response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
    assert response.status == 200


async def test_old_failures_are_pruned(client, db) -> None:
    await db.execute(
        "INSERT INTO admin_login_failures (scope, failed_at)"
        " SELECT 'address:203.0.113.9', now() - interval '1 hour' FROM generate_series(1, 5)"
    )
    await client.post(LOGIN, json={"password": "guess"})
    rows = await db.fetch("SELECT scope FROM admin_login_failures")
    assert [r["scope"] for r in rows] == ["address:127.0.0.1"]


async def test_passwords_and_tokens_are_never_logged(client, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        await client.post(LOGIN, json={"password": "wrong-secret-guess"})
        await client.get(CUSTOMERS, headers={"X-Admin-Password": "another-wrong-guess"})
        response = await client.post(LOGIN, json={"password": ADMIN_PASSWORD})
        token = (await response.json())["token"]
        await client.get(CUSTOMERS, headers=bearer(token))
        await client.get(CUSTOMERS, headers=bearer(token + "x"))
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "admin password rejected" in logged
    for secret in ("wrong-secret-guess", "another-wrong-guess", ADMIN_PASSWORD, token):
        assert secret not in logged
