"""Admin keys: sub-keys, overrides, rotation and revocation, with their effects in the database."""

from __future__ import annotations

import asyncio

import pytest

from core.apikeys import hash_key
from core.settings import Settings
from tests.conftest import ADMIN_PASSWORD

HEADERS = {"X-Admin-Password": ADMIN_PASSWORD}
API = "/admin/api"


@pytest.fixture
async def master(client) -> dict:
    """Customer `acme` and its master key (with the plaintext)."""
    response = await client.post(f"{API}/customers", json={"id": "acme"}, headers=HEADERS)
    assert response.status == 201
    return (await response.json())["key"]


async def error_of(response, status: int, error_type: str) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert body["error"]["type"] == error_type
    return body["error"]


async def create_sub(client, body: dict | None = None) -> dict:
    response = await client.post(f"{API}/customers/acme/keys", json=body or {}, headers=HEADERS)
    assert response.status == 201, await response.text()
    return (await response.json())["key"]


SUB_SETTINGS = {
    "label": "mobile app",
    "cap_cents": 500.25,
    "rpm_limit": 30,
    "max_devices": 3,
    "require_install": True,
    "allowed_providers": ["openai"],
    "allowed_models": ["gpt-4o*"],
}


async def test_create_sub_key(client, master, db, settings: Settings) -> None:
    key = await create_sub(client, SUB_SETTINGS)
    assert key["kind"] == "sub" and key["customer_id"] == "acme"
    for field, value in SUB_SETTINGS.items():
        assert key[field] == value, field
    assert key["revoked_at"] is None and key["rotated_from"] is None
    assert key["id"].startswith("key_") and key["last4"] == key["key"][-4:]
    row = await db.fetchrow("SELECT secret_hash, cap_uc FROM api_keys WHERE id = $1", key["id"])
    assert row["secret_hash"] == hash_key(settings.secret, key["key"])
    assert row["cap_uc"] == 500_250_000

    response = await client.get(f"{API}/customers/acme/keys", headers=HEADERS)
    keys = (await response.json())["keys"]
    assert [(k["id"], k["kind"]) for k in keys] == [(master["id"], "master"), (key["id"], "sub")]
    assert all("key" not in k for k in keys)
    assert key["key"] not in await response.text()


async def test_create_sub_key_with_no_body_has_no_overrides(client, master) -> None:
    response = await client.post(f"{API}/customers/acme/keys", headers=HEADERS)
    assert response.status == 201
    key = (await response.json())["key"]
    assert key["label"] == "" and key["cap_cents"] is None and key["rpm_limit"] is None
    assert key["max_devices"] is None and key["require_install"] is False
    assert key["allowed_providers"] is None and key["allowed_models"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "master"},
        {"label": "x" * 201},
        {"cap_cents": -5},
        {"cap_cents": "lots"},
        {"max_devices": 0},
        {"max_devices": False},
        {"require_install": 1},
        {"require_install": None},
        {"allowed_providers": ["Bedrock"]},
        {"allowed_models": ["*x*"]},
    ],
)
async def test_invalid_sub_key_bodies_are_400_and_change_nothing(
    client, master, db, body: dict
) -> None:
    response = await client.post(f"{API}/customers/acme/keys", json=body, headers=HEADERS)
    await error_of(response, 400, "invalid_request")
    assert await db.fetchval("SELECT count(*) FROM api_keys") == 1


async def test_patch_key_changes_overrides_and_null_clears(client, master, db) -> None:
    key = await create_sub(client, SUB_SETTINGS)
    response = await client.patch(
        f"{API}/keys/{key['id']}",
        json={"label": "renamed", "cap_cents": 0.000001, "require_install": False},
        headers=HEADERS,
    )
    assert response.status == 200
    patched = (await response.json())["key"]
    assert patched["label"] == "renamed" and patched["cap_cents"] == 0.000001
    assert patched["require_install"] is False and patched["rpm_limit"] == 30
    assert "key" not in patched
    assert await db.fetchval("SELECT cap_uc FROM api_keys WHERE id = $1", key["id"]) == 1

    response = await client.patch(
        f"{API}/keys/{key['id']}",
        json={
            "cap_cents": None,
            "rpm_limit": None,
            "max_devices": None,
            "allowed_providers": None,
            "allowed_models": None,
        },
        headers=HEADERS,
    )
    cleared = (await response.json())["key"]
    for field in ("cap_cents", "rpm_limit", "max_devices", "allowed_providers", "allowed_models"):
        assert cleared[field] is None, field
    assert cleared["label"] == "renamed"

    before = await db.fetchrow("SELECT * FROM api_keys WHERE id = $1", key["id"])
    response = await client.patch(
        f"{API}/keys/{key['id']}", json={"label": "ok", "rpm_limit": 0}, headers=HEADERS
    )
    await error_of(response, 400, "invalid_request")
    assert await db.fetchrow("SELECT * FROM api_keys WHERE id = $1", key["id"]) == before


async def test_rotate_makes_a_new_key_with_the_same_settings_and_revokes_the_old(
    client, master, db, settings: Settings
) -> None:
    old = await create_sub(client, SUB_SETTINGS)
    response = await client.post(f"{API}/keys/{old['id']}/rotate", headers=HEADERS)
    assert response.status == 201
    body = await response.json()
    new = body["key"]
    assert body["revoked_key_id"] == old["id"]
    assert new["id"] != old["id"] and new["key"] != old["key"]
    assert new["rotated_from"] == old["id"] and new["kind"] == "sub"
    assert new["revoked_at"] is None
    for field in SUB_SETTINGS:
        assert new[field] == old[field], field

    rows = {
        r["id"]: r
        for r in await db.fetch("SELECT id, revoked_at, rotated_from, secret_hash FROM api_keys")
    }
    assert rows[old["id"]]["revoked_at"] is not None
    assert rows[new["id"]]["rotated_from"] == old["id"]
    assert rows[new["id"]]["secret_hash"] == hash_key(settings.secret, new["key"])

    # A revoked key cannot be rotated (or changed) again.
    response = await client.post(f"{API}/keys/{old['id']}/rotate", headers=HEADERS)
    await error_of(response, 409, "conflict")
    response = await client.patch(f"{API}/keys/{old['id']}", json={"label": "x"}, headers=HEADERS)
    await error_of(response, 409, "conflict")
    assert await db.fetchval("SELECT count(*) FROM api_keys") == 3


async def test_rotating_the_master_key_keeps_it_master(client, master) -> None:
    response = await client.post(f"{API}/keys/{master['id']}/rotate", headers=HEADERS)
    assert response.status == 201
    assert (await response.json())["key"]["kind"] == "master"


async def test_revoke_is_immediate_and_idempotent(client, master, db) -> None:
    key = await create_sub(client)
    response = await client.post(f"{API}/keys/{key['id']}/revoke", headers=HEADERS)
    assert response.status == 200
    revoked = (await response.json())["key"]
    assert revoked["revoked_at"] is not None and "key" not in revoked
    first = await db.fetchval("SELECT revoked_at FROM api_keys WHERE id = $1", key["id"])
    assert first is not None

    response = await client.post(f"{API}/keys/{key['id']}/revoke", headers=HEADERS)
    assert response.status == 200
    assert (await response.json())["key"]["revoked_at"] == revoked["revoked_at"]
    assert await db.fetchval("SELECT revoked_at FROM api_keys WHERE id = $1", key["id"]) == first

    customer = await (await client.get(f"{API}/customers/acme", headers=HEADERS)).json()
    assert customer["customer"]["active_keys"] == 1


async def test_get_key(client, master) -> None:
    response = await client.get(f"{API}/keys/{master['id']}", headers=HEADERS)
    assert response.status == 200
    key = (await response.json())["key"]
    assert key["id"] == master["id"] and "key" not in key


async def test_unknown_keys_and_customers_are_404(client, master) -> None:
    for method, path in (
        ("GET", f"{API}/customers/nobody/keys"),
        ("POST", f"{API}/customers/nobody/keys"),
        ("GET", f"{API}/keys/key_0000000000000000"),
        ("PATCH", f"{API}/keys/key_0000000000000000"),
        ("POST", f"{API}/keys/key_0000000000000000/rotate"),
        ("POST", f"{API}/keys/key_0000000000000000/revoke"),
        ("POST", f"{API}/keys/bad%00id/revoke"),
    ):
        response = await client.request(method, path, json={}, headers=HEADERS)
        await error_of(response, 404, "not_found")


async def test_concurrent_rotations_of_one_key_make_one_new_key(client, master, db) -> None:
    rotate = f"{API}/keys/{master['id']}/rotate"
    responses = await asyncio.gather(*(client.post(rotate, headers=HEADERS) for _ in range(4)))
    assert sorted(r.status for r in responses) == [201, 409, 409, 409]
    live = await db.fetch("SELECT rotated_from FROM api_keys WHERE revoked_at IS NULL")
    assert [r["rotated_from"] for r in live] == [master["id"]]
