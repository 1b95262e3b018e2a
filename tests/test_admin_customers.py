"""Admin customers: create (master key shown once), list, read, change; bad input is harmless."""

from __future__ import annotations

import re

import pytest

from core.apikeys import hash_key
from core.settings import Settings
from tests.conftest import ADMIN_PASSWORD

HEADERS = {"X-Admin-Password": ADMIN_PASSWORD}
CUSTOMERS = "/admin/api/customers"


async def create(client, body: dict | None = None) -> dict:
    response = await client.post(CUSTOMERS, json=body or {}, headers=HEADERS)
    assert response.status == 201, await response.text()
    return await response.json()


async def error_of(response, status: int, error_type: str) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["type"] == error_type
    return body["error"]


async def test_create_returns_the_customer_and_its_master_key_once(
    client, db, settings: Settings
) -> None:
    body = await create(
        client,
        {
            "id": "acme",
            "name": "Acme Inc.",
            "plan": "pro",
            "monthly_cap_cents": 2000,
            "rpm_limit": 60,
            "allowed_providers": ["openai", "anthropic"],
            "allowed_models": ["gpt-4o-mini", "claude-*"],
        },
    )
    customer, key = body["customer"], body["key"]
    assert customer["id"] == "acme"
    assert customer["name"] == "Acme Inc."
    assert customer["plan"] == "pro"
    assert customer["monthly_cap_cents"] == 2000
    assert customer["rpm_limit"] == 60
    assert customer["allowed_providers"] == ["openai", "anthropic"]
    assert customer["allowed_models"] == ["gpt-4o-mini", "claude-*"]
    assert customer["active"] is True
    assert customer["active_keys"] == 1
    assert customer["extra_cents"] == 0
    assert customer["created_at"].endswith("Z")

    plaintext = key["key"]
    assert key["kind"] == "master" and key["customer_id"] == "acme"
    assert key["last4"] == plaintext[-4:] and key["revoked_at"] is None
    assert key["cap_cents"] is None and key["rotated_from"] is None

    # The database keeps only the HMAC of the key, nowhere its text.
    stored = await db.fetchrow("SELECT secret_hash, row_to_json(k)::text AS j FROM api_keys k")
    assert stored["secret_hash"] == hash_key(settings.secret, plaintext)
    assert plaintext not in stored["j"]

    # Later reads never show it again.
    for path in (CUSTOMERS, f"{CUSTOMERS}/acme", f"{CUSTOMERS}/acme/keys"):
        response = await client.get(path, headers=HEADERS)
        assert response.status == 200
        assert plaintext not in await response.text()
    keys = (await (await client.get(f"{CUSTOMERS}/acme/keys", headers=HEADERS)).json())["keys"]
    assert [k["id"] for k in keys] == [key["id"]] and "key" not in keys[0]


async def test_create_with_no_body_uses_defaults_and_generates_an_id(client) -> None:
    response = await client.post(CUSTOMERS, headers=HEADERS)
    assert response.status == 201
    customer = (await response.json())["customer"]
    assert re.fullmatch(r"cus_[0-9a-f]{12}", customer["id"])
    assert customer["plan"] == "default" and customer["name"] == ""
    assert customer["monthly_cap_cents"] == 0 and customer["rpm_limit"] is None
    assert customer["allowed_providers"] is None and customer["allowed_models"] is None


async def test_list_counts_active_keys(client) -> None:
    await create(client, {"id": "a", "monthly_cap_cents": 12.345678})
    b = await create(client, {"id": "b"})
    await client.post(f"{CUSTOMERS}/b/keys", json={}, headers=HEADERS)
    await client.post(f"/admin/api/keys/{b['key']['id']}/revoke", headers=HEADERS)
    response = await client.get(CUSTOMERS, headers=HEADERS)
    customers = (await response.json())["customers"]
    assert [(c["id"], c["active_keys"]) for c in customers] == [("a", 1), ("b", 1)]
    assert customers[0]["monthly_cap_cents"] == 12.345678
    for field in ("name", "plan", "rpm_limit", "active", "created_at", "extra_cents"):
        assert field in customers[0]


async def test_duplicate_id_is_409_and_changes_nothing(client, db) -> None:
    await create(client, {"id": "acme", "name": "first"})
    response = await client.post(CUSTOMERS, json={"id": "acme", "name": "second"}, headers=HEADERS)
    await error_of(response, 409, "conflict")
    assert await db.fetchval("SELECT count(*) FROM api_keys") == 1
    assert await db.fetchval("SELECT name FROM customers WHERE id = 'acme'") == "first"


@pytest.mark.parametrize(
    ("data", "param"),
    [
        (b"{broken", None),
        (b"[1, 2]", None),
        (b'"acme"', None),
        (b'{"id": "acme", "color": "red"}', "color"),
        (b'{"id": "-acme"}', "id"),
        (b'{"id": "a/b"}', "id"),
        (b'{"id": 7}', "id"),
        (b'{"id": "' + b"x" * 65 + b'"}', "id"),
        (b'{"name": 5}', "name"),
        (b'{"name": "' + b"n" * 201 + b'"}', "name"),
        (b'{"name": "a\\u0000b"}', "name"),
        (b'{"plan": ""}', "plan"),
        (b'{"monthly_cap_cents": -1}', "monthly_cap_cents"),
        (b'{"monthly_cap_cents": 0.0000001}', "monthly_cap_cents"),
        (b'{"monthly_cap_cents": true}', "monthly_cap_cents"),
        (b'{"monthly_cap_cents": null}', "monthly_cap_cents"),
        (b'{"rpm_limit": 0}', "rpm_limit"),
        (b'{"rpm_limit": true}', "rpm_limit"),
        (b'{"rpm_limit": 1.5}', "rpm_limit"),
        (b'{"rpm_limit": 3000000000}', "rpm_limit"),
        (b'{"allowed_providers": "openai"}', "allowed_providers"),
        (b'{"allowed_providers": ["openai", "Mistral AI"]}', "allowed_providers[1]"),
        (b'{"allowed_models": [""]}', "allowed_models[0]"),
        (b'{"allowed_models": ["gpt-*-mini"]}', "allowed_models[0]"),
        (b'{"allowed_models": [7]}', "allowed_models[0]"),
        (b'{"allowed_models": ["' + b"m" * 129 + b'"]}', "allowed_models[0]"),
        (b'{"allowed_models": [' + b",".join([b'"m"'] * 101) + b"]}", "allowed_models"),
    ],
)
async def test_invalid_create_bodies_are_400_and_change_nothing(
    client, db, data: bytes, param: str | None
) -> None:
    response = await client.post(CUSTOMERS, data=data, headers=HEADERS)
    error = await error_of(response, 400, "invalid_request")
    if param is not None:
        assert error["param"] == param
        assert param.split("[")[0] in error["message"]
    assert await db.fetchval("SELECT count(*) FROM customers") == 0
    assert await db.fetchval("SELECT count(*) FROM api_keys") == 0


async def test_unknown_customer_is_404(client) -> None:
    for method, path in (
        ("GET", f"{CUSTOMERS}/nobody"),
        ("PATCH", f"{CUSTOMERS}/nobody"),
        ("GET", f"{CUSTOMERS}/bad%00id"),
    ):
        response = await client.request(method, path, json={"plan": "x"}, headers=HEADERS)
        await error_of(response, 404, "not_found")


async def test_patch_changes_policy_and_null_clears(client, db) -> None:
    await create(client, {"id": "acme", "rpm_limit": 10, "allowed_models": ["gpt-4o-mini"]})
    response = await client.patch(
        f"{CUSTOMERS}/acme",
        json={
            "plan": "enterprise",
            "name": "Acme",
            "monthly_cap_cents": 1234.5,
            "rpm_limit": 600,
            "active": False,
            "allowed_providers": ["gemini", "gemini", "demo"],
        },
        headers=HEADERS,
    )
    assert response.status == 200
    customer = (await response.json())["customer"]
    assert customer["plan"] == "enterprise" and customer["name"] == "Acme"
    assert customer["monthly_cap_cents"] == 1234.5 and customer["rpm_limit"] == 600
    assert customer["active"] is False
    assert customer["allowed_providers"] == ["gemini", "demo"]
    assert customer["allowed_models"] == ["gpt-4o-mini"]  # untouched fields stay
    row = await db.fetchrow("SELECT monthly_cap_uc, active FROM customers WHERE id = 'acme'")
    assert tuple(row) == (1_234_500_000, False)

    response = await client.patch(
        f"{CUSTOMERS}/acme",
        json={"rpm_limit": None, "allowed_providers": None, "allowed_models": None},
        headers=HEADERS,
    )
    customer = (await response.json())["customer"]
    assert customer["rpm_limit"] is None
    assert customer["allowed_providers"] is None and customer["allowed_models"] is None
    assert customer["plan"] == "enterprise"

    response = await client.get(f"{CUSTOMERS}/acme", headers=HEADERS)
    assert (await response.json())["customer"] == customer


async def test_a_bad_patch_changes_nothing(client, db) -> None:
    await create(client, {"id": "acme", "plan": "pro"})
    before = await db.fetchrow("SELECT * FROM customers WHERE id = 'acme'")
    for body in (
        {"plan": "free", "rpm_limit": -1},
        {"plan": "free", "active": "yes"},
        {"plan": "free", "id": "other"},
        {"plan": "free", "monthly_cap_cents": None},
        {"plan": "free", "extra_cents": 5},
    ):
        response = await client.patch(f"{CUSTOMERS}/acme", json=body, headers=HEADERS)
        await error_of(response, 400, "invalid_request")
    assert await db.fetchrow("SELECT * FROM customers WHERE id = 'acme'") == before
