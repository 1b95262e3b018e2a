"""GET /v1/key over real HTTP: a key's own limits and month, never another key's, never billed.

Costs here as in test_limits: gpt-4o-mini, each request reports 10 + 10 tokens (750 uc) and
reserves 6,120 uc while it runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from pathlib import Path

import pytest

from core.settings import Settings
from db.embedded import EmbeddedPostgres
from db.migrate import migrate
from proxy.app import create_app
from tests.conftest import ADMIN_HEADERS
from tests.helpers import bearer, create_customer, create_sub_key

COST_UC = 750
CHAT = {"provider": "openai", "model": "gpt-4o-mini", "max_tokens": 100,
        "messages": [{"role": "user", "content": "fake:usage=10,10"}]}  # fmt: skip


async def key_info(client, key: str | None) -> tuple[int, dict]:
    response = await client.get("/v1/key", headers=bearer(key) if key else {})
    return response.status, await response.json()


async def test_a_key_sees_its_own_limits_and_the_month_its_chat_answers_carry(gateway, db) -> None:
    customer, master = await create_customer(
        gateway, monthly_cap_cents=2000, rpm_limit=120, allowed_providers=["openai", "anthropic"]
    )
    sub = await create_sub_key(
        gateway, customer["id"], label="mobile app", cap_cents=500, rpm_limit=30,
        max_devices=3, require_install=True, allowed_models=["gpt-4o*"],
    )  # fmt: skip
    phone = {**bearer(sub["key"]), "X-Kaixu-Install-Id": "phone-1"}
    chat = await gateway.post("/v1/gateway/chat", json=CHAT, headers=phone)
    assert chat.status == 200, await chat.text()
    answered = (await chat.json())["month"]

    status, body = await key_info(gateway, sub["key"])
    assert status == 200, body
    assert body["month"] == answered  # exactly the chat answer's month object
    assert body["month"] == {
        "month": answered["month"], "cap_cents": 2000, "extra_cents": 0,
        "spent_cents": COST_UC / 1e6, "key_cap_cents": 500, "key_spent_cents": COST_UC / 1e6,
    }  # fmt: skip
    assert body["key"] == {
        "id": sub["id"], "kind": "sub", "last4": sub["last4"], "label": "mobile app",
        "cap_cents": 500, "rpm_limit": 30, "max_devices": 3, "require_install": True,
        "allowed_providers": None, "allowed_models": ["gpt-4o*"],
    }  # fmt: skip
    assert body["customer"] == {
        "monthly_cap_cents": 2000, "rpm_limit": 120,
        "allowed_providers": ["openai", "anthropic"], "allowed_models": None,
    }  # fmt: skip
    assert body["reserved_cents"] == body["key_reserved_cents"] == 0
    # The key's own cap is the tighter limit: 500 cents less what it spent.
    assert body["available_cents"] == (500 * 10**6 - COST_UC) / 1e6
    assert not any(name in str(body) for name in ("secret", "hash", sub["key"], master))

    # Not billed, no rate limit, no device seat: 40 reads of a 30-per-minute key, no install id.
    for _ in range(40):
        assert (await key_info(gateway, sub["key"]))[0] == 200
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 1
    assert await db.fetchval("SELECT count(*) FROM devices") == 1
    again = await gateway.post("/v1/gateway/chat", json=CHAT, headers=phone)
    assert again.status == 200  # the reads took none of the key's 30 per minute


async def test_a_sub_key_never_sees_the_masters_or_a_siblings_key_figures(gateway) -> None:
    customer, master = await create_customer(gateway, monthly_cap_cents=1000)
    mine = await create_sub_key(gateway, customer["id"], label="mine", cap_cents=100)
    sibling = await create_sub_key(gateway, customer["id"], label="sibling", cap_cents=300)
    for _ in range(2):  # the sibling spends, twice; the master once
        response = await gateway.post("/v1/gateway/chat", json=CHAT, headers=bearer(sibling["key"]))
        assert response.status == 200
    assert (await gateway.post("/v1/gateway/chat", json=CHAT, headers=bearer(master))).status == 200

    status, body = await key_info(gateway, mine["key"])
    assert status == 200
    assert body["key"]["id"] == mine["id"] and body["key"]["label"] == "mine"
    assert body["month"]["key_cap_cents"] == 100
    assert body["month"]["key_spent_cents"] == 0  # the others' spend is not this key's
    assert body["month"]["spent_cents"] == 3 * COST_UC / 1e6  # the customer's month is shared
    text = str(body)
    assert sibling["id"] not in text and sibling["last4"] not in text and "sibling" not in text

    status, body = await key_info(gateway, master)
    assert (status, body["key"]["kind"], body["key"]["cap_cents"]) == (200, "master", None)
    assert body["month"]["key_spent_cents"] == COST_UC / 1e6
    assert body["available_cents"] == (1000 * 10**6 - 3 * COST_UC) / 1e6


async def test_missing_unknown_and_revoked_keys_and_inactive_customers_are_401(gateway) -> None:
    customer, master = await create_customer(gateway)
    sub = await create_sub_key(gateway, customer["id"])
    assert (await key_info(gateway, sub["key"]))[0] == 200  # now in this process's key cache

    missing = await key_info(gateway, None)
    unknown = await key_info(gateway, "kx_0123456789abcdef_" + "x" * 32)
    wrong_secret = await key_info(gateway, sub["key"][:-4] + "abcd")
    revoke = await gateway.post(f"/admin/api/keys/{sub['id']}/revoke", headers=ADMIN_HEADERS)
    assert revoke.status == 200
    revoked = await key_info(gateway, sub["key"])
    for status, body in (missing, unknown, wrong_secret, revoked):
        assert status == 401
        assert body["error"]["type"] == "unauthorized" and body["error"]["message"]
    assert "revoked" in revoked[1]["error"]["message"]

    deactivate = await gateway.patch(
        f"/admin/api/customers/{customer['id']}", json={"active": False}, headers=ADMIN_HEADERS
    )
    assert deactivate.status == 200
    status, body = await key_info(gateway, master)
    assert (status, body["error"]["type"]) == (401, "unauthorized")
    assert "inactive" in body["error"]["message"]


@pytest.fixture
def own_postgres():
    """A server of this test's own, so stopping it disturbs no other test."""
    root = Path(tempfile.mkdtemp(prefix="kaixu-key-"))
    server = EmbeddedPostgres(root / "pg")
    migrate(server.dsn)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


async def test_an_unreachable_database_is_503(
    own_postgres: EmbeddedPostgres, settings: Settings, aiohttp_client
) -> None:
    app_settings = dataclasses.replace(settings, database_url=own_postgres.dsn)
    client = await aiohttp_client(create_app(app_settings))
    _, master = await create_customer(client)
    assert (await key_info(client, master))[0] == 200

    await asyncio.to_thread(own_postgres.halt)
    status, body = await key_info(client, master)
    assert (status, body["error"]["type"]) == (503, "unavailable")
