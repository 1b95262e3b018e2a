"""Bad requests get the contract's 400/401/413, and none of them writes a usage row."""

from __future__ import annotations

import pytest

from tests.helpers import bearer, chat_body, create_customer

GOOD = chat_body("openai", "gpt-4o-mini", "hi")


def variant(**changes):
    body = {**GOOD, **changes}
    return {k: v for k, v in body.items() if v is not ...}


BAD_BODIES = {
    "no provider": variant(provider=...),
    "unknown provider": variant(provider="mistral"),
    "provider not a string": variant(provider=7),
    "no model": variant(model=...),
    "empty model": variant(model=""),
    "no messages": variant(messages=...),
    "empty messages": variant(messages=[]),
    "messages not a list": variant(messages="hi"),
    "bad role": variant(messages=[{"role": "tool", "content": "x"}]),
    "missing content": variant(messages=[{"role": "user"}]),
    "content not text": variant(messages=[{"role": "user", "content": 5}]),
    "only system": variant(messages=[{"role": "system", "content": "x"}]),
    "max_tokens zero": variant(max_tokens=0),
    "max_tokens too large": variant(max_tokens=10_000_000),
    "max_tokens a string": variant(max_tokens="100"),
    "max_tokens a bool": variant(max_tokens=True),
    "max_tokens a float": variant(max_tokens=1.5),
    "temperature negative": variant(temperature=-0.1),
    "temperature above 2": variant(temperature=2.5),
    "temperature a string": variant(temperature="hot"),
    "unknown field": variant(top_k=3),
}


@pytest.mark.parametrize("path", ["/v1/gateway/chat", "/v1/gateway/stream"])
@pytest.mark.parametrize("name", BAD_BODIES)
async def test_bad_body_is_400_invalid_request(gateway, db, fakes, path, name) -> None:
    _, key = await create_customer(gateway)
    response = await gateway.post(path, json=BAD_BODIES[name], headers=bearer(key))
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request" and error["message"]
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0
    assert all(not fake.requests for fake in fakes.values())


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b'"text"'])
async def test_malformed_json_is_400(gateway, db, raw) -> None:
    _, key = await create_customer(gateway)
    response = await gateway.post("/v1/gateway/chat", data=raw, headers=bearer(key))
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_request"
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


async def test_anthropic_temperature_above_one_is_refused_clearly(gateway, db) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("anthropic", "claude-haiku-4-5", "hi", temperature=1.5)
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 400
    assert "between 0 and 1" in (await response.json())["error"]["message"]


async def test_unpriced_model_is_never_billed_at_zero(gateway, db, fakes) -> None:
    _, key = await create_customer(gateway)
    body = chat_body("openai", "gpt-9-imaginary", "hi")
    response = await gateway.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "model_not_priced"
    assert not fakes["openai"].requests
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-kaixu-key"},
        {"Authorization": "Bearer kx_0123456789abcdef_" + "A" * 43},
    ],
    ids=["missing", "wrong scheme", "empty", "malformed", "unknown"],
)
async def test_missing_or_unknown_key_is_401(gateway, db, headers) -> None:
    await create_customer(gateway)
    response = await gateway.post("/v1/gateway/chat", json=GOOD, headers=headers)
    assert response.status == 401
    assert (await response.json())["error"]["type"] == "unauthorized"
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


async def test_a_forged_secret_for_a_real_key_id_is_401(gateway, db) -> None:
    _, key = await create_customer(gateway)
    forged = key[:-6] + ("AAAAAA" if not key.endswith("AAAAAA") else "BBBBBB")
    response = await gateway.post("/v1/gateway/chat", json=GOOD, headers=bearer(forged))
    assert response.status == 401
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


async def test_body_over_the_limit_is_413(gateway, db, gateway_settings) -> None:
    _, key = await create_customer(gateway)
    huge = chat_body("openai", "gpt-4o-mini", "x" * (gateway_settings.max_body_bytes + 10))
    for path in ("/v1/gateway/chat", "/v1/gateway/stream"):
        response = await gateway.post(path, json=huge, headers=bearer(key))
        assert response.status == 413
        assert (await response.json())["error"]["type"] == "payload_too_large"
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0


async def test_revoked_key_and_inactive_customer_are_401(gateway, db) -> None:
    from tests.conftest import ADMIN_HEADERS

    customer, key = await create_customer(gateway)
    assert (await gateway.post("/v1/gateway/chat", json=GOOD, headers=bearer(key))).status == 200
    await gateway.patch(
        f"/admin/api/customers/{customer['id']}", json={"active": False}, headers=ADMIN_HEADERS
    )
    response = await gateway.post("/v1/gateway/chat", json=GOOD, headers=bearer(key))
    assert response.status == 401
    await gateway.patch(
        f"/admin/api/customers/{customer['id']}", json={"active": True}, headers=ADMIN_HEADERS
    )
    assert (await gateway.post("/v1/gateway/chat", json=GOOD, headers=bearer(key))).status == 200

    keys = await (
        await gateway.get(f"/admin/api/customers/{customer['id']}/keys", headers=ADMIN_HEADERS)
    ).json()
    key_id = keys["keys"][0]["id"]
    assert (
        await gateway.post(f"/admin/api/keys/{key_id}/revoke", headers=ADMIN_HEADERS)
    ).status == 200
    response = await gateway.post("/v1/gateway/chat", json=GOOD, headers=bearer(key))
    assert response.status == 401
    assert "revoked" in (await response.json())["error"]["message"]
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 2


async def test_demo_provider_is_off_when_real_keys_are_set(
    gateway_settings, aiohttp_client
) -> None:
    import dataclasses

    from proxy.app import create_app

    client = await aiohttp_client(
        create_app(dataclasses.replace(gateway_settings, demo_provider=None))
    )
    _, key = await create_customer(client)
    body = chat_body("demo", "demo-echo", "hi")
    response = await client.post("/v1/gateway/chat", json=body, headers=bearer(key))
    assert response.status == 400
    assert "Unknown provider 'demo'" in (await response.json())["error"]["message"]


async def test_malformed_install_id_is_400(gateway, db) -> None:
    _, key = await create_customer(gateway)
    for bad in ("x" * 129, "tab\there"):
        headers = {**bearer(key), "X-Kaixu-Install-Id": bad}
        response = await gateway.post("/v1/gateway/chat", json=GOOD, headers=headers)
        assert response.status == 400
    assert await db.fetchval("SELECT count(*) FROM usage_events") == 0
    headers = {**bearer(key), "X-Kaixu-Install-Id": "device-1"}
    assert (await gateway.post("/v1/gateway/chat", json=GOOD, headers=headers)).status == 200
    assert await db.fetchval("SELECT install_id FROM usage_events") == "device-1"
